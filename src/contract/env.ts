import { availableParallelism } from "node:os";
import { readdirSync } from "node:fs";
import type { JobConfig } from "./config.js";
import type { MlPaths } from "./paths.js";

export interface AlgorithmEnvInput {
  readonly jobName: string;
  readonly paths: MlPaths;
  readonly config: JobConfig;
  readonly checkpointDir: string;
  readonly graceSeconds: number;
}

/**
 * The variables the AWS training toolkit exports (so existing scripts run unchanged), plus
 * trainguard's own: where to checkpoint, how long the stop budget is, and the file that appears
 * on stop for algorithms that poll instead of handling signals.
 */
export function algorithmEnv(input: AlgorithmEnvInput): Record<string, string> {
  const { jobName, paths, config, checkpointDir, graceSeconds } = input;
  const channelNames = config.channels.map((c) => c.name);
  const env: Record<string, string> = {
    TRAINING_JOB_NAME: jobName,
    SM_MODEL_DIR: paths.modelDir,
    SM_CHANNELS: JSON.stringify(channelNames),
    SM_HPS: JSON.stringify(config.hyperparameters),
    SM_CURRENT_HOST: config.resource.currentHost,
    SM_HOSTS: JSON.stringify(config.resource.hosts),
    SM_OUTPUT_DATA_DIR: paths.outputDataDir,
    SM_OUTPUT_DIR: paths.outputDir,
    SM_INPUT_DIR: paths.inputDir,
    SM_INPUT_CONFIG_DIR: paths.inputConfigDir,
    SM_NUM_CPUS: String(availableParallelism()),
    SM_NUM_GPUS: String(countGpus()),
    SM_RESOURCE_CONFIG: JSON.stringify(config.resource.raw),
    SM_INPUT_DATA_CONFIG: JSON.stringify(Object.fromEntries(config.channels.map((c) => [c.name, c.config]))),
    SM_USER_ARGS: JSON.stringify(userArgs(config.hyperparameters)),
    SM_CHECKPOINT_DIR: checkpointDir,
    TRAINGUARD_GRACE_SECONDS: String(graceSeconds),
    TRAINGUARD_STOP_FILE: paths.stopRequestFile,
  };
  for (const channel of config.channels) env[`SM_CHANNEL_${envName(channel.name)}`] = channel.dir;
  for (const [name, value] of Object.entries(config.hyperparameters)) {
    env[`SM_HP_${envName(name)}`] = typeof value === "string" ? value : JSON.stringify(value);
  }
  env.SM_TRAINING_ENV = JSON.stringify({
    job_name: jobName,
    current_host: config.resource.currentHost,
    hosts: config.resource.hosts,
    hyperparameters: config.hyperparameters,
    channel_input_dirs: Object.fromEntries(config.channels.map((c) => [c.name, c.dir])),
    model_dir: paths.modelDir,
    output_dir: paths.outputDir,
    output_data_dir: paths.outputDataDir,
    input_dir: paths.inputDir,
    input_config_dir: paths.inputConfigDir,
    checkpoint_dir: checkpointDir,
    num_cpus: Number(env.SM_NUM_CPUS),
    num_gpus: Number(env.SM_NUM_GPUS),
  });
  return env;
}

/** Environment variable names only hold [A-Z0-9_]; the toolkit upper-cases, we also map the rest. */
export function envName(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9_]/g, "_");
}

/** The toolkit's SM_USER_ARGS: every hyperparameter as `--name value`, in file order. */
function userArgs(hyperparameters: Readonly<Record<string, unknown>>): string[] {
  return Object.entries(hyperparameters).flatMap(([name, value]) => [
    `--${name}`,
    typeof value === "string" ? value : JSON.stringify(value),
  ]);
}

function countGpus(): number {
  try {
    return readdirSync("/dev").filter((entry) => /^nvidia\d+$/.test(entry)).length;
  } catch {
    return 0;
  }
}
