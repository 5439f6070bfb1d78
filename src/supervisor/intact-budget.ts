import { ConfigError } from "../contract/index.js";

/** `off`, `auto` (at most half the free space of the copies' filesystem) or a byte budget. */
export type IntactBudget = "off" | "auto" | number;

const UNITS: Record<string, number> = { "": 1, b: 1, k: 1e3, kb: 1e3, kib: 1024, m: 1e6, mb: 1e6, mib: 1024 ** 2, g: 1e9, gb: 1e9, gib: 1024 ** 3, t: 1e12, tb: 1e12, tib: 1024 ** 4 };

/** `--keep-intact`: off, auto, or a size (`500MB`, `2GiB`, plain bytes). */
export function parseKeepIntact(value: string, source: string): IntactBudget {
  const lower = value.trim().toLowerCase();
  if (lower === "off" || lower === "auto") return lower;
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/.exec(lower);
  const unit = match ? UNITS[match[2] ?? ""] : undefined;
  if (!match || unit === undefined) {
    throw new ConfigError(source, undefined, `must be off, auto or a size such as 500MB or 2GiB, got ${JSON.stringify(value)}`);
  }
  const bytes = Math.floor(Number(match[1]) * unit);
  return bytes === 0 ? "off" : bytes;
}
