import type { Dirent, Stats } from "node:fs";
import { lstat, readdir } from "node:fs/promises";
import path from "node:path";
import { safeRelativeKey } from "../storage/index.js";
import { LOCAL_TEMP_PREFIX, NAME_ORDER, SYNC_INDEX_NAME } from "./layout.js";

export interface LocalCheckpoint {
  readonly name: string;
  readonly dir: string;
  /** mtime of its newest marker: the commit order, as the packaging path sees it. */
  readonly committedAtMs: number;
}

export interface LocalFile {
  /** "/"-separated, relative to the checkpoint. */
  readonly rel: string;
  readonly abs: string;
  readonly size: number;
  /** Changes whenever the content may have: the hash cache's key. */
  readonly identity: string;
}

export interface LocalListing {
  readonly files: LocalFile[];
  /** Entries an object store cannot hold (links, sockets...) or that are reserved: left out, with why. */
  readonly skipped: Array<{ rel: string; reason: string }>;
}

/**
 * Complete checkpoints, newest commit first: subdirectories holding a marker. Same rule as
 * selectCheckpoint (newest marker mtime, name as tie-break), but every one of them, not only the
 * newest, and without walking their files.
 */
export async function scanLocal(checkpointDir: string, markers: readonly string[]): Promise<LocalCheckpoint[]> {
  let dirents: Dirent[];
  try {
    dirents = await readdir(checkpointDir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const complete: LocalCheckpoint[] = [];
  for (const d of dirents) {
    if (!d.isDirectory() || d.name.startsWith(LOCAL_TEMP_PREFIX) || !isKeySafe(d.name)) continue;
    const dir = path.join(checkpointDir, d.name);
    const committedAtMs = await commitTime(dir, markers);
    if (committedAtMs !== undefined) complete.push({ name: d.name, dir, committedAtMs });
  }
  return complete.sort((a, b) => b.committedAtMs - a.committedAtMs || NAME_ORDER.compare(b.name, a.name));
}

/** Newest marker mtime, or undefined when the directory holds no marker (or is gone). */
export async function commitTime(dir: string, markers: readonly string[]): Promise<number | undefined> {
  let newest: number | undefined;
  for (const marker of markers) {
    const st = await lstat(path.join(dir, marker)).catch(() => undefined);
    if (st?.isFile() === true && (newest === undefined || st.mtimeMs > newest)) newest = st.mtimeMs;
  }
  return newest;
}

/** Regular files of a checkpoint, recursively, in a stable order. */
export async function listCheckpointFiles(dir: string): Promise<LocalListing> {
  const listing: LocalListing = { files: [], skipped: [] };
  await walk(dir, "", listing);
  listing.files.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  return listing;
}

async function walk(dir: string, relDir: string, out: LocalListing): Promise<void> {
  const dirents = await readdir(dir, { withFileTypes: true });
  for (const d of dirents) {
    const rel = relDir === "" ? d.name : `${relDir}/${d.name}`;
    const abs = path.join(dir, d.name);
    if (rel === SYNC_INDEX_NAME) {
      out.skipped.push({ rel, reason: "reserved: the sync writes its own index under this name" });
      continue;
    }
    if (!isKeySafe(rel)) {
      out.skipped.push({ rel, reason: "not usable as an object key" });
      continue;
    }
    let st: Stats;
    try {
      st = await lstat(abs);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw err;
    }
    if (st.isDirectory()) await walk(abs, rel, out);
    else if (st.isFile()) out.files.push({ rel, abs, size: st.size, identity: identityOf(st) });
    // An object store holds no links: a resume would turn one into a copy, or a dangling name.
    else out.skipped.push({ rel, reason: st.isSymbolicLink() ? "symbolic link" : "not a regular file" });
  }
}

/**
 * What says a file still holds the bytes it held: device, inode, size, mtime. Not ctime: it also
 * moves when a hard link is made, and `--model-layout files` links checkpoint files into the model
 * dir while the flush reads them, which would fail the flush over a change that changes nothing.
 */
export function identityOf(st: Stats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
}

function isKeySafe(rel: string): boolean {
  try {
    safeRelativeKey("", rel);
    return true;
  } catch {
    return false;
  }
}
