import type { CompressionMode, ModelLayout } from "../artifacts/index.js";
import { runJob } from "../job/index.js";
import type { Logger } from "../log/index.js";
import type { IntactBudget } from "../options/index.js";
import type { OptionSources } from "./options.js";
import { ProcessRunner } from "./process-runner.js";
import type { SignalInbox } from "./signals.js";

export interface SuperviseOptions {
  /** argv of the algorithm; never run through a shell. */
  readonly command: readonly string[];
  /** Where the command came from, for error messages ("TRAINGUARD_COMMAND", "run arguments"). */
  readonly commandSource: string;
  readonly mlRoot: string;
  readonly graceSeconds: number;
  readonly stopSignal: NodeJS.Signals;
  /** `--checkpoint-dir`; otherwise checkpointconfig.json's LocalPath, otherwise <ml-root>/checkpoints. */
  readonly checkpointDir: string | undefined;
  readonly jobName: string | undefined;
  readonly env: NodeJS.ProcessEnv;
  readonly log: Logger;
  readonly inbox: SignalInbox;
  readonly compression: CompressionMode;
  readonly modelLayout: ModelLayout;
  /** What a Completed job does with its checkpoints: keep the algorithm's own model dir, or package. */
  readonly onComplete: "keep" | "package";
  /** `--output`: where the archive is uploaded (s3:// or file://), as `<output>/<job>/output/model.tar.gz`. */
  readonly output?: string;
  /** `--checkpoint-uri`: remote checkpoints (resume, background sync); else checkpointconfig.json's S3Uri. */
  readonly checkpointUri?: string;
  /** Remote checkpoints kept by the sync. */
  readonly keep: number;
  /** `--s3-endpoint`: an S3-compatible endpoint instead of AWS's. */
  readonly s3Endpoint?: string;
  /** Commit markers that make a checkpoint directory complete (default: artifacts' list). */
  readonly commitMarkers?: readonly string[];
  /** Which option or variable set each value (`--output` or `TRAINGUARD_OUTPUT`), for errors. */
  readonly optionSources?: OptionSources;
  /** `--keep-intact`: disk budget for the last intact version of each flat checkpoint file (default auto). */
  readonly keepIntact?: IntactBudget;
}

/** Runs one job with the algorithm as a child process group. Resolves with the code the process should exit with. */
export async function supervise(options: SuperviseOptions): Promise<number> {
  const sources = options.optionSources ?? {};
  const { exitCode } = await runJob({
    mlRoot: options.mlRoot,
    graceSeconds: options.graceSeconds,
    jobName: options.jobName,
    checkpointDir: options.checkpointDir,
    settings: options,
    markers: options.commitMarkers,
    env: options.env,
    log: options.log,
    names: {
      // How the user chose the ml-root: --ml-root, TRAINGUARD_ML_ROOT, SAGEMAKER_BASE_DIR or the default.
      mlRoot: sources.mlRoot ?? (options.env.SAGEMAKER_BASE_DIR ? "SAGEMAKER_BASE_DIR" : "ml-root"),
      checkpointDir: sources.checkpointDir ?? "--checkpoint-dir",
      jobName: sources.jobName,
      output: sources.output ?? "--output",
      checkpointUri: sources.checkpointUri ?? "--checkpoint-uri",
      modelLayout: sources.modelLayout ?? "--model-layout",
      s3Endpoint: sources.s3Endpoint ?? "--s3-endpoint",
    },
    runner: new ProcessRunner(options),
  });
  return exitCode;
}
