import { createHash } from "node:crypto";
import { Worker } from "node:worker_threads";
import { BufferPool } from "./buffer-pool.js";

/** Copies handed to the hashing thread and not yet hashed, past which the reader waits. */
const MAX_BEHIND = 16 << 20;
/** Files smaller than this are hashed where they are read: a copy and two messages cost more. */
const THREAD_MIN_FILE = 1 << 20;
const CHUNK = 1 << 20;

/**
 * The hashing thread, as a string (the same in dist/, the bundle and the sources under test, as
 * the archive's writer thread). One SHA-256 per file id; each chunk's memory goes back once hashed.
 */
const HASHER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const hashes = new Map();
parentPort.on("message", (m) => {
  let hash = hashes.get(m.file);
  if (!hash) hashes.set(m.file, (hash = createHash("sha256")));
  if (m.buffer) {
    hash.update(new Uint8Array(m.buffer, 0, m.length));
    parentPort.postMessage({ returned: m.buffer, length: m.length }, [m.buffer]);
  }
  if (m.end) {
    hashes.delete(m.file);
    parentPort.postMessage({ file: m.file, digest: hash.digest("hex") });
  }
});
`;

/** One file's SHA-256, computed where its FileDigests computes them. */
export interface FileDigest {
  update(data: Uint8Array): void;
  /** Resolves once every byte given to update() is hashed. */
  digest(): Promise<string>;
}

interface Pending {
  resolve(digest: string): void;
  reject(err: Error): void;
}

/**
 * The SHA-256 of every file that goes into an archive. Hashing costs about a second of CPU per GiB,
 * and on the main thread it was the largest share of packaging's critical path (reading, framing
 * and the gzip CRC are the rest; the archive's own hash and the writes are on the writer thread).
 * Threaded, each chunk of a large file is copied (tens of ms per GiB) and hashed on a thread of
 * its own; the copy keeps the digest to the exact bytes that went into the archive.
 */
export class FileDigests {
  private worker: Worker | undefined;
  private readonly pool = new BufferPool(CHUNK, 20);
  private nextFile = 0;
  private behind = 0;
  private failure: Error | undefined;
  private readonly waiting: Array<() => void> = [];
  private readonly pending = new Map<number, Pending>();

  /** `threaded`: hash large files on a thread of their own (worth it for archives of tens of MiB). */
  constructor(threaded: boolean) {
    if (threaded) this.worker = this.startWorker();
  }

  private startWorker(): Worker {
    const worker = new Worker(HASHER_SOURCE, { eval: true });
    worker.on("message", (m: { returned?: ArrayBuffer; length?: number; file?: number; digest?: string }) => {
      if (m.returned) {
        this.behind -= m.length ?? 0;
        this.pool.adopt(m.returned);
        if (this.behind <= MAX_BEHIND / 2) for (const wake of this.waiting.splice(0)) wake();
      } else if (m.file !== undefined && m.digest !== undefined) {
        this.pending.get(m.file)?.resolve(m.digest);
        this.pending.delete(m.file);
      }
    });
    const failed = (err: Error): void => {
      this.failure ??= err;
      for (const wake of this.waiting.splice(0)) wake();
      for (const p of this.pending.values()) p.reject(this.failure);
      this.pending.clear();
    };
    worker.on("error", failed);
    worker.on("exit", () => failed(new Error("the file hashing thread ended early")));
    return worker;
  }

  /** Resolves when the thread has caught up enough for the reader to go on: memory stays bounded. */
  async ready(): Promise<void> {
    while (this.behind > MAX_BEHIND && !this.failure) await new Promise<void>((resolve) => this.waiting.push(resolve));
    if (this.failure) throw this.failure;
  }

  /** The digest of one file of `size` bytes, fed in order. */
  file(size: number): FileDigest {
    const worker = this.worker;
    if (!worker || size < THREAD_MIN_FILE) return localDigest();
    const file = this.nextFile++;
    return {
      update: (data) => {
        if (this.failure) throw this.failure;
        for (let at = 0; at < data.length; at += CHUNK) {
          const piece = data.subarray(at, at + CHUNK);
          const copy = this.pool.acquire();
          copy.set(piece);
          const buffer = copy.buffer as ArrayBuffer;
          this.behind += piece.length;
          worker.postMessage({ file, buffer, length: piece.length }, [buffer]);
        }
      },
      digest: () => {
        if (this.failure) return Promise.reject(this.failure);
        const digest = new Promise<string>((resolve, reject) => this.pending.set(file, { resolve, reject }));
        worker.postMessage({ file, end: true });
        return digest;
      },
    };
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (worker) {
      worker.removeAllListeners("exit");
      await worker.terminate();
    }
  }
}

function localDigest(): FileDigest {
  const hash = createHash("sha256");
  return {
    update: (data) => void hash.update(data),
    digest: () => Promise.resolve(hash.digest("hex")),
  };
}
