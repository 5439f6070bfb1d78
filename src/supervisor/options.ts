import { constants as osConstants } from "node:os";
import type { CompressionMode, ModelLayout } from "../artifacts/index.js";
import { ConfigError } from "../contract/index.js";
import { parseKeepIntact, type IntactBudget } from "./intact-budget.js";

/**
 * Options of `run` and `train`. Each is also read from TRAINGUARD_<NAME> (upper snake case);
 * the command line wins over the environment, the environment over the default.
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

interface OptionSpec<K extends keyof RunOptions> {
  readonly flag: string;
  readonly key: K;
  readonly parse: (value: string, source: string) => RunOptions[K];
  readonly help: string;
}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
const COMPRESSION_MODES = ["auto", "gzip", "fast", "stored", "none"] as const;
const MODEL_LAYOUTS = ["archive", "files"] as const;
const ON_COMPLETE = ["keep", "package"] as const;
export const MAX_GRACE_SECONDS = 7 * 24 * 3600;

const SPECS: readonly OptionSpec<keyof RunOptions>[] = [
  { flag: "ml-root", key: "mlRoot", parse: (v) => v, help: "root of the container contract (default /opt/ml, or SAGEMAKER_BASE_DIR)" },
  { flag: "grace", key: "graceSeconds", parse: parseGrace, help: "stop budget in seconds from the first SIGTERM (default 120)" },
  { flag: "stop-signal", key: "stopSignal", parse: parseStopSignal, help: "checkpoint request sent to the algorithm's process group (default SIGTERM)" },
  { flag: "checkpoint-dir", key: "checkpointDir", parse: parseCheckpointDir, help: "where the algorithm checkpoints (default: checkpointconfig.json LocalPath, else <ml-root>/checkpoints)" },
  { flag: "job-name", key: "jobName", parse: (v) => v, help: "training job name (default TRAINING_JOB_NAME, else generated)" },
  { flag: "output", key: "output", parse: (v) => v, help: "s3://bucket/prefix or file:///dir: upload the archive to <output>/<job>/output/model.tar.gz" },
  { flag: "checkpoint-uri", key: "checkpointUri", parse: (v) => v, help: "s3://bucket/prefix or file:///dir: resume from and sync checkpoints to it (default: checkpointconfig.json S3Uri)" },
  { flag: "keep", key: "keep", parse: parseKeep, help: "remote checkpoints kept by the sync (default 3)" },
  { flag: "s3-endpoint", key: "s3Endpoint", parse: parseEndpoint, help: "S3-compatible endpoint URL (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else AWS)" },
  { flag: "compression", key: "compression", parse: oneOf(COMPRESSION_MODES), help: "auto (default), gzip, fast, stored or none: how model.tar.gz is compressed" },
  { flag: "model-layout", key: "modelLayout", parse: oneOf(MODEL_LAYOUTS), help: "archive: <ml-root>/model/model.tar.gz; files: the checkpoint's files in <ml-root>/model/ (default files when TRAINING_JOB_NAME is set and --output is not, else archive)" },
  { flag: "on-complete", key: "onComplete", parse: oneOf(ON_COMPLETE), help: "keep (default): a Completed job keeps the model its algorithm wrote; package: package the newest checkpoint too" },
  { flag: "commit-markers", key: "commitMarkers", parse: parseMarkers, help: "comma-separated file names that make a checkpoint directory complete (default .trainguard-commit,.metadata,.snapshot_metadata)" },
  { flag: "keep-intact", key: "keepIntact", parse: parseKeepIntact, help: "auto (default: up to half the free disk), a size such as 2GiB, or off: disk for the last intact version of each flat checkpoint file" },
  { flag: "log-level", key: "logLevel", parse: oneOf(LOG_LEVELS), help: "fatal, error, warn, info (default), debug, trace or silent" },
];

export function optionsHelp(): string {
  return SPECS.map((s) => `  --${s.flag.padEnd(16)} ${s.help}\n  ${"".padEnd(18)} env: ${envNameOf(s.flag)}`).join("\n");
}

function envNameOf(flag: string): string {
  return `TRAINGUARD_${flag.toUpperCase().replace(/-/g, "_")}`;
}

/**
 * Parse our options from the front of `args`. Parsing stops at `--` or at the first argument that
 * is not an option, so an algorithm's own flags (`python train.py --epochs 3`) are never ours.
 */
export function parseRunArgs(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  /** `lenient`: skip bad values instead of throwing, to learn what is usable (the ml-root of a refused start). */
  mode: "strict" | "lenient" = "strict",
): { options: RunOptions; rest: string[]; sources: OptionSources } {
  const options: RunOptions = {
    mlRoot: undefined,
    graceSeconds: 120,
    stopSignal: "SIGTERM",
    checkpointDir: undefined,
    jobName: undefined,
    logLevel: undefined,
    compression: "auto",
    modelLayout: "archive",
    onComplete: "keep",
    commitMarkers: undefined,
    output: undefined,
    checkpointUri: undefined,
    keep: 3,
    s3Endpoint: undefined,
    keepIntact: "auto",
  };
  const sources: OptionSources = {};
  const set = <K extends keyof RunOptions>(spec: OptionSpec<K>, value: string, source: string): void => {
    try {
      if (value === "") throw new ConfigError(source, undefined, "must not be empty");
      options[spec.key] = spec.parse(value, source);
      sources[spec.key] = source;
    } catch (err) {
      if (mode === "strict") throw err;
    }
  };
  for (const spec of SPECS) {
    const name = envNameOf(spec.flag);
    const value = env[name];
    if (value !== undefined) set(spec, value, name);
  }
  let i = 0;
  for (; i < args.length; i += 1) {
    const arg = args[i] as string;
    if (arg === "--") {
      i += 1;
      break;
    }
    if (!arg.startsWith("--")) break;
    const eq = arg.indexOf("=");
    const flag = arg.slice(2, eq === -1 ? undefined : eq);
    const spec = SPECS.find((s) => s.flag === flag);
    // Lenient: an unknown option may or may not take a value, so nothing after it is certain.
    if (!spec && mode === "lenient") break;
    if (!spec) throw new ConfigError(`--${flag}`, undefined, `unknown option (known: ${SPECS.map((s) => `--${s.flag}`).join(", ")})`);
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      value = args[i + 1];
      i += 1;
    }
    // `--` always ends the options: `--checkpoint-dir -- cmd` lacks a value, it does not name a dir "--".
    if (value === undefined || (eq === -1 && value === "--")) {
      if (mode === "lenient") break;
      throw new ConfigError(`--${flag}`, undefined, "needs a value");
    }
    set(spec, value, `--${flag}`);
  }
  // SageMaker (and `trainguard local`) set TRAINING_JOB_NAME in every training container and tar
  // the model dir themselves: the checkpoint's files go there, not an archive inside their archive.
  // With --output trainguard uploads its own archive, so the layout stays an archive then.
  if (sources.modelLayout === undefined && (env.TRAINING_JOB_NAME ?? "") !== "" && options.output === undefined) options.modelLayout = "files";
  return { options, rest: args.slice(i), sources };
}

function parseCheckpointDir(value: string, source: string): string {
  if (value.startsWith("/") && value.replace(/\/+/g, "/") === "/") {
    throw new ConfigError(source, undefined, "must not be the root directory: the checkpoint dir is scanned, packaged and synced");
  }
  return value;
}

function parseGrace(value: string, source: string): number {
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > MAX_GRACE_SECONDS) {
    throw new ConfigError(source, undefined, `must be a number of seconds above 0 and at most ${MAX_GRACE_SECONDS}, got ${JSON.stringify(value)}`);
  }
  return seconds;
}

export function parseStopSignal(value: string, source: string): NodeJS.Signals {
  const signals = osConstants.signals as Record<string, number>;
  const upper = value.toUpperCase();
  const byName = upper.startsWith("SIG") ? upper : `SIG${upper}`;
  const name = /^\d+$/.test(value) ? Object.keys(signals).find((k) => signals[k] === Number(value)) : byName in signals ? byName : undefined;
  if (name === undefined) throw new ConfigError(source, undefined, `unknown signal ${JSON.stringify(value)}`);
  if (name === "SIGKILL" || name === "SIGSTOP") {
    throw new ConfigError(source, undefined, `${name} cannot be a checkpoint request: the algorithm cannot handle it`);
  }
  return name as NodeJS.Signals;
}

function oneOf<const T extends readonly string[]>(choices: T): (value: string, source: string) => T[number] {
  return (value, source) => {
    if (!choices.includes(value)) throw new ConfigError(source, undefined, `must be one of ${choices.join(", ")}, got ${JSON.stringify(value)}`);
    return value;
  };
}

function parseKeep(value: string, source: string): number {
  const keep = Number(value);
  if (!Number.isInteger(keep) || keep < 1) throw new ConfigError(source, undefined, `must be a whole number of checkpoints, at least 1, got ${JSON.stringify(value)}`);
  return keep;
}

function parseEndpoint(value: string, source: string): string {
  if (!/^https?:\/\/[^/\s]+/.test(value)) throw new ConfigError(source, undefined, `must be an http(s) URL such as http://127.0.0.1:9000, got ${JSON.stringify(value)}`);
  return value;
}

function parseMarkers(value: string, source: string): string[] {
  const markers = value.split(",").map((m) => m.trim());
  if (markers.some((m) => m === "" || m.includes("/") || m === "." || m === "..")) {
    throw new ConfigError(source, undefined, `must be comma-separated file names, got ${JSON.stringify(value)}`);
  }
  return markers;
}

/** `trainguard train` runs TRAINGUARD_COMMAND: a JSON array of argv strings, never a shell line. */
export function parseTrainCommand(env: NodeJS.ProcessEnv): string[] {
  const raw = env.TRAINGUARD_COMMAND;
  if (raw === undefined || raw.trim() === "") {
    throw new ConfigError("TRAINGUARD_COMMAND", undefined, 'is not set: `trainguard train` runs the command it names, as a JSON array, e.g. ["python3","train.py"]');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new ConfigError("TRAINGUARD_COMMAND", undefined, `must be a JSON array of strings, e.g. ["python3","train.py"]; it is not JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((a) => typeof a === "string") || parsed[0] === "") {
    throw new ConfigError("TRAINGUARD_COMMAND", undefined, 'must be a non-empty JSON array of strings, e.g. ["python3","train.py"]');
  }
  const withNul = parsed.findIndex((a: string) => a.includes("\0"));
  if (withNul !== -1) throw new ConfigError("TRAINGUARD_COMMAND", `argument ${withNul}`, "contains a NUL byte, which no command argument can carry");
  return parsed as string[];
}
