import { errorMessage } from "../contract/index.js";

/** What the sync index says about one file. */
export interface IndexedFile {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
  /** sha256 of the first PROBE_BYTES: lets a same-sized local file be told apart cheaply. */
  readonly probe: string;
}

export interface SyncIndex {
  readonly format: typeof SYNC_INDEX_FORMAT;
  readonly checkpoint: string;
  /** The local marker's mtime when it was uploaded: remote order is local commit order. */
  readonly committedAtMs: number;
  readonly markers: readonly string[];
  /** Every file of the checkpoint, markers included. */
  readonly files: readonly IndexedFile[];
}

export const SYNC_INDEX_FORMAT = "trainguard-sync/1";
/** Plenty for hundreds of thousands of files; anything larger is not ours. */
export const MAX_SYNC_INDEX_BYTES = 64 * 1024 * 1024;

export function encodeSyncIndex(index: SyncIndex): Buffer {
  return Buffer.from(`${JSON.stringify(index, null, 1)}\n`);
}

const HEX64 = /^[0-9a-f]{64}$/;

/** The index, or a reason it cannot be trusted (then the checkpoint is treated as unindexed). */
export function parseSyncIndex(text: string, name: string): SyncIndex | { problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { problem: `not JSON: ${errorMessage(err)}` };
  }
  const v = value as Partial<Record<keyof SyncIndex, unknown>>;
  if (typeof v !== "object" || v === null || v.format !== SYNC_INDEX_FORMAT) return { problem: `format is not ${SYNC_INDEX_FORMAT}` };
  if (v.checkpoint !== name) return { problem: `written for checkpoint ${JSON.stringify(v.checkpoint)}` };
  if (typeof v.committedAtMs !== "number" || !Number.isFinite(v.committedAtMs)) return { problem: "committedAtMs is not a number" };
  if (!Array.isArray(v.markers) || !v.markers.every((m) => typeof m === "string")) return { problem: "markers is not a list of names" };
  if (!Array.isArray(v.files)) return { problem: "files is not a list" };
  for (const f of v.files as Array<Partial<Record<keyof IndexedFile, unknown>>>) {
    const ok =
      typeof f === "object" &&
      f !== null &&
      typeof f.path === "string" &&
      typeof f.size === "number" &&
      Number.isSafeInteger(f.size) &&
      f.size >= 0 &&
      typeof f.sha256 === "string" &&
      HEX64.test(f.sha256) &&
      typeof f.probe === "string" &&
      HEX64.test(f.probe);
    if (!ok) return { problem: `file entry ${JSON.stringify(f).slice(0, 200)} is malformed` };
  }
  return v as SyncIndex;
}
