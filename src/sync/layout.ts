import { ConfigError, errorMessage } from "../contract/index.js";
import { safeRelativeKey, type ObjectEntry } from "../storage/index.js";

/**
 * Written into each remote checkpoint after its files and before its marker: names, sizes and
 * sha256 of what the marker vouches for. It lets a later run (or a resume) know what is remote
 * without downloading it. Never a local file name the sync uploads.
 */
export const SYNC_INDEX_NAME = ".trainguard-sync.json";

/** Local directories trainguard itself creates beside checkpoints (resume staging): never checkpoints. */
export const LOCAL_TEMP_PREFIX = ".trainguard-";

/** The prefix without trailing slashes, checked once so every key built on it is valid. */
export function normalizePrefix(prefix: string, source: string): string {
  const trimmed = prefix.replace(/\/+$/, "");
  if (trimmed === "") return "";
  try {
    safeRelativeKey("", trimmed);
  } catch (err) {
    throw new ConfigError(source, "prefix", errorMessage(err));
  }
  return trimmed;
}

/** `<prefix>/<checkpoint>/`: with the slash, so checkpoint-1 never matches checkpoint-10. */
export function checkpointKeyPrefix(prefix: string, name: string): string {
  return prefix === "" ? `${name}/` : `${prefix}/${name}/`;
}

export function fileKey(prefix: string, name: string, rel: string): string {
  return `${checkpointKeyPrefix(prefix, name)}${rel}`;
}

/** Where everything under the prefix lives: "" or "<prefix>/". */
export function listingPrefix(prefix: string): string {
  return prefix === "" ? "" : `${prefix}/`;
}

/** A listing grouped by checkpoint: name -> (relative path -> size). */
export type GroupedListing = Map<string, Map<string, number>>;

/**
 * Group keys under `prefix` by their first segment. Every key passes safeRelativeKey first: a key
 * with "..", an empty segment or an absolute path goes to `onUnsafe` (which may throw) and is
 * never grouped. Objects directly under the prefix belong to no checkpoint and are left out.
 */
export function groupListing(prefix: string, entries: readonly ObjectEntry[], onUnsafe: (key: string, problem: string) => void): GroupedListing {
  const groups: GroupedListing = new Map();
  for (const entry of entries) {
    let rel: string;
    try {
      rel = safeRelativeKey(prefix, entry.key);
    } catch (err) {
      onUnsafe(entry.key, errorMessage(err));
      continue;
    }
    const slash = rel.indexOf("/");
    if (slash === -1) continue;
    const name = rel.slice(0, slash);
    let files = groups.get(name);
    if (files === undefined) groups.set(name, (files = new Map()));
    files.set(rel.slice(slash + 1), entry.size);
  }
  return groups;
}

/** Markers are files at the top of a checkpoint. */
export function isMarker(rel: string, markers: readonly string[]): boolean {
  return markers.includes(rel);
}

/** checkpoint-100 after checkpoint-99: the tie-break when commit times are equal or unknown. */
export const NAME_ORDER = new Intl.Collator("en", { numeric: true });
