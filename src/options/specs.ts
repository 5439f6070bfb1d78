import type { CompressionMode, ModelLayout } from "../artifacts/index.js";
import {
  anyText,
  oneOf,
  parseCheckpointDir,
  parseEndpoint,
  parseGrace,
  parseKeep,
  parseKeepIntact,
  parseMarkers,
  parseStopSignal,
  type IntactBudget,
} from "./values.js";

/**
 * Options of `run` and `train`, and of runTraining. Each is also read from TRAINGUARD_<NAME>
 * (upper snake case of its flag); the command line (or runTraining's options object) wins over the
 * environment, the environment over the default.
 */
export interface RunOptions {
  mlRoot: string | undefined;
  graceSeconds: number;
  stopSignal: NodeJS.Signals;
  checkpointDir: string | undefined;
  jobName: string | undefined;
  logLevel: string | undefined;
  compression: CompressionMode;
  modelLayout: ModelLayout;
  onComplete: "keep" | "package";
  commitMarkers: string[] | undefined;
  output: string | undefined;
  checkpointUri: string | undefined;
  keep: number;
  s3Endpoint: string | undefined;
  keepIntact: IntactBudget;
}

/** Which option or variable set each value, so errors found later name what the user actually set. */
export type OptionSources = Partial<Record<keyof RunOptions, string>>;

/** Everything about one option; the CLI, the environment, runTraining and the help all read it from here. */
export type OptionSpec<K extends keyof RunOptions = keyof RunOptions> = {
  /** Its field in RunOptions. */
  readonly key: K;
  /** On the command line, without the dashes. */
  readonly flag: string;
  /** The variable it is also read from: TRAINGUARD_ and the flag in upper snake case. */
  readonly env: string;
  /** Its name in runTraining's options object; undefined: the command line and the environment only. */
  readonly library: string | undefined;
  readonly default: RunOptions[K];
  readonly help: string;
} & (
  | {
      /** What runTraining takes; text from the command line or a variable is parsed by the same validator. */
      readonly type: "string";
      /** The one validator: the value, or a ConfigError naming `source`. */
      readonly parse: (value: string, source: string) => RunOptions[K];
    }
  | { readonly type: "number"; readonly parse: (value: string | number, source: string) => RunOptions[K] }
);

// The table's rows: the key and the variable follow from where and how a row is written.
// (Distributed over the two `type` cases, so each row is checked against its own.)
type Row<S> = S extends unknown ? Omit<S, "key" | "env" | "library"> & { readonly library?: string } : never;
type Entry<K extends keyof RunOptions> = Row<OptionSpec<K>>;

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
const COMPRESSION_MODES = ["auto", "gzip", "fast", "stored", "none"] as const satisfies readonly CompressionMode[];
const MODEL_LAYOUTS = ["archive", "files"] as const satisfies readonly ModelLayout[];
const ON_COMPLETE = ["keep", "package"] as const;

// In the order of the help text. Every RunOptions field has exactly one entry (the type says so).
const TABLE: { readonly [K in keyof RunOptions]: Entry<K> } = {
  mlRoot: { flag: "ml-root", library: "mlRoot", type: "string", default: undefined, parse: anyText, help: "root of the container contract (default /opt/ml, or SAGEMAKER_BASE_DIR)" },
  graceSeconds: { flag: "grace", library: "grace", type: "number", default: 120, parse: parseGrace, help: "stop budget in seconds from the first SIGTERM (default 120)" },
  stopSignal: { flag: "stop-signal", type: "string", default: "SIGTERM", parse: parseStopSignal, help: "checkpoint request sent to the algorithm's process group (default SIGTERM)" },
  checkpointDir: { flag: "checkpoint-dir", library: "checkpointDir", type: "string", default: undefined, parse: parseCheckpointDir, help: "where the algorithm checkpoints (default: checkpointconfig.json LocalPath, else <ml-root>/checkpoints)" },
  // Validated once the job name is settled (contract's validateJobName), with the source recorded here.
  jobName: { flag: "job-name", library: "jobName", type: "string", default: undefined, parse: anyText, help: "training job name (default TRAINING_JOB_NAME, else generated)" },
  // The two URIs are validated where they are opened (storage), with the source recorded here.
  output: { flag: "output", library: "output", type: "string", default: undefined, parse: anyText, help: "s3://bucket/prefix or file:///dir: upload the archive to <output>/<job>/output/model.tar.gz (with --model-layout files, or a model dir that cannot be written, straight from the checkpoint files). The upload follows the local archive as it is written; to a file:// output or an S3 endpoint on this machine (loopback), which share its cores and disk, it starts once the local archive is committed" },
  checkpointUri: { flag: "checkpoint-uri", library: "checkpointUri", type: "string", default: undefined, parse: anyText, help: "s3://bucket/prefix or file:///dir: resume from and sync checkpoints to it (default: checkpointconfig.json S3Uri)" },
  keep: { flag: "keep", library: "keep", type: "number", default: 3, parse: parseKeep, help: "remote checkpoints kept by the sync (default 3)" },
  s3Endpoint: { flag: "s3-endpoint", library: "s3Endpoint", type: "string", default: undefined, parse: parseEndpoint, help: "S3-compatible endpoint URL (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else AWS)" },
  compression: { flag: "compression", library: "compression", type: "string", default: "auto", parse: oneOf(COMPRESSION_MODES), help: "auto (default), gzip, fast, stored or none: how model.tar.gz is compressed" },
  modelLayout: { flag: "model-layout", library: "modelLayout", type: "string", default: "archive", parse: oneOf(MODEL_LAYOUTS), help: "archive: <ml-root>/model/model.tar.gz; files: the checkpoint's files in <ml-root>/model/, and with --output the archive streamed there without a local copy (default files when TRAINING_JOB_NAME is set and --output is not, else archive)" },
  onComplete: { flag: "on-complete", library: "onComplete", type: "string", default: "keep", parse: oneOf(ON_COMPLETE), help: "keep (default): a Completed job keeps the model its algorithm wrote; package: package the newest checkpoint too" },
  commitMarkers: { flag: "commit-markers", type: "string", default: undefined, parse: parseMarkers, help: "comma-separated file names that make a checkpoint directory complete (default .trainguard-commit,.metadata,.snapshot_metadata)" },
  keepIntact: { flag: "keep-intact", type: "string", default: "auto", parse: parseKeepIntact, help: "auto (default: up to half the free disk), a size such as 2GiB, or off: disk for the last intact version of each flat checkpoint file" },
  logLevel: { flag: "log-level", library: "logLevel", type: "string", default: undefined, parse: oneOf(LOG_LEVELS), help: "fatal, error, warn, info (default), debug, trace or silent" },
};

export const OPTION_SPECS: readonly OptionSpec[] = (Object.keys(TABLE) as (keyof RunOptions)[]).map((key) => {
  const entry = TABLE[key] as Entry<keyof RunOptions>;
  return { ...entry, key, env: `TRAINGUARD_${entry.flag.toUpperCase().replace(/-/g, "_")}`, library: entry.library };
});

/** Every option at its default, in a new object. */
export function defaultOptions(): RunOptions {
  return Object.fromEntries(OPTION_SPECS.map((s) => [s.key, s.default])) as unknown as RunOptions;
}

/** The options part of `trainguard help`. */
export function optionsHelp(): string {
  return OPTION_SPECS.map((s) => `  --${s.flag.padEnd(16)} ${s.help}\n  ${"".padEnd(18)} env: ${s.env}`).join("\n");
}
