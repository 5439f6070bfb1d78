import { writeFileSync } from "node:fs";
import type { TrainingContext } from "./context.js";

/** The training function runTraining runs: save on `ctx.signal`, then return. */
export type TrainFunction = (ctx: TrainingContext) => Promise<void> | void;

/** What runTraining resolves with when `exit: false` (otherwise the process exits with `exitCode`). */
export interface TrainingResult {
  readonly status: "Completed" | "Stopped" | "Failed";
  readonly exitCode: number;
}

/** Exit code when the training function threw. */
export const EXIT_TRAIN_FAILED = 1;

/**
 * For the last moment of a process dying of an uncaught exception, when nothing asynchronous will
 * run again: the failure file, unless one exists (the same rule as writeFailureFile, synchronously).
 */
export function writeFailureFileSync(file: string, reason: string): void {
  try {
    writeFileSync(file, reason.endsWith("\n") ? reason : `${reason}\n`, { flag: "wx" });
  } catch {
    // Exists already (a better reason), or no output dir: nothing more can be done while dying.
  }
}
