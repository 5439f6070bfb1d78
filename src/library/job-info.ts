import path from "node:path";
import { mlPaths, readJobConfig, type JobConfig, type MlPaths } from "../contract/index.js";
import type { JobInfo } from "./context.js";
import { Hyperparameters } from "./hyperparameters.js";

/** The context's job data from the configuration files (in-process: runTraining read them itself). */
export function jobInfoFromConfig(paths: MlPaths, config: JobConfig, jobName: string, checkpointDir: string): JobInfo {
  return {
    jobName,
    hp: new Hyperparameters(config.rawHyperparameters, paths.hyperparameters),
    channels: Object.fromEntries(config.channels.map((c) => [c.name, c.dir])),
    dirs: { model: paths.modelDir, output: paths.outputDir, outputData: paths.outputDataDir, checkpoints: checkpointDir, input: paths.inputDir },
    hosts: config.resource.hosts,
    currentHost: config.resource.currentHost,
  };
}

/**
 * Under `trainguard run` the supervisor has validated the configuration and resolved what only it
 * knows (--checkpoint-dir, --job-name given on its command line): those come from the environment
 * it set, the rest (raw hyperparameters, channels, hosts) from the same files, found through
 * SM_INPUT_CONFIG_DIR, which is <ml-root>/input/config.
 */
export async function jobInfoFromSupervisor(env: NodeJS.ProcessEnv, fallbackRoot: string): Promise<JobInfo> {
  const root = env.SM_INPUT_CONFIG_DIR ? path.resolve(env.SM_INPUT_CONFIG_DIR, "..", "..") : fallbackRoot;
  const paths = mlPaths(root);
  const config = await readJobConfig(paths);
  const info = jobInfoFromConfig(paths, config, env.TRAINING_JOB_NAME ?? "", env.SM_CHECKPOINT_DIR ?? paths.defaultCheckpointDir);
  return {
    ...info,
    dirs: {
      model: env.SM_MODEL_DIR ?? info.dirs.model,
      output: env.SM_OUTPUT_DIR ?? info.dirs.output,
      outputData: env.SM_OUTPUT_DATA_DIR ?? info.dirs.outputData,
      checkpoints: info.dirs.checkpoints,
      input: env.SM_INPUT_DIR ?? info.dirs.input,
    },
  };
}
