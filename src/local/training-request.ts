import path from "node:path";
import { fileURLToPath } from "node:url";
import { validationError } from "./api-error.js";

/** A TrainingImage that is a local Docker image, run as SageMaker runs it: `docker run <image> train`. */
export interface ContainerImage {
  readonly image: string;
  /** ContainerEntrypoint: replaces the image's ENTRYPOINT (and with it its CMD). */
  readonly entrypoint?: readonly string[];
  /** What follows the image on `docker run`: ContainerArguments, else `train`. */
  readonly args: readonly string[];
}

/** A CreateTrainingJob request reduced to what the platform runs. */
export interface TrainingRequest {
  readonly name: string;
  /** The process backend (file:// image): argv of the algorithm, the executable (or ContainerEntrypoint) and its arguments; empty for a Docker image. */
  readonly argv: readonly string[];
  /** The docker backend: set when TrainingImage is not a file:// path. */
  readonly container?: ContainerImage;
  readonly hyperParameters: Readonly<Record<string, string>>;
  readonly environment: Readonly<Record<string, string>>;
  readonly channels: readonly { readonly name: string; readonly s3Uri: string; readonly contentType?: string }[];
  readonly outputPath: string;
  readonly compression: "GZIP" | "NONE";
  readonly instanceType: string;
  /** Hosts algo-1 ... algo-N. */
  readonly instanceCount: number;
  readonly maxRuntimeSeconds: number;
  readonly checkpoint?: { readonly s3Uri: string; readonly localPath: string };
}

/** Each host is a process of this machine: more would only compete for its cores. */
export const MAX_INSTANCE_COUNT = 16;
/** SageMaker's default MaxRuntimeInSeconds. */
export const DEFAULT_MAX_RUNTIME_SECONDS = 86_400;
const ML_ROOT_IN_CONTAINER = "/opt/ml";

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- validated against CREATE_TRAINING_JOB first

/**
 * A Docker image reference as `docker run` takes it (name[:tag][@digest], with a registry host
 * and port): never one that starts with "-", which the docker CLI would read as an option.
 */
const IMAGE_REFERENCE = /^[a-zA-Z0-9][a-zA-Z0-9._\-/:@]*$/;

/**
 * What the platform needs beyond the API's own constraints, each refused with a
 * ValidationException that says why: a TrainingImage that is neither `file:///abs/executable`
 * nor a Docker image reference, more than MAX_INSTANCE_COUNT instances, modes other than File.
 */
export function readTrainingRequest(req: Json): TrainingRequest {
  const spec: Json = req.AlgorithmSpecification ?? {};
  const image = spec.TrainingImage as string | undefined;
  if (image === undefined) throw validationError("AlgorithmSpecification.TrainingImage is required: trainguard local runs file:///absolute/path/to/executable images (AlgorithmName is not supported)");
  if ((spec.TrainingInputMode ?? "File") !== "File") throw validationError(`TrainingInputMode ${spec.TrainingInputMode} is not supported by trainguard local: use File`);
  const entrypoint = spec.ContainerEntrypoint as string[] | undefined;
  const args = spec.ContainerArguments as string[] | undefined;
  let argv: string[] = [];
  let container: ContainerImage | undefined;
  if (image.startsWith("file:")) {
    if (!image.startsWith("file:///")) throw validationError(`TrainingImage ${JSON.stringify(image)}: a file:// image must be file:///absolute/path/to/executable`);
    // As `docker run image train`: the entrypoint gets "train" unless ContainerArguments replace it.
    argv = entrypoint !== undefined ? [...entrypoint, ...(args ?? [])] : [fileURLToPath(image), ...(args ?? ["train"])];
    if (!path.isAbsolute(argv[0] as string)) throw validationError(`ContainerEntrypoint ${JSON.stringify(argv[0])} must be an absolute path: the process backend runs it without a shell or PATH lookup`);
  } else {
    if (!IMAGE_REFERENCE.test(image)) throw validationError(`TrainingImage ${JSON.stringify(image)} is neither file:///absolute/path/to/executable nor a Docker image reference (name[:tag][@digest])`);
    if (entrypoint !== undefined && entrypoint.length === 0) throw validationError("ContainerEntrypoint must hold at least the executable");
    container = { image, ...(entrypoint !== undefined ? { entrypoint } : {}), args: args ?? (entrypoint !== undefined ? [] : ["train"]) };
  }
  const instanceCount = req.ResourceConfig?.InstanceCount ?? 1;
  if (instanceCount < 1) throw validationError(`ResourceConfig.InstanceCount must be at least 1, got ${instanceCount}`);
  if (instanceCount > MAX_INSTANCE_COUNT) throw validationError(`ResourceConfig.InstanceCount ${instanceCount} is more than trainguard local runs on one machine (at most ${MAX_INSTANCE_COUNT})`);
  const channels = ((req.InputDataConfig ?? []) as Json[]).map((c) => {
    const source = c.DataSource?.S3DataSource as Json | undefined;
    if (source === undefined) throw validationError(`Channel ${c.ChannelName}: only S3DataSource is supported by trainguard local`);
    if (source.S3DataType !== "S3Prefix") throw validationError(`Channel ${c.ChannelName}: S3DataType ${source.S3DataType} is not supported by trainguard local: use S3Prefix`);
    if ((c.InputMode ?? "File") !== "File") throw validationError(`Channel ${c.ChannelName}: InputMode ${c.InputMode} is not supported by trainguard local: use File`);
    if (!String(source.S3Uri).startsWith("s3://")) throw validationError(`Channel ${c.ChannelName}: S3Uri must start with s3://`);
    return { name: c.ChannelName as string, s3Uri: source.S3Uri as string, ...(c.ContentType ? { contentType: c.ContentType as string } : {}) };
  });
  if (new Set(channels.map((c) => c.name)).size !== channels.length) throw validationError("InputDataConfig names the same channel twice");
  const outputPath = req.OutputDataConfig.S3OutputPath as string;
  if (!outputPath.startsWith("s3://")) throw validationError("OutputDataConfig.S3OutputPath must start with s3://");
  let checkpoint: TrainingRequest["checkpoint"];
  if (req.CheckpointConfig) {
    const localPath = path.posix.normalize((req.CheckpointConfig.LocalPath as string | undefined) ?? "/opt/ml/checkpoints").replace(/(.)\/+$/, "$1");
    if (!localPath.startsWith(`${ML_ROOT_IN_CONTAINER}/`)) {
      throw validationError(`CheckpointConfig.LocalPath ${JSON.stringify(localPath)} must be under /opt/ml: the platform maps /opt/ml to each host's own directory`);
    }
    checkpoint = { s3Uri: req.CheckpointConfig.S3Uri as string, localPath: localPath.slice(ML_ROOT_IN_CONTAINER.length + 1) };
  }
  return {
    name: req.TrainingJobName as string,
    argv,
    ...(container ? { container } : {}),
    hyperParameters: req.HyperParameters ?? {},
    environment: req.Environment ?? {},
    channels,
    outputPath,
    compression: req.OutputDataConfig.CompressionType ?? "GZIP",
    instanceType: req.ResourceConfig?.InstanceType ?? "local",
    instanceCount,
    maxRuntimeSeconds: req.StoppingCondition?.MaxRuntimeInSeconds ?? DEFAULT_MAX_RUNTIME_SECONDS,
    ...(checkpoint ? { checkpoint } : {}),
  };
}
