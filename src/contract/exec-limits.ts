import { readFileSync } from "node:fs";
import { ConfigError } from "./errors.js";
import type { JobConfig } from "./config.js";
import { envName } from "./env.js";
import type { MlPaths } from "./paths.js";

/** Linux's MAX_ARG_STRLEN: one argument or one NAME=value, terminating NUL included. */
export const MAX_EXEC_STRING_BYTES = 128 * 1024;
/** The kernel caps argv plus environment at a quarter of the stack limit, and at 6 MiB. */
const EXEC_TOTAL_CAP_BYTES = 6 * 1024 * 1024;
const POINTER_BYTES = 8;

/** Where an environment variable came from, for the error a user reads: file and field. */
type Origin = { readonly source: string; readonly field: string | undefined };

/**
 * exec() fails with E2BIG, or cannot carry a NUL byte at all: the user's input, refused before
 * anything starts with the hyperparameter, field or argument to blame and the limit, rather than a
 * failed start reported as trainguard's own error.
 */
export function checkExecLimits(
  argv: readonly string[],
  commandSource: string,
  env: Readonly<Record<string, string | undefined>>,
  origins: (name: string) => Origin,
): void {
  argv.forEach((arg, i) => {
    if (arg.includes("\0")) throw new ConfigError(commandSource, `argument ${i}`, "contains a NUL byte, which no command argument can carry");
    const bytes = Buffer.byteLength(arg) + 1;
    if (bytes > MAX_EXEC_STRING_BYTES) throw new ConfigError(commandSource, `argument ${i}`, `is ${bytes} bytes; Linux passes at most ${MAX_EXEC_STRING_BYTES} bytes (128 KiB) per argument`);
  });
  const entries = Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined);
  // Most specific first: a huge hyperparameter is named as itself, not as SM_HPS that also holds it.
  entries.sort(([a], [b]) => specificity(a) - specificity(b));
  for (const [name, value] of entries) {
    const where = origins(name);
    if (value.includes("\0")) throw new ConfigError(where.source, where.field, `would put a NUL byte into ${name}, which no environment variable can carry`);
    const bytes = Buffer.byteLength(name) + 1 + Buffer.byteLength(value) + 1;
    if (bytes > MAX_EXEC_STRING_BYTES) {
      throw new ConfigError(where.source, where.field, `makes the algorithm's variable ${name} ${bytes} bytes; Linux passes at most ${MAX_EXEC_STRING_BYTES} bytes (128 KiB) per environment variable`);
    }
  }
  const limit = execTotalLimit();
  const sizes = [...argv.map((a) => Buffer.byteLength(a) + 1), ...entries.map(([n, v]) => Buffer.byteLength(n) + Buffer.byteLength(v) + 2)];
  const total = sizes.reduce((sum, n) => sum + n + POINTER_BYTES, POINTER_BYTES * 2);
  if (total > limit) {
    const largest = entries
      .map(([name, value]) => ({ name, bytes: Buffer.byteLength(value) }))
      .sort((a, b) => b.bytes - a.bytes)
      .slice(0, 3);
    const first = origins(largest[0]?.name ?? "");
    throw new ConfigError(
      first.source,
      first.field,
      `makes the algorithm's arguments and environment ${total} bytes together; Linux allows ${limit} (a quarter of the stack limit, at most 6 MiB). Largest: ${largest.map((l) => `${l.name} ${l.bytes} bytes`).join(", ")}`,
    );
  }
}

function specificity(name: string): number {
  if (name.startsWith("SM_HP_") || name.startsWith("SM_CHANNEL_")) return 0;
  if (name === "SM_TRAINING_ENV") return 2;
  return 1;
}

/** argv + environment limit of exec for this process's stack limit (read from /proc/self/limits). */
export function execTotalLimit(): number {
  try {
    const line = readFileSync("/proc/self/limits", "utf8").split("\n").find((l) => l.startsWith("Max stack size"));
    const soft = line?.slice("Max stack size".length).trim().split(/\s+/)[0];
    if (soft === "unlimited") return EXEC_TOTAL_CAP_BYTES;
    const bytes = Number(soft);
    if (Number.isFinite(bytes) && bytes > 0) return Math.max(32 * 4096, Math.min(EXEC_TOTAL_CAP_BYTES, Math.floor(bytes / 4)));
  } catch {
    // not Linux, or no procfs: the common 8 MiB stack
  }
  return 2 * 1024 * 1024;
}

/** The config file and field behind each variable trainguard gives the algorithm. */
export function envOrigins(config: JobConfig, paths: MlPaths, extra: Readonly<Record<string, Origin>> = {}): (name: string) => Origin {
  const hpNames = new Map(Object.keys(config.hyperparameters).map((name) => [`SM_HP_${envName(name)}`, name]));
  const channelNames = new Map(config.channels.map((c) => [`SM_CHANNEL_${envName(c.name)}`, c.name]));
  return (name) => {
    const known = extra[name];
    if (known) return known;
    const hp = hpNames.get(name);
    if (hp !== undefined) return { source: paths.hyperparameters, field: hp };
    const channel = channelNames.get(name);
    if (channel !== undefined) return { source: paths.inputDataConfig, field: channel };
    switch (name) {
      case "SM_HPS":
      case "SM_USER_ARGS":
        return { source: paths.hyperparameters, field: undefined };
      case "SM_CHANNELS":
      case "SM_INPUT_DATA_CONFIG":
        return { source: paths.inputDataConfig, field: undefined };
      case "SM_CURRENT_HOST":
        return { source: paths.resourceConfig, field: "current_host" };
      case "SM_HOSTS":
      case "SM_RESOURCE_CONFIG":
        return { source: paths.resourceConfig, field: undefined };
      case "SM_TRAINING_ENV": {
        // It holds the hyperparameters and every channel's dir: the bigger share is to blame.
        const hpBytes = JSON.stringify(config.hyperparameters).length;
        const channelBytes = config.channels.reduce((sum, c) => sum + c.name.length + c.dir.length + 6, 0);
        return { source: hpBytes >= channelBytes ? paths.hyperparameters : paths.inputDataConfig, field: undefined };
      }
      default:
        return { source: `environment variable ${name}`, field: undefined };
    }
  };
}
