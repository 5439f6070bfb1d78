import type { CompressionMode, ModelLayout } from "../artifacts/index.js";
// The CLI's own specs, so that an option means exactly the same (defaults, validation, the
// TRAINGUARD_* environment) whether it is given to `trainguard run` or to runTraining().
import { OPTION_SPECS, OptionReader, type OptionSources, type RunOptions } from "../options/index.js";

/**
 * The options of `trainguard run`, for runTraining(). Each one not given here is read from its
 * TRAINGUARD_<NAME> environment variable (TRAINGUARD_GRACE, TRAINGUARD_ML_ROOT, ...), then from
 * the same defaults as the CLI. Only used in-process: under `trainguard run` the supervisor
 * already owns them (except `keep`, which also rotates the checkpoints saveCheckpoint writes).
 */
export interface TrainingOptions {
  /** `--ml-root`: default /opt/ml (or SAGEMAKER_BASE_DIR). */
  readonly mlRoot?: string;
  /** `--grace`: stop budget in seconds from the first SIGTERM; default 120. */
  readonly grace?: number;
  /** `--checkpoint-dir`: default checkpointconfig.json's LocalPath, else <ml-root>/checkpoints. */
  readonly checkpointDir?: string;
  /** `--job-name`: default TRAINING_JOB_NAME, else generated. */
  readonly jobName?: string;
  /** `--compression`: auto (default), gzip, fast, stored, none. */
  readonly compression?: CompressionMode;
  /** `--model-layout`: archive (default) or files. */
  readonly modelLayout?: ModelLayout;
  /** `--on-complete`: keep (default) the model the training function wrote, or package the newest checkpoint. */
  readonly onComplete?: "keep" | "package";
  /** `--output`: s3://bucket/prefix or file:///dir, the archive is uploaded to <output>/<job>/output/model.tar.gz. */
  readonly output?: string;
  /** `--checkpoint-uri`: resume from and sync checkpoints to it; default checkpointconfig.json's S3Uri. */
  readonly checkpointUri?: string;
  /** `--s3-endpoint`: an S3-compatible endpoint instead of AWS's. */
  readonly s3Endpoint?: string;
  /** `--keep`: checkpoints kept, locally by saveCheckpoint and remotely by the sync; default 3. */
  readonly keep?: number;
  /** `--log-level`: fatal, error, warn, info (default), debug, trace, silent. */
  readonly logLevel?: string;
  /**
   * Default true: runTraining ends the process with the job's exit code. false: it resolves with
   * `{ status, exitCode }` instead (the stop deadline still ends the process if finishing overruns it).
   */
  readonly exit?: boolean;
}

export interface ResolvedOptions extends RunOptions {
  /** Which option or variable set each value: `runTraining option <name>`, or the TRAINGUARD_* variable. */
  readonly sources: OptionSources;
}

/**
 * Options object over environment over defaults, each value checked as it is given (a number stays
 * a number) by the same spec the CLI checks its text with; a bad value is a ConfigError naming
 * `runTraining option <name>` (or the environment variable it came from).
 */
export function resolveOptions(options: TrainingOptions, env: NodeJS.ProcessEnv): ResolvedOptions {
  const reader = new OptionReader(env);
  for (const spec of OPTION_SPECS) {
    if (spec.library === undefined) continue;
    const value = (options as Record<string, unknown>)[spec.library];
    if (value !== undefined) reader.given(spec, value, `runTraining option ${spec.library}`);
  }
  const { options: resolved, sources } = reader.finish();
  return { ...resolved, sources };
}
