import type { TrainingContext } from "./context.js";

/** The training function runTraining runs: save on `ctx.signal`, then return. */
export type TrainFunction = (ctx: TrainingContext) => Promise<void> | void;

/** What runTraining resolves with when `exit: false` (otherwise the process exits with `exitCode`). */
export interface TrainingResult {
  readonly status: "Completed" | "Stopped" | "Failed";
  readonly exitCode: number;
}
