export { CodedError, ConfigError, EXIT_CONFIG_ERROR, errorMessage, errnoCode, describeError } from "./errors.js";
export { mlPaths, resolveMlRoot, DEFAULT_ML_ROOT, type MlPaths } from "./paths.js";
export { validateJobName, generateJobName, resolveJobName } from "./job-name.js";
export {
  readJobConfig,
  decodeHyperparameter,
  decodeHyperparameters,
  parseResourceConfig,
  parseChannels,
  parseCheckpointConfig,
  refuseRootCheckpointDir,
  DEFAULT_HOST,
  type JobConfig,
  type Channel,
  type ResourceConfig,
  type CheckpointConfig,
} from "./config.js";
export { algorithmEnv, envName, type AlgorithmEnvInput } from "./env.js";
export { writeFileAtomic, writeFileAtomicSync, writeAtomically, atomicTempPath, atomicTempOwner, fsyncDirectory } from "./atomic.js";
export { readUserFile, withinTimeLimit, fileKind, USER_FILE_TIME_LIMIT_MS } from "./bounded-read.js";
export { parseJsonFile, checkJsonValue, printable, firstInvalidUtf8, MAX_JSON_DEPTH } from "./json-text.js";
export { checkExecLimits, envOrigins, execTotalLimit, MAX_EXEC_STRING_BYTES } from "./exec-limits.js";
export { EXIT_TRAIN_FAILED, EXIT_INTERNAL_ERROR, EXIT_RESUME_FAILED, EXIT_COMMAND_NOT_EXECUTABLE, EXIT_COMMAND_NOT_FOUND, exitCodeForSignal, signalNumber } from "./exit-codes.js";
export type {
  JobStatusDocument,
  TrainingJobStatus,
  SecondaryStatus,
  StatusTransition,
  ArtifactStatus,
  CheckpointSyncStatus,
  CheckpointSyncLag,
  CheckpointSyncFlush,
} from "./status.js";
