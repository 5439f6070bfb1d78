// The package root (`import { runTraining } from "trainguard"`): the library for Node training
// code, and the few types and helpers a user of it needs. The CLI is the package's bin.
export {
  runTraining,
  Hyperparameters,
  StopRequested,
  CheckpointsFrozen,
  saveCheckpoint,
  latestCheckpoint,
  formatMetric,
  metricRegex,
  COMMIT_MARKER,
  METRIC_PREFIX,
  type TrainFunction,
  type TrainingContext,
  type TrainingDirs,
  type TrainingOptions,
  type TrainingResult,
  type SavedCheckpoint,
  type SaveOptions,
} from "./library/index.js";
export { verifyArchive, type VerifyReport, type Manifest, type CompressionMode, type ModelLayout } from "./artifacts/index.js";
export { ConfigError } from "./contract/index.js";
export type { JobStatusDocument, TrainingJobStatus, SecondaryStatus, StatusTransition, ArtifactStatus, CheckpointSyncStatus } from "./contract/index.js";
export type { Logger } from "./log/index.js";
