import { constants as osConstants } from "node:os";

/**
 * trainguard's exit codes, a fixed interface (README, "Exit codes"). Every other code mirrors the
 * algorithm's own, and 128+N a death by signal N. EXIT_CONFIG_ERROR (2) lives beside ConfigError.
 */
export const EXIT_TRAIN_FAILED = 1;
export const EXIT_INTERNAL_ERROR = 70;
/** The newest remote checkpoint could not be downloaded (the remote is unreachable or holds unsafe keys). */
export const EXIT_RESUME_FAILED = 75;
export const EXIT_COMMAND_NOT_EXECUTABLE = 126;
export const EXIT_COMMAND_NOT_FOUND = 127;

/** 128 + signal number: the shell's, tini's and dumb-init's convention for "ended by a signal". */
export function exitCodeForSignal(signal: NodeJS.Signals | string): number {
  return 128 + signalNumber(signal);
}

export function signalNumber(signal: string): number {
  const number = (osConstants.signals as Record<string, number | undefined>)[signal];
  if (number === undefined) throw new Error(`unknown signal ${signal}`);
  return number;
}
