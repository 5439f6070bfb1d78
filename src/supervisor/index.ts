export { supervise, type SuperviseOptions } from "./supervise.js";
export { judge, EXIT_COMMAND_NOT_FOUND, EXIT_COMMAND_NOT_EXECUTABLE, EXIT_INTERNAL_ERROR, EXIT_RESUME_FAILED, type Outcome, type Verdict } from "./verdict.js";
export { SignalInbox, STOP_SIGNALS, FORWARDED_SIGNALS, exitCodeForSignal, signalNumber, isStopSignal, type ReceivedSignal } from "./signals.js";
export { checkpointReserveMs, RESERVE_FLOOR_MS, RESERVE_MAX_FRACTION, DEFAULT_PACKAGING_BYTES_PER_SECOND } from "./reserve.js";
export { recordRefusedStart } from "./refuse.js";
export { composeFailureReason, writeFailureFile, FAILURE_REASON_VISIBLE_CHARS } from "./failure.js";
export { StatusFile, type JobStatusDocument, type TrainingJobStatus, type SecondaryStatus, type ArtifactStatus } from "./status.js";
export { OrphanReaper, zombieChildren } from "./reaper.js";
export type { StopRequest } from "./stop-request.js";
