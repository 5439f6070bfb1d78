import { randomBytes } from "node:crypto";
import { open, readdir, rename, rm, rmdir, mkdir, stat } from "node:fs/promises";
import path from "node:path";
import { fsyncDirectory } from "../contract/index.js";
import { DEFAULT_COMMIT_MARKERS, selectCheckpoint } from "../artifacts/index.js";
import { leftByGoneProcesses } from "../proc/index.js";

/** trainguard's own commit marker: present means every other file of the checkpoint is on disk. */
export const COMMIT_MARKER = DEFAULT_COMMIT_MARKERS[0] as string;

/**
 * The markers that make a checkpoint complete when the user names their own (`commitMarkers`):
 * theirs, and always trainguard's, which saveCheckpoint writes. Undefined: the default set.
 */
export function commitMarkersWith(userMarkers: readonly string[] | undefined): string[] | undefined {
  return userMarkers ? [...new Set([COMMIT_MARKER, ...userMarkers])] : undefined;
}
/**
 * Where saves are staged: inside the checkpoint dir (same filesystem, so the final rename is atomic
 * and nothing crosses devices or fills /tmp), but one level down, so a staged checkpoint whose
 * marker is already written is still not a subdirectory with a marker: neither packaging nor
 * resume can pick it before it is renamed into place. The `.trainguard-` prefix is the one the
 * checkpoint sync never uploads.
 */
export const STAGING_DIR = ".trainguard-staging";
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export interface SavedCheckpoint {
  readonly name: string;
  readonly dir: string;
}

export interface SaveOptions {
  /** Keep this many of trainguard's committed checkpoints (the newest); at least 1. */
  readonly keep: number;
  /** Throws to refuse the commit (the stop path has already chosen what to package). */
  readonly beforeCommit?: () => void;
  /** False while something may be reading the older checkpoints (packaging): pruning waits. */
  readonly mayPrune?: () => boolean;
}

/**
 * Write a checkpoint so that it is either complete or invisible: the writer fills a fresh staging
 * directory; every file is fsynced, the marker is written last, then the directory is renamed into
 * place. A writer that throws leaves nothing behind and the previous checkpoints untouched.
 * Checkpoints beyond the newest `keep` are removed afterwards.
 */
export async function saveCheckpoint(
  checkpointDir: string,
  name: string,
  writer: (dir: string) => Promise<void>,
  options: SaveOptions,
): Promise<SavedCheckpoint> {
  if (!SAFE_NAME.test(name)) {
    throw new Error(`checkpoint name ${JSON.stringify(name)} must match ${SAFE_NAME.source} (it becomes a directory name)`);
  }
  const stagingRoot = path.join(checkpointDir, STAGING_DIR);
  await mkdir(stagingRoot, { recursive: true });
  const staging = path.join(stagingRoot, `${name}.${process.pid}.${randomBytes(4).toString("hex")}.partial`);
  await mkdir(staging);
  const final = path.join(checkpointDir, name);
  let aside: string | undefined;
  try {
    await writer(staging);
    await fsyncTree(staging);
    const marker = await open(path.join(staging, COMMIT_MARKER), "w");
    try {
      await marker.writeFile(`${JSON.stringify({ name, committedAt: new Date().toISOString() })}\n`);
      await marker.sync();
    } finally {
      await marker.close();
    }
    fsyncDirectory(staging);
    options.beforeCommit?.();
    // rename() cannot replace a non-empty directory: an older checkpoint of the same name steps aside first.
    if (await exists(final)) {
      aside = path.join(stagingRoot, `${name}.${process.pid}.${randomBytes(4).toString("hex")}.replaced`);
      await rename(final, aside);
    }
    await rename(staging, final);
    fsyncDirectory(checkpointDir);
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    if (aside !== undefined && !(await exists(final))) await rename(aside, final).catch(() => undefined);
    await removeIfEmpty(stagingRoot);
    throw err;
  }
  if (aside !== undefined) await rm(aside, { recursive: true, force: true });
  await removeIfEmpty(stagingRoot);
  if (options.mayPrune?.() ?? true) await pruneCheckpoints(checkpointDir, options.keep);
  return { name, dir: final };
}

/** The newest complete checkpoint, by the same rule the stop path uses to package one. */
export async function latestCheckpoint(checkpointDir: string, markers?: readonly string[]): Promise<SavedCheckpoint | null> {
  if (!(await exists(checkpointDir))) return null;
  const selection = await selectCheckpoint(checkpointDir, markers ? { markers: [...markers] } : {});
  return selection.kind === "directory" ? { name: selection.name, dir: selection.dir } : null;
}

/**
 * What an earlier process left when it died mid-save (SIGKILL, power loss): staged directories of
 * pids that no longer run, or of our own pid (in a container every run is PID 1 or close to it,
 * and this runs before our first save). Other live processes' saves are left alone.
 */
export async function removeStaleStaging(checkpointDir: string): Promise<string[]> {
  const stagingRoot = path.join(checkpointDir, STAGING_DIR);
  const ownerOf = (entry: string): number | undefined => {
    const pid = Number(entry.split(".").at(-3));
    return Number.isInteger(pid) ? pid : undefined;
  };
  const removed = await leftByGoneProcesses(stagingRoot, ownerOf, { ownIsLeftover: true, unknownIsLeftover: true });
  for (const entry of removed) await rm(path.join(stagingRoot, entry), { recursive: true, force: true });
  await removeIfEmpty(stagingRoot);
  return removed;
}

/** Keep the newest `keep` checkpoints committed by trainguard; never touches anyone else's. */
async function pruneCheckpoints(checkpointDir: string, keep: number): Promise<void> {
  const committed: { dir: string; mtimeMs: number }[] = [];
  for (const entry of await readdir(checkpointDir, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith(".")) continue;
    const dir = path.join(checkpointDir, entry.name);
    const marker = await stat(path.join(dir, COMMIT_MARKER)).catch(() => undefined);
    if (marker) committed.push({ dir, mtimeMs: marker.mtimeMs });
  }
  committed.sort((a, b) => b.mtimeMs - a.mtimeMs);
  for (const old of committed.slice(Math.max(1, keep))) await rm(old.dir, { recursive: true, force: true });
}

async function fsyncTree(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) await fsyncTree(full);
    else if (entry.isFile()) {
      const handle = await open(full, "r");
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
  }
  fsyncDirectory(dir);
}

/** A concurrent save may still use it: only an empty staging root goes. */
async function removeIfEmpty(dir: string): Promise<void> {
  await rmdir(dir).catch(() => undefined);
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}
