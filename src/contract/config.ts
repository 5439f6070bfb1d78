import path from "node:path";
import { readUserFile } from "./bounded-read.js";
import { ConfigError } from "./errors.js";
import { checkJsonValue, parseJsonFile, printable } from "./json-text.js";
import type { MlPaths } from "./paths.js";

export interface ResourceConfig {
  readonly currentHost: string;
  readonly hosts: readonly string[];
  /** Kept verbatim for SM_RESOURCE_CONFIG, which scripts read as the platform wrote it. */
  readonly raw: Readonly<Record<string, unknown>>;
}

export interface Channel {
  readonly name: string;
  readonly dir: string;
  readonly config: Readonly<Record<string, unknown>>;
}

export interface CheckpointConfig {
  readonly localPath: string | undefined;
  readonly s3Uri: string | undefined;
}

export interface JobConfig {
  /** As written: SageMaker passes every value as a string. */
  readonly rawHyperparameters: Readonly<Record<string, unknown>>;
  /** Each string decoded as JSON, kept as the raw string when it is not JSON (the AWS toolkit's rule). */
  readonly hyperparameters: Readonly<Record<string, unknown>>;
  readonly resource: ResourceConfig;
  readonly channels: readonly Channel[];
  readonly checkpoint: CheckpointConfig;
}

export const DEFAULT_HOST = "algo-1";
/** SageMaker's ChannelName constraint. */
const CHANNEL_NAME = /^[A-Za-z0-9.\-_]{1,64}$/;
/**
 * Host names become a folder of remote keys (`<output>/<job>/output/<host>/`) and appear in the
 * environment: a DNS-like name, so `../evil` or `a/b` is refused before anything starts.
 */
const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;

/** Parse the four config files; a missing file means defaults, a malformed one is a ConfigError. */
export async function readJobConfig(paths: MlPaths): Promise<JobConfig> {
  // One after the other: a file on a mount that never answers holds one threadpool thread, not four.
  const hps = await readJsonObject(paths.hyperparameters);
  const resource = await readJsonObject(paths.resourceConfig);
  const channels = await readJsonObject(paths.inputDataConfig);
  const checkpoint = await readJsonObject(paths.checkpointConfig);
  const hyperparameters = decodeHyperparameters(hps ?? {});
  for (const [name, value] of Object.entries(hyperparameters)) checkJsonValue(value, paths.hyperparameters, name);
  return {
    rawHyperparameters: hps ?? {},
    hyperparameters,
    resource: parseResourceConfig(resource, paths.resourceConfig),
    channels: parseChannels(channels, paths.inputDataConfig, paths.dataDir),
    checkpoint: parseCheckpointConfig(checkpoint, paths.checkpointConfig),
  };
}

async function readJsonObject(file: string): Promise<Record<string, unknown> | undefined> {
  const bytes = await readUserFile(file);
  if (bytes === undefined) return undefined;
  const value = parseJsonFile(bytes, file);
  if (!isPlainObject(value)) {
    throw new ConfigError(file, undefined, `must hold a JSON object, found ${describe(value)}`);
  }
  return value;
}

export function decodeHyperparameter(raw: unknown): unknown {
  if (typeof raw !== "string") return raw;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

export function decodeHyperparameters(raw: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(raw).map(([key, value]) => [key, decodeHyperparameter(value)]));
}

export function parseResourceConfig(raw: Record<string, unknown> | undefined, file: string): ResourceConfig {
  if (raw === undefined) return { currentHost: DEFAULT_HOST, hosts: [DEFAULT_HOST], raw: { current_host: DEFAULT_HOST, hosts: [DEFAULT_HOST] } };
  const currentHost = raw.current_host;
  if (typeof currentHost !== "string" || currentHost === "") {
    throw new ConfigError(file, "current_host", `must be a non-empty string, found ${describe(currentHost)}`);
  }
  const hosts = raw.hosts ?? [currentHost];
  if (!Array.isArray(hosts) || hosts.length === 0 || !hosts.every((h) => typeof h === "string" && h !== "")) {
    throw new ConfigError(file, "hosts", `must be a non-empty array of host names, found ${describe(hosts)}`);
  }
  if (new Set(hosts).size !== hosts.length) {
    throw new ConfigError(file, "hosts", "lists the same host twice");
  }
  for (const [field, host] of [["current_host", currentHost], ...(hosts as string[]).map((h, i) => [`hosts[${i}]`, h])] as const) {
    if (!HOST_NAME.test(host)) {
      throw new ConfigError(file, field, `host name ${JSON.stringify(printable(host))} must match ${HOST_NAME.source} (it names a folder of the uploaded model)`);
    }
  }
  if (!hosts.includes(currentHost)) {
    throw new ConfigError(file, "current_host", `${JSON.stringify(currentHost)} is not one of hosts ${JSON.stringify(hosts)}`);
  }
  return { currentHost, hosts: hosts as string[], raw };
}

export function parseChannels(raw: Record<string, unknown> | undefined, file: string, dataDir: string): Channel[] {
  if (raw === undefined) return [];
  return Object.entries(raw)
    .map(([name, config]) => {
      if (!CHANNEL_NAME.test(name)) {
        throw new ConfigError(file, name, `channel name must match ${CHANNEL_NAME.source}`);
      }
      if (!isPlainObject(config)) {
        throw new ConfigError(file, name, `channel config must be a JSON object, found ${describe(config)}`);
      }
      return { name, dir: path.join(dataDir, name), config };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** Wherever a checkpoint dir comes from (a flag, a variable, checkpointconfig.json): `/`, `//`, `/.` and `/tmp/..` are refused. */
export function refuseRootCheckpointDir(dir: string, source: string, field?: string): void {
  if (path.isAbsolute(dir) && path.resolve(dir) === "/") {
    throw new ConfigError(source, field, "must not be the root directory: the checkpoint dir is scanned, packaged and synced");
  }
}

export function parseCheckpointConfig(raw: Record<string, unknown> | undefined, file: string): CheckpointConfig {
  if (raw === undefined) return { localPath: undefined, s3Uri: undefined };
  const localPath = optionalString(raw, "LocalPath", file);
  const s3Uri = optionalString(raw, "S3Uri", file);
  if (localPath !== undefined && !path.isAbsolute(localPath)) {
    throw new ConfigError(file, "LocalPath", `must be an absolute path, found ${JSON.stringify(localPath)}`);
  }
  if (localPath !== undefined) refuseRootCheckpointDir(localPath, file, "LocalPath");
  if (s3Uri !== undefined && !/^s3:\/\/[^/]+/.test(s3Uri)) {
    throw new ConfigError(file, "S3Uri", `must look like s3://bucket/prefix, found ${JSON.stringify(s3Uri)}`);
  }
  return { localPath, s3Uri };
}

function optionalString(raw: Record<string, unknown>, field: string, file: string): string | undefined {
  const value = raw[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string" || value === "") {
    throw new ConfigError(file, field, `must be a non-empty string, found ${describe(value)}`);
  }
  return value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`;
  return `a ${typeof value} (${JSON.stringify(value)?.slice(0, 40)})`;
}
