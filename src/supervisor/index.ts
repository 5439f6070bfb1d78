export { supervise, type SuperviseOptions } from "./supervise.js";
export { judge, EXIT_COMMAND_NOT_FOUND, EXIT_COMMAND_NOT_EXECUTABLE, EXIT_INTERNAL_ERROR, EXIT_RESUME_FAILED, type Outcome, type Verdict } from "./verdict.js";
export { SignalInbox, STOP_SIGNALS, FORWARDED_SIGNALS, NOT_FORWARDED, forwardedSignals, keepInspectorShut, exitCodeForSignal, signalNumber, isStopSignal, type ReceivedSignal } from "./signals.js";
export { checkpointReserveMs, RESERVE_FLOOR_MS, RESERVE_MAX_FRACTION, DEFAULT_PACKAGING_BYTES_PER_SECOND } from "./reserve.js";
export { recordRefusedStart } from "./refuse.js";
export { hardExit } from "./hard-exit.js";
export { installLastResortHandlers } from "./last-resort.js";
export { composeFailureReason, writeFailureFile, setAsideStaleFailureFile, FAILURE_REASON_VISIBLE_CHARS } from "./failure.js";
export { StatusFile, type JobStatusDocument, type TrainingJobStatus, type SecondaryStatus, type ArtifactStatus } from "./status.js";
export { OrphanReaper, zombieChildren } from "./reaper.js";
export { writeStopRequest, type StopRequest } from "./stop-request.js";
// The stop path's parts, shared with the in-process library (src/library, runTraining).
export { packageAndUpload, type PackageStageInput, type PackageStageResult } from "./package-stage.js";
export { openOutput, ArchiveUpload, type OutputTarget } from "./output.js";
export { CheckpointRemote } from "./checkpoint-remote.js";
export { JobArtifacts, finishingDeadline, EXIT_MARGIN_MS, FINAL_WRITE_MS, type JobArtifactsOptions } from "./job-artifacts.js";
export { parseRunArgs, parseStopSignal, parseTrainCommand, optionsHelp, MAX_GRACE_SECONDS, type RunOptions, type OptionSources } from "./options.js";
