import { readFile } from "node:fs/promises";
import path from "node:path";
import { ConfigError } from "./errors.js";
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

/** Parse the four config files; a missing file means defaults, a malformed one is a ConfigError. */
export async function readJobConfig(paths: MlPaths): Promise<JobConfig> {
  const [hps, resource, channels, checkpoint] = await Promise.all([
    readJsonObject(paths.hyperparameters),
    readJsonObject(paths.resourceConfig),
    readJsonObject(paths.inputDataConfig),
    readJsonObject(paths.checkpointConfig),
  ]);
  return {
    rawHyperparameters: hps ?? {},
    hyperparameters: decodeHyperparameters(hps ?? {}),
    resource: parseResourceConfig(resource, paths.resourceConfig),
    channels: parseChannels(channels, paths.inputDataConfig, paths.dataDir),
    checkpoint: parseCheckpointConfig(checkpoint, paths.checkpointConfig),
  };
}

async function readJsonObject(file: string): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new ConfigError(file, undefined, `cannot be read: ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(file, undefined, `is not valid JSON: ${(err as Error).message}`);
  }
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

export function parseCheckpointConfig(raw: Record<string, unknown> | undefined, file: string): CheckpointConfig {
  if (raw === undefined) return { localPath: undefined, s3Uri: undefined };
  const localPath = optionalString(raw, "LocalPath", file);
  const s3Uri = optionalString(raw, "S3Uri", file);
  if (localPath !== undefined && !path.isAbsolute(localPath)) {
    throw new ConfigError(file, "LocalPath", `must be an absolute path, found ${JSON.stringify(localPath)}`);
  }
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
