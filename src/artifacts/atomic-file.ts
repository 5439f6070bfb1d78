import { open, rename, unlink } from "node:fs/promises";
import { renameSync, rmSync } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { createHash } from "node:crypto";
import path from "node:path";
import { atomicTempOwner, atomicTempPath, fsyncDirectory } from "../contract/index.js";
import { raceAbort } from "../async/index.js";
import { leftByGoneProcesses } from "../proc/index.js";
import type { StageObserver } from "./follow-file.js";
import { writeChunks } from "./pipelined-write.js";

/** A complete, fsynced file at a temporary name beside its final one, not yet visible. */
export interface StagedFile {
  readonly path: string;
  readonly tmpPath: string;
  readonly bytes: number;
  readonly sha256: string;
  /** Rename over the final name (atomic: readers see the old file or the new one). */
  commit(opts?: { syncDirectory?: boolean }): Promise<void>;
  /** Remove the temporary file; the final name is untouched. */
  discard(): Promise<void>;
}

/** Below this, a writer thread's start-up (tens of ms, more on a busy machine) outweighs what it saves. */
const THREAD_MIN_BYTES = 32 << 20;

/**
 * Write `source` to a temporary sibling of `finalPath`, hashing as it goes (a stream: pipelined, see
 * writeChunks), and fsync it. On any
 * failure, abort included, the temporary file is removed and the error rethrown; `finalPath` is
 * never touched until commit(). An observer (a reader following the file) is told what is written.
 */
export async function stageFile(
  source: AsyncIterable<Uint8Array> | Uint8Array,
  finalPath: string,
  opts: {
    signal?: AbortSignal;
    observer?: StageObserver;
    recycle?: (memory: ArrayBuffer) => void;
    /** Expected size: a small file is written on the main thread (a thread costs more than it saves). */
    sizeHint?: number;
  } = {},
): Promise<StagedFile> {
  const tmpPath = atomicTempPath(finalPath);
  let bytes = 0;
  let sha256 = "";
  const fh = await open(tmpPath, "wx", 0o644);
  const observer = opts.observer;
  const iterator = source instanceof Uint8Array ? undefined : source[Symbol.asyncIterator]();
  // Every slow await races the abort: a stuck read or a long fsync must not hold the caller past
  // its deadline. What was raced away finishes in the background and is ignored.
  const race = <T>(p: Promise<T>): Promise<T> => raceAbort(p, opts.signal);
  try {
    await observer?.opened(tmpPath);
    if (iterator === undefined) {
      const data = source as Uint8Array;
      sha256 = createHash("sha256").update(data).digest("hex");
      await race(writeAll(fh, data));
      bytes = data.length;
    } else {
      ({ bytes, sha256 } =
        opts.sizeHint !== undefined && opts.sizeHint < THREAD_MIN_BYTES
          ? await writeChunksHere(fh, iterator, race, observer)
          : await writeChunks(fh, iterator, race, observer, opts.recycle));
    }
    await race(fh.sync());
    await fh.close();
  } catch (err) {
    observer?.failed(err instanceof Error ? err : new Error(String(err)));
    if (iterator?.return) iterator.return().catch(() => undefined);
    await fh.close().catch(() => undefined);
    await unlink(tmpPath).catch(() => undefined);
    throw err;
  }
  return {
    path: finalPath,
    tmpPath,
    bytes,
    sha256,
    async commit(commitOpts = {}) {
      try {
        await rename(tmpPath, finalPath);
      } catch (err) {
        await unlink(tmpPath).catch(() => undefined);
        throw err;
      }
      if (commitOpts.syncDirectory ?? true) fsyncDirectory(path.dirname(finalPath));
    },
    async discard() {
      await unlink(tmpPath).catch(() => undefined);
    },
  };
}

/**
 * Rename staged files into place back to back, synchronously: two renames cannot be one atomic
 * step, but done without yielding to the event loop they leave the narrowest window for a kill
 * to land between them (a SIGKILL test saw an async gap often enough to matter). Microseconds of
 * blocking, once, at the very end. If a later rename fails, the ones before it stay done.
 */
export function commitTogether(files: readonly StagedFile[]): void {
  for (const [i, f] of files.entries()) {
    try {
      renameSync(f.tmpPath, f.path);
    } catch (err) {
      for (const rest of files.slice(i)) rmSync(rest.tmpPath, { force: true });
      throw err;
    }
  }
  for (const dir of new Set(files.map((f) => path.dirname(f.path)))) fsyncDirectory(dir);
}

/** Stage and commit: the file at `finalPath` is either the old one or the complete new one. */
export async function writeStreamAtomic(
  source: AsyncIterable<Uint8Array> | Uint8Array,
  finalPath: string,
  opts: { signal?: AbortSignal } = {},
): Promise<{ bytes: number; sha256: string }> {
  const staged = await stageFile(source, finalPath, opts);
  await staged.commit();
  return { bytes: staged.bytes, sha256: staged.sha256 };
}

/** The simple loop, for small files: hash and write each chunk in turn on this thread. */
async function writeChunksHere(
  fh: FileHandle,
  iterator: AsyncIterator<Uint8Array>,
  race: <T>(p: Promise<T>) => Promise<T>,
  observer: StageObserver | undefined,
): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash("sha256");
  let bytes = 0;
  for (;;) {
    const next = await race(iterator.next());
    if (next.done) break;
    hash.update(next.value);
    await race(writeAll(fh, next.value));
    bytes += next.value.length;
    observer?.wrote(bytes);
  }
  return { bytes, sha256: hash.digest("hex") };
}

async function writeAll(fh: FileHandle, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    const { bytesWritten } = await fh.write(data, offset, data.length - offset);
    offset += bytesWritten;
  }
}

/**
 * Temporary files of ours left by a process that was killed (SIGKILL at the deadline): they only
 * take space, which the next packaging may need.
 */
export async function removeStaleTemps(dir: string, finalNames: readonly string[]): Promise<string[]> {
  const ownerOf = (name: string): number | undefined => {
    const owner = atomicTempOwner(name);
    return owner && finalNames.includes(owner.file) ? owner.pid : undefined;
  };
  const removed: string[] = [];
  for (const name of await leftByGoneProcesses(dir, ownerOf, { ownIsLeftover: false, unknownIsLeftover: false })) {
    await unlink(path.join(dir, name)).then(
      () => removed.push(name),
      () => undefined,
    );
  }
  return removed;
}
