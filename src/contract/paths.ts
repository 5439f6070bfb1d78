import path from "node:path";

/** Every path of the SageMaker container contract, resolved under one ml-root. */
export interface MlPaths {
  readonly root: string;
  readonly inputDir: string;
  readonly inputConfigDir: string;
  readonly hyperparameters: string;
  readonly resourceConfig: string;
  readonly inputDataConfig: string;
  readonly checkpointConfig: string;
  readonly dataDir: string;
  readonly modelDir: string;
  readonly outputDir: string;
  readonly outputDataDir: string;
  readonly failureFile: string;
  readonly trainguardDir: string;
  readonly statusFile: string;
  readonly stopRequestFile: string;
  readonly defaultCheckpointDir: string;
}

export const DEFAULT_ML_ROOT = "/opt/ml";

/** `--ml-root` wins, then SAGEMAKER_BASE_DIR (the AWS toolkit's override), then /opt/ml. */
export function resolveMlRoot(option: string | undefined, env: NodeJS.ProcessEnv): string {
  return path.resolve(option ?? env.SAGEMAKER_BASE_DIR ?? DEFAULT_ML_ROOT);
}

export function mlPaths(root: string): MlPaths {
  const inputDir = path.join(root, "input");
  const inputConfigDir = path.join(inputDir, "config");
  const outputDir = path.join(root, "output");
  const trainguardDir = path.join(outputDir, "trainguard");
  return {
    root,
    inputDir,
    inputConfigDir,
    hyperparameters: path.join(inputConfigDir, "hyperparameters.json"),
    resourceConfig: path.join(inputConfigDir, "resourceconfig.json"),
    inputDataConfig: path.join(inputConfigDir, "inputdataconfig.json"),
    checkpointConfig: path.join(inputConfigDir, "checkpointconfig.json"),
    dataDir: path.join(inputDir, "data"),
    modelDir: path.join(root, "model"),
    outputDir,
    outputDataDir: path.join(outputDir, "data"),
    failureFile: path.join(outputDir, "failure"),
    trainguardDir,
    statusFile: path.join(trainguardDir, "status.json"),
    stopRequestFile: path.join(trainguardDir, "stop-request.json"),
    defaultCheckpointDir: path.join(root, "checkpoints"),
  };
}
