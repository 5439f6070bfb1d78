import { createHash, type Hash } from "node:crypto";
import type { FileHandle } from "node:fs/promises";
import { Transform, Writable, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";

/** The probe covers this much of a file's start: enough to differ for almost any two tensors. */
export const PROBE_BYTES = 1024 * 1024;
/** Read size: small enough that one hash update never holds the event loop for long (~1 ms). */
export const READ_CHUNK = 256 * 1024;

export interface Digest {
  readonly sha256: string;
  readonly probe: string;
}

/**
 * Passes bytes through while hashing them (whole content, and the probe prefix), so an upload
 * and its hash cost one read of the file.
 */
export class HashingStream extends Transform {
  private readonly full: Hash = createHash("sha256");
  private readonly head: Hash = createHash("sha256");
  private seen = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.full.update(chunk);
    if (this.seen < PROBE_BYTES) this.head.update(chunk.subarray(0, PROBE_BYTES - this.seen));
    this.seen += chunk.length;
    callback(null, chunk);
  }

  get bytes(): number {
    return this.seen;
  }

  /** Call once, after the stream has ended. */
  digest(): Digest {
    return { sha256: this.full.digest("hex"), probe: this.head.digest("hex") };
  }
}

/** sha256 of the first PROBE_BYTES (the whole file when shorter). */
export async function probeHandle(handle: FileHandle, size: number): Promise<string> {
  const length = Math.min(size, PROBE_BYTES);
  const buffer = Buffer.allocUnsafe(length);
  let read = 0;
  while (read < length) {
    const { bytesRead } = await handle.read(buffer, read, length - read, read);
    if (bytesRead === 0) break;
    read += bytesRead;
  }
  return createHash("sha256").update(buffer.subarray(0, read)).digest("hex");
}

/** Both digests in one streamed read of the whole file; the handle stays open. */
export async function hashHandle(handle: FileHandle, signal?: AbortSignal): Promise<Digest & { bytes: number }> {
  const hasher = new HashingStream();
  const source = handle.createReadStream({ start: 0, highWaterMark: READ_CHUNK, autoClose: false });
  const sink = new Writable({ write: (_chunk, _encoding, callback) => callback() });
  await pipeline(source, hasher, sink, signal === undefined ? {} : { signal });
  return { ...hasher.digest(), bytes: hasher.bytes };
}

/**
 * Digests of local files by identity (device, inode, size, mtime): a file the sync has
 * hashed or uploaded once is not read again to be compared, whichever checkpoint it appears in
 * (hard links included).
 */
export class HashCache {
  private readonly entries = new Map<string, Digest>();
  constructor(private readonly limit = 200_000) {}

  get(identity: string): Digest | undefined {
    return this.entries.get(identity);
  }

  set(identity: string, digest: Digest): void {
    this.entries.delete(identity);
    this.entries.set(identity, digest);
    // Oldest first in a Map's order.
    if (this.entries.size > this.limit) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }
}
