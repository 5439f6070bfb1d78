export { ConfigError, EXIT_CONFIG_ERROR } from "./errors.js";
export { mlPaths, resolveMlRoot, DEFAULT_ML_ROOT, type MlPaths } from "./paths.js";
export { validateJobName, generateJobName, resolveJobName } from "./job-name.js";
export {
  readJobConfig,
  decodeHyperparameter,
  decodeHyperparameters,
  parseResourceConfig,
  parseChannels,
  parseCheckpointConfig,
  DEFAULT_HOST,
  type JobConfig,
  type Channel,
  type ResourceConfig,
  type CheckpointConfig,
} from "./config.js";
export { algorithmEnv, envName, type AlgorithmEnvInput } from "./env.js";
export { writeFileAtomic, fsyncDirectory } from "./atomic.js";
