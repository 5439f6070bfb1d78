import { chmod, link, lstat, mkdir, open, readFile, rename, rm, rmdir, stat, symlink, unlink } from "node:fs/promises";
import { createHash, randomBytes } from "node:crypto";
import type { FileHandle } from "node:fs/promises";
import path from "node:path";
import { fsyncDirectory, writeFileAtomic } from "../contract/index.js";
import type { Logger } from "../log/index.js";
import type { ArtifactResult, ManifestFile, PackableSelection, PackEntry, ProgressInfo, SkippedEntry, StopReason } from "./types.js";
import { errnoCode, errorMessage } from "../contract/index.js";
import { FileChangedError, PackagingError } from "./errors.js";
import { MANIFEST_NAME, compareNames, isSafeArchivePath } from "./paths.js";
import { EMPTY_SHA256, manifestFile, parseManifest, serializeManifest, trainguardVersion } from "./manifest.js";
import { progressMeter, type ProgressMeter } from "./progress.js";
import { READ_FLAGS } from "./open-flags.js";
import { artifactWarnings } from "./attempts.js";

export interface PlaceOptions {
  modelDir: string;
  jobName: string;
  reason: StopReason;
  signal: AbortSignal;
  log?: Logger;
  onProgress?: (p: ProgressInfo) => void;
  started: number;
  createdAt: string;
}

const READ_CHUNK = 1 << 20;

/**
 * Layout "files": the checkpoint's files placed into the model dir, hard-linked when on the same
 * filesystem (instant, no extra space), copied otherwise; each hashed once. A directory cannot be
 * swapped atomically, so validity is carried by the manifest instead: the old one is removed
 * first and the new one written last, and a dir without a manifest is not an artifact.
 */
export async function placeFiles(selection: PackableSelection, opts: PlaceOptions): Promise<ArtifactResult> {
  const { modelDir, signal } = opts;
  const manifestPath = path.join(modelDir, MANIFEST_NAME);
  const previous = await previousPaths(manifestPath);
  await unlink(manifestPath).catch((err: unknown) => {
    if (errnoCode(err) !== "ENOENT") throw err;
  });
  fsyncDirectory(modelDir);

  const sameFs = (await stat(selection.dir)).dev === (await stat(modelDir)).dev;
  let linking = sameFs;
  const total = selection.files.reduce((n, e) => n + e.size, 0);
  const meter = progressMeter(total, opts.onProgress);
  const files: ManifestFile[] = [];
  const skipped: SkippedEntry[] = [...selection.skipped];
  const touchedDirs = new Set<string>([modelDir]);
  const placed = new Set<string>();

  for (const entry of selection.files) {
    signal.throwIfAborted();
    const target = path.join(modelDir, ...entry.path.split("/"));
    touchedDirs.add(path.dirname(target));
    if (entry.type === "directory") {
      await ensureDirectory(target, entry.mode);
      files.push(manifestFile(entry, EMPTY_SHA256));
      placed.add(entry.path);
      continue;
    }
    const tmp = `${target}.${randomBytes(4).toString("hex")}.trainguard-tmp`;
    try {
      let sha256 = EMPTY_SHA256;
      let size = 0;
      if (entry.type === "symlink") {
        await symlink(entry.linkTarget ?? "", tmp);
      } else {
        if (linking) {
          try {
            await link(entry.abs, tmp);
          } catch (err) {
            const code = errnoCode(err);
            if (code !== "EXDEV" && code !== "EPERM" && code !== "EMLINK") throw err;
            linking = false;
          }
        }
        ({ sha256, size } = linking ? await hashInPlace(entry, tmp, signal, meter) : await copyHashing(entry, tmp, signal, meter));
      }
      await replace(tmp, target);
      files.push(manifestFile({ ...entry, size }, sha256));
      placed.add(entry.path);
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined);
      if (!(err instanceof FileChangedError)) throw err;
      if (selection.kind === "directory") {
        throw new PackagingError("IO", `checkpoint ${selection.name} changed after it was committed: ${err.message}`, { cause: err });
      }
      opts.log?.warn({ event: "artifact.skip", path: entry.path, reason: err.detail }, "file changed while placing; skipped");
      skipped.push({ path: entry.path, reason: `changed while being packaged: ${err.detail}` });
    }
  }
  meter.finish();
  await removeLeftovers(modelDir, previous, placed);
  for (const dir of touchedDirs) fsyncDirectory(dir);

  const manifest = {
    job: opts.jobName,
    checkpoint: selection.kind === "directory" ? selection.name : path.basename(path.resolve(selection.dir)),
    reason: opts.reason,
    createdAt: opts.createdAt,
    trainguardVersion: await trainguardVersion(),
    compression: "none" as const,
    layout: "files" as const,
    files,
    skipped,
  };
  signal.throwIfAborted();
  const body = serializeManifest(manifest);
  await writeFileAtomic(manifestPath, body, true);
  return {
    path: modelDir,
    bytes: files.reduce((n, f) => n + f.size, 0),
    sha256: createHash("sha256").update(body).digest("hex"),
    compression: "none",
    layout: "files",
    manifestPath,
    files: files.filter((f) => f.type === "file").length,
    durationMs: Date.now() - opts.started,
    checkpoint: manifest.checkpoint,
    skipped,
    warnings: artifactWarnings(selection, skipped),
  };
}

async function previousPaths(manifestPath: string): Promise<string[]> {
  try {
    const parsed = parseManifest(await readFile(manifestPath, "utf8"));
    // A tampered manifest must not steer deletions outside the model dir.
    return "manifest" in parsed ? parsed.manifest.files.map((f) => f.path).filter(isSafeArchivePath) : [];
  } catch {
    return [];
  }
}

async function ensureDirectory(target: string, mode: number): Promise<void> {
  const st = await lstat(target).catch(() => undefined);
  if (st && !st.isDirectory()) await rm(target, { force: true });
  if (!st?.isDirectory()) await mkdir(target, { recursive: true });
  // Owner keeps write access: the next packaging must be able to replace what is inside.
  await chmod(target, mode | 0o700);
}

/** rename() cannot replace a directory with a file: clear one that is in the way. */
async function replace(tmp: string, target: string): Promise<void> {
  try {
    await rename(tmp, target);
  } catch (err) {
    const code = errnoCode(err);
    if (code !== "EISDIR" && code !== "ENOTEMPTY" && code !== "EEXIST" && code !== "ENOTDIR") throw err;
    await rm(target, { recursive: true, force: true });
    await rename(tmp, target);
  }
}

/** The hard link shares the inode: hash it through the link and fsync, since the writer may not have. */
async function hashInPlace(entry: PackEntry, linked: string, signal: AbortSignal, meter: ProgressMeter): Promise<{ sha256: string; size: number }> {
  const fh = await open(linked, READ_FLAGS);
  try {
    const read = await readHashing(entry, fh, signal, meter, async () => undefined);
    await fh.sync();
    return read;
  } finally {
    await fh.close();
  }
}

async function copyHashing(entry: PackEntry, tmp: string, signal: AbortSignal, meter: ProgressMeter): Promise<{ sha256: string; size: number }> {
  const src = await open(entry.abs, READ_FLAGS).catch((err: unknown) => {
    throw new FileChangedError(entry.path, `cannot open: ${errorMessage(err)}`);
  });
  try {
    const dst = await open(tmp, "wx", entry.mode | 0o600);
    try {
      const read = await readHashing(entry, src, signal, meter, async (data) => {
        let off = 0;
        while (off < data.length) off += (await dst.write(data, off, data.length - off)).bytesWritten;
      });
      await dst.chmod(entry.mode);
      await dst.sync();
      return read;
    } finally {
      await dst.close();
    }
  } finally {
    await src.close();
  }
}

/**
 * Reads the whole file once, hashing it and handing each chunk to `onChunk`; a file that shrank,
 * or whose size or mtime moved while it was read, is a FileChangedError (its tar header would lie).
 */
async function readHashing(
  entry: PackEntry,
  fh: FileHandle,
  signal: AbortSignal,
  meter: ProgressMeter,
  onChunk: (data: Buffer) => Promise<void>,
): Promise<{ sha256: string; size: number }> {
  const before = await fh.stat({ bigint: true });
  const size = Number(before.size);
  const hash = createHash("sha256");
  const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, Math.max(1, size)));
  let position = 0;
  while (position < size) {
    signal.throwIfAborted();
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - position), position);
    if (bytesRead === 0) throw new FileChangedError(entry.path, `shrank to ${position} bytes while being read`);
    const data = buf.subarray(0, bytesRead);
    hash.update(data);
    await onChunk(data);
    position += bytesRead;
    meter.add(bytesRead);
  }
  const after = await fh.stat({ bigint: true });
  if (after.size !== before.size || after.mtimeNs !== before.mtimeNs) throw new FileChangedError(entry.path, "modified while being read");
  return { sha256: hash.digest("hex"), size };
}

/** Files an earlier packaging placed that the new checkpoint does not have. Only those: never user files. */
async function removeLeftovers(modelDir: string, previous: readonly string[], placed: ReadonlySet<string>): Promise<void> {
  const gone = previous.filter((p) => !placed.has(p)).sort(compareNames).reverse();
  for (const rel of gone) {
    const abs = path.join(modelDir, ...rel.split("/"));
    const st = await lstat(abs).catch(() => undefined);
    if (!st) continue;
    if (st.isDirectory()) await rmdir(abs).catch(() => undefined);
    else await unlink(abs).catch(() => undefined);
  }
}
