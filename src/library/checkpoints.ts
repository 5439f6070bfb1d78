import { randomBytes } from "node:crypto";
import { open, readdir, rename, rm, mkdir, stat } from "node:fs/promises";
import path from "node:path";
import { fsyncDirectory } from "../contract/index.js";
import { DEFAULT_COMMIT_MARKERS, selectCheckpoint } from "../artifacts/index.js";

/** trainguard's own commit marker: present means every other file of the checkpoint is on disk. */
export const COMMIT_MARKER = DEFAULT_COMMIT_MARKERS[0] as string;
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export interface SavedCheckpoint {
  readonly name: string;
  readonly dir: string;
}

/**
 * Write a checkpoint so that it is either complete or invisible: the writer fills a fresh hidden
 * directory beside the final one (same filesystem, so the rename is atomic and nothing crosses
 * devices or fills /tmp); every file is fsynced, the marker is written last, then the directory
 * is renamed into place. A writer that throws leaves nothing behind and the previous checkpoints
 * untouched. Checkpoints beyond the newest `keep` are removed afterwards.
 */
export async function saveCheckpoint(
  checkpointDir: string,
  name: string,
  writer: (dir: string) => Promise<void>,
  keep: number,
): Promise<SavedCheckpoint> {
  if (!SAFE_NAME.test(name)) {
    throw new Error(`checkpoint name ${JSON.stringify(name)} must match ${SAFE_NAME.source} (it becomes a directory name)`);
  }
  await mkdir(checkpointDir, { recursive: true });
  const staging = path.join(checkpointDir, `.${name}.partial-${randomBytes(4).toString("hex")}`);
  await mkdir(staging);
  try {
    await writer(staging);
    await fsyncTree(staging);
    const marker = await open(path.join(staging, COMMIT_MARKER), "w");
    await marker.writeFile(`${JSON.stringify({ name, committedAt: new Date().toISOString() })}\n`);
    await marker.sync();
    await marker.close();
    fsyncDirectory(staging);
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw err;
  }
  const final = path.join(checkpointDir, name);
  const previous = await exists(final) ? path.join(checkpointDir, `.${name}.replaced-${randomBytes(4).toString("hex")}`) : undefined;
  if (previous) await rename(final, previous);
  await rename(staging, final);
  fsyncDirectory(checkpointDir);
  if (previous) await rm(previous, { recursive: true, force: true });
  await pruneCheckpoints(checkpointDir, keep);
  return { name, dir: final };
}

/** The newest complete checkpoint, by the same rule the stop path uses to package one. */
export async function latestCheckpoint(checkpointDir: string): Promise<SavedCheckpoint | null> {
  if (!(await exists(checkpointDir))) return null;
  const selection = await selectCheckpoint(checkpointDir);
  return selection.kind === "directory" ? { name: selection.name, dir: selection.dir } : null;
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
      await handle.sync();
      await handle.close();
    }
  }
  fsyncDirectory(dir);
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}
