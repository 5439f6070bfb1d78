import { constants as osConstants } from "node:os";
import { ConfigError, refuseRootCheckpointDir } from "../contract/index.js";

// One validator per kind of value. Each takes what the user gave: text from the command line or a
// TRAINGUARD_* variable, or (for numbers) the number runTraining was given; `source` names it.

export const MAX_GRACE_SECONDS = 7 * 24 * 3600;

/** `off`, `auto` (at most half the free space of the copies' filesystem) or a byte budget. */
export type IntactBudget = "off" | "auto" | number;

/** The value quoted, for messages: the same words whether it came as text or as runTraining's number. */
function shown(value: string | number): string {
  return JSON.stringify(String(value));
}

export function anyText(value: string): string {
  return value;
}

export function parseGrace(value: string | number, source: string): number {
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > MAX_GRACE_SECONDS) {
    throw new ConfigError(source, undefined, `must be a number of seconds above 0 and at most ${MAX_GRACE_SECONDS}, got ${shown(value)}`);
  }
  return seconds;
}

export function parseKeep(value: string | number, source: string): number {
  const keep = Number(value);
  if (!Number.isInteger(keep) || keep < 1) throw new ConfigError(source, undefined, `must be a whole number of checkpoints, at least 1, got ${shown(value)}`);
  return keep;
}

export function parseCheckpointDir(value: string, source: string): string {
  refuseRootCheckpointDir(value, source);
  return value;
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

export function oneOf<const T extends readonly string[]>(choices: T): (value: string, source: string) => T[number] {
  return (value, source) => {
    if (!choices.includes(value)) throw new ConfigError(source, undefined, `must be one of ${choices.join(", ")}, got ${JSON.stringify(value)}`);
    return value;
  };
}

export function parseEndpoint(value: string, source: string): string {
  if (!/^https?:\/\/[^/\s]+/.test(value)) throw new ConfigError(source, undefined, `must be an http(s) URL such as http://127.0.0.1:9000, got ${JSON.stringify(value)}`);
  return value;
}

export function parseMarkers(value: string, source: string): string[] {
  const markers = value.split(",").map((m) => m.trim());
  if (markers.some((m) => m === "" || m.includes("/") || m === "." || m === "..")) {
    throw new ConfigError(source, undefined, `must be comma-separated file names, got ${JSON.stringify(value)}`);
  }
  return markers;
}

const SIZE_UNITS: Record<string, number> = { "": 1, b: 1, k: 1e3, kb: 1e3, kib: 1024, m: 1e6, mb: 1e6, mib: 1024 ** 2, g: 1e9, gb: 1e9, gib: 1024 ** 3, t: 1e12, tb: 1e12, tib: 1024 ** 4 };

/** `--keep-intact`: off, auto, or a size (`500MB`, `2GiB`, plain bytes). */
export function parseKeepIntact(value: string, source: string): IntactBudget {
  const lower = value.trim().toLowerCase();
  if (lower === "off" || lower === "auto") return lower;
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/.exec(lower);
  const unit = match ? SIZE_UNITS[match[2] ?? ""] : undefined;
  if (!match || unit === undefined) {
    throw new ConfigError(source, undefined, `must be off, auto or a size such as 500MB or 2GiB, got ${JSON.stringify(value)}`);
  }
  const bytes = Math.floor(Number(match[1]) * unit);
  return bytes === 0 ? "off" : bytes;
}
