// PID 1's duties around a job: the algorithm's process group, signals, reaping, the write guard.
// The job's lifecycle itself is job/'s; supervise() plugs the process runner into it.
export { supervise, type SuperviseOptions } from "./supervise.js";
export { SignalInbox, STOP_SIGNALS, FORWARDED_SIGNALS, NOT_FORWARDED, forwardedSignals, keepInspectorShut, isStopSignal, type ReceivedSignal } from "./signals.js";
export { installLastResortHandlers } from "./last-resort.js";
export { OrphanReaper, zombieChildren } from "./reaper.js";
export { parseRunArgs, parseStopSignal, parseTrainCommand, optionsHelp, MAX_GRACE_SECONDS, type RunOptions, type OptionSources } from "./options.js";
