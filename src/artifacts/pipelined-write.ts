import { Worker } from "node:worker_threads";
import type { FileHandle } from "node:fs/promises";
import type { StageObserver } from "./follow-file.js";

/** Bytes handed to the writer thread and not yet written, past which the producer waits. */
const MAX_BEHIND = 16 << 20;
/**
 * Start writing back every this many bytes. Below the kernel's dirty threshold (10% of memory)
 * nothing is written back until the final fsync, which then costs the whole disk time on its
 * own; a datasync in flight while the rest is written overlaps the two.
 */
const WRITEBACK_EVERY = 64 << 20;
/** Chunks at least this large, alone in their ArrayBuffer, are moved to the thread, not copied. */
const TRANSFER_MIN = 64 * 1024;

/**
 * The writer thread, as a string: evaluated, it needs no file of its own, so it runs the same from
 * dist/, from the single-file bundle and from the TypeScript sources under test. It hashes and
 * writes each chunk at its offset, starts a datasync (on the threadpool, while it goes on
 * writing) every WRITEBACK_EVERY bytes, and reports the bytes written after each chunk.
 */
const WRITER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const fs = require("node:fs");
const { fd, writebackEvery } = workerData;
const hash = createHash("sha256");
let total = 0;
let nextWriteback = writebackEvery;
let syncing = false;
let ending = false;
let failed = false;
function fail(err) {
  failed = true;
  parentPort.postMessage({ error: { message: err.message, code: err.code, syscall: err.syscall } });
}
function finish() {
  if (!failed) parentPort.postMessage({ digest: hash.digest("hex"), total });
}
parentPort.on("message", (m) => {
  if (failed) return;
  if (m.end) {
    ending = true;
    if (!syncing) finish();
    return;
  }
  try {
    const data = new Uint8Array(m.buffer, m.offset, m.length);
    hash.update(data);
    let done = 0;
    while (done < data.length) done += fs.writeSync(fd, data, done, data.length - done, total + done);
    total += data.length;
    // Moved here: moved back, for the producer to reuse.
    if (m.moved) parentPort.postMessage({ returned: m.buffer }, [m.buffer]);
    if (total >= nextWriteback && !syncing) {
      nextWriteback = total + writebackEvery;
      syncing = true;
      fs.fdatasync(fd, (err) => {
        syncing = false;
        // An error here must fail the file: the final fsync may no longer report it.
        if (err) fail(err);
        else if (ending) finish();
      });
    }
    parentPort.postMessage({ written: total });
  } catch (err) {
    fail(err);
  }
});
`;

interface WriterMessage {
  returned?: ArrayBuffer;
  written?: number;
  digest?: string;
  total?: number;
  error?: { message: string; code?: string; syscall?: string };
}

/**
 * Write a stream of chunks to `fh` from offset 0 and hash them on a thread of its own, so that
 * producing the archive (reading, hashing the files, framing) on the main thread, hashing and
 * writing it on the second core, and the disk's writeback all overlap. Chunks that own their
 * memory are moved to the thread (the source must not touch a chunk once yielded: Node streams
 * never do), others copied; moved ones come back through `recycle`. The observer is told the bytes written. `race` bounds every wait
 * (the deadline). Leaves the final fsync to the caller.
 */
export async function writeChunks(
  fh: FileHandle,
  iterator: AsyncIterator<Uint8Array>,
  race: <T>(p: Promise<T>) => Promise<T>,
  observer: StageObserver | undefined,
  recycle: ((memory: ArrayBuffer) => void) | undefined,
): Promise<{ bytes: number; sha256: string }> {
  const worker = new Worker(WRITER_SOURCE, { eval: true, workerData: { fd: fh.fd, writebackEvery: WRITEBACK_EVERY } });
  let sent = 0;
  let written = 0;
  let failure: Error | undefined;
  let result: { sha256: string; bytes: number } | undefined;
  let wake: (() => void) | undefined;
  const wakeUp = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const until = async (ready: () => boolean): Promise<void> => {
    while (!ready() && !failure) {
      await race(
        new Promise<void>((resolve) => {
          wake = resolve;
        }),
      );
    }
    if (failure) throw failure;
  };
  worker.on("message", (m: WriterMessage) => {
    if (m.returned !== undefined) {
      recycle?.(m.returned);
      return;
    }
    if (m.written !== undefined) {
      written = m.written;
      observer?.wrote(written);
    } else if (m.digest !== undefined) {
      result = { sha256: m.digest, bytes: m.total ?? 0 };
    } else if (m.error) {
      failure = Object.assign(new Error(m.error.message), { code: m.error.code, syscall: m.error.syscall });
    }
    wakeUp();
  });
  worker.on("error", (err) => {
    failure ??= err;
    wakeUp();
  });
  worker.on("exit", () => {
    failure ??= result ? undefined : new Error("the archive's writer thread ended early");
    wakeUp();
  });
  try {
    for (;;) {
      const next = await race(iterator.next());
      if (next.done) break;
      const chunk = next.value;
      if (failure) throw failure;
      const owns = chunk.byteLength >= TRANSFER_MIN && chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength && chunk.buffer instanceof ArrayBuffer;
      const data = owns ? chunk : new Uint8Array(chunk);
      const buffer = data.buffer as ArrayBuffer;
      const length = data.byteLength;
      // Moved, not copied: `data` is detached from here on.
      worker.postMessage({ buffer, offset: data.byteOffset, length, moved: owns }, [buffer]);
      sent += length;
      if (sent - written > MAX_BEHIND) await until(() => sent - written <= MAX_BEHIND / 2);
    }
    worker.postMessage({ end: true });
    await until(() => result !== undefined);
    const done = result as { sha256: string; bytes: number };
    if (done.bytes !== sent) throw new Error(`internal: ${sent} bytes sent to the writer thread, ${done.bytes} written`);
    return done;
  } finally {
    // Gone before the caller closes the descriptor (a number the next open may reuse); a thread
    // stuck in a write (a hung mount) cannot hold the caller past its deadline, though.
    await race(worker.terminate()).catch(() => undefined);
  }
}
