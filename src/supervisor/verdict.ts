import type { StopReason } from "../artifacts/index.js";
import type { AlgorithmExit, SpawnFailure } from "./algorithm.js";
import { composeFailureReason } from "./failure.js";
import { exitCodeForSignal } from "./signals.js";

/** Exit codes of trainguard itself (everything else mirrors the algorithm). */
export const EXIT_COMMAND_NOT_FOUND = 127;
export const EXIT_COMMAND_NOT_EXECUTABLE = 126;
export const EXIT_INTERNAL_ERROR = 70;
/** The newest remote checkpoint could not be downloaded (the remote is unreachable or holds unsafe keys). */
export const EXIT_RESUME_FAILED = 75;

/** How the algorithm's part of the job ended. */
export type Outcome =
  | { kind: "not-started" }
  | { kind: "resume-failed"; problem: string }
  | { kind: "spawn-failed"; failure: SpawnFailure }
  | { kind: "exited"; exit: AlgorithmExit };

export interface Verdict {
  readonly status: "Stopped" | "Completed" | "Failed";
  /** What the artifact's manifest records. */
  readonly reason: StopReason;
  readonly exitCode: number;
  readonly fields: { exitCode?: number | null; signal?: string | null };
  readonly failureReason: string | null;
  readonly message?: string;
}

export interface VerdictContext {
  /** Present when a stop was requested before the algorithm ended. */
  readonly stop: { readonly signal: NodeJS.Signals } | undefined;
  readonly stopSignal: NodeJS.Signals;
  /** The algorithm was SIGKILLed at the checkpoint deadline. */
  readonly escalated: boolean;
  readonly command: readonly string[];
  readonly commandSource: string;
  readonly stderrTail: string;
}

/**
 * The job's status, exit code and failure reason from how the algorithm ended. Exit codes mirror
 * the algorithm (128+N for signal N); a stop makes the job Stopped, and a crash while stopping is
 * kept as the failure reason rather than turning the job Failed.
 */
export function judge(outcome: Outcome, context: VerdictContext): Verdict {
  const { stop } = context;
  switch (outcome.kind) {
    case "not-started":
      // Nothing ran, nothing failed: exit as an unhandled stop signal would have.
      return { status: "Stopped", reason: "Stopped", exitCode: exitCodeForSignal(stop?.signal ?? "SIGTERM"), fields: {}, failureReason: null, message: "stopped before the algorithm started" };
    case "resume-failed":
      return { status: "Failed", reason: "Failed", exitCode: EXIT_RESUME_FAILED, fields: {}, failureReason: outcome.problem };
    case "spawn-failed": {
      const { failure } = outcome;
      const notFound = failure.code === "ENOENT";
      const notExecutable = failure.code === "EACCES";
      const exitCode = notFound ? EXIT_COMMAND_NOT_FOUND : notExecutable ? EXIT_COMMAND_NOT_EXECUTABLE : EXIT_INTERNAL_ERROR;
      const what = notFound ? "command not found" : notExecutable ? "command is not executable (permission denied)" : failure.message;
      const failureReason = `trainguard: cannot start the algorithm: ${what}: ${JSON.stringify(context.command[0])} (from ${context.commandSource}; full command ${JSON.stringify(context.command)}).`;
      return { status: "Failed", reason: "Failed", exitCode, fields: {}, failureReason };
    }
    case "exited": {
      const { exitCode, signal } = outcome.exit;
      const code = exitCode ?? exitCodeForSignal(signal ?? "SIGKILL");
      const fields = { exitCode, signal };
      if (stop) {
        const endedByStop =
          code === 0 ||
          signal === context.stopSignal ||
          code === exitCodeForSignal(context.stopSignal) ||
          (context.escalated && signal === "SIGKILL");
        if (endedByStop) {
          const message = context.escalated ? "algorithm did not exit by the checkpoint deadline and was killed" : undefined;
          return { status: "Stopped", reason: "Stopped", exitCode: code, fields, failureReason: null, ...(message ? { message } : {}) };
        }
        // It crashed while saving: the job is still Stopped, but the crash is what a user must see.
        const failureReason = composeFailureReason(`Algorithm crashed while stopping: ${describeExit(outcome.exit)}.`, context.stderrTail);
        return { status: "Stopped", reason: "Stopped", exitCode: code, fields, failureReason, message: "algorithm crashed while stopping" };
      }
      if (code === 0) return { status: "Completed", reason: "Completed", exitCode: 0, fields, failureReason: null };
      const failureReason = composeFailureReason(`Algorithm failed: ${describeExit(outcome.exit)}.`, context.stderrTail);
      return { status: "Failed", reason: "Failed", exitCode: code, fields, failureReason };
    }
  }
}

function describeExit(exit: AlgorithmExit): string {
  return exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.exitCode}`;
}
