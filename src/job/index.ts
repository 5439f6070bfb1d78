// One job's lifecycle, below the CLI supervisor (supervisor/) and runTraining (library/): they
// plug in how training runs (a TrainingRunner); everything else about a job is here.
export { runJob, type JobOptions, type JobResult, type JobStatus } from "./lifecycle.js";
export type { TrainingRunner, JobSetup, JobControl, StartedTraining, TrainingEnd } from "./runner.js";
export type { Outcome, AlgorithmExit, SpawnFailure } from "./outcome.js";
export { BudgetClock, StopClock, type FinishingLimits, type StopSource } from "./clock.js";
export {
  EXIT_MARGIN_MS,
  FINAL_WRITE_MS,
  finishingDeadline,
  checkpointReserveMs,
  remeasureAtStop,
  RESERVE_FLOOR_MS,
  RESERVE_MAX_FRACTION,
  DEFAULT_PACKAGING_BYTES_PER_SECOND,
} from "./margins.js";
export { judge, type Verdict, type VerdictContext } from "./verdict.js";
export { StatusFile, type JobStatusDocument, type TrainingJobStatus, type SecondaryStatus, type ArtifactStatus } from "./status.js";
export { composeFailureReason, writeFailureFile, writeFailureFileSync, setAsideStaleFailureFile, FAILURE_REASON_VISIBLE_CHARS } from "./failure.js";
export { writeStopRequest, type StopRequest } from "./stop-request.js";
export { recordRefusedStart } from "./refuse.js";
export { hardExit } from "./hard-exit.js";
export { loadLibc } from "./libc.js";
export { JobArtifacts, type ArtifactSettings, type OptionNames } from "./artifacts.js";
