import type { Readable } from "node:stream";
import type { FillableReadable } from "./types.js";

export const MiB = 1024 * 1024;
export const MIN_PART_SIZE = 5 * MiB;
export const MAX_PART_SIZE = 5 * 1024 * MiB;
export const MAX_PARTS = 10_000;
export const DEFAULT_PART_SIZE = 8 * MiB;
export const DEFAULT_QUEUE_SIZE = 4;
/** With no size known, parts double every this many parts: 8 MiB parts reach ~484 GiB in 10,000. */
const PARTS_PER_SIZE_STEP = 2_000;

/**
 * The size of part `partNumber` (1-based). With the total known, one size that keeps the upload
 * under 10,000 parts (rounded up to whole MiB); with it unknown, `base` growing stepwise, since
 * S3 does not need equal parts. Memory is bounded by queueSize x this.
 */
export function partSizeFor(partNumber: number, base: number, expectedBytes: number | undefined): number {
  if (expectedBytes !== undefined) {
    const needed = Math.ceil(expectedBytes / MAX_PARTS / MiB) * MiB;
    return Math.min(MAX_PART_SIZE, Math.max(base, needed));
  }
  const step = Math.floor((partNumber - 1) / PARTS_PER_SIZE_STEP);
  return Math.min(MAX_PART_SIZE, base * 2 ** step);
}

export class SourceSizeError extends Error {
  override readonly name = "SourceSizeError";
}

export interface Part {
  readonly data: Buffer;
  /** The source has ended: this is the final part. */
  readonly last: boolean;
  /** The whole allocation `data` lies in, to hand back to `next` once the part is stored. */
  readonly buffer: Buffer;
}

/**
 * Cuts a stream into parts, pulling only as much as the part being filled needs (the stream's
 * own backpressure holds the producer while parts are in flight). After filling a part it peeks
 * at the source, so every part knows whether it is the last: a one-part stream becomes one
 * PutObject and no empty trailing part is ever sent. Counts bytes and fails as soon as the
 * source exceeds `expectedBytes`.
 */
export class PartReader {
  bytesRead = 0;
  private iterator: AsyncIterator<unknown> | undefined;
  private pending: Buffer | undefined;
  private ended = false;
  /** A fillable source's bytes read past a full part, to learn whether it was the last. */
  private peekBuffer: Buffer | undefined;

  constructor(
    private readonly source: Readable,
    private readonly expectedBytes: number | undefined,
  ) {}

  /**
   * Fill the next part of up to `size` bytes, into `reuse` when it is large enough (a buffer whose
   * part has been stored: recycling keeps memory at queueSize buffers instead of waiting on GC).
   */
  async next(size: number, reuse?: Buffer): Promise<Part> {
    // Never allocate more than the source can still legitimately produce (small archives, manifests).
    const capacity = this.expectedBytes === undefined ? size : Math.max(0, Math.min(size, this.expectedBytes - this.bytesRead + (this.pending?.length ?? 0)));
    const buffer = reuse !== undefined && reuse.length >= capacity ? reuse : Buffer.allocUnsafe(capacity);
    const data = buffer.subarray(0, capacity);
    let filled = 0;
    if (isFillable(this.source)) return this.fillPart(this.source, data, buffer);
    while (filled < capacity) {
      const chunk = await this.take();
      if (chunk === undefined) break;
      const n = Math.min(chunk.length, capacity - filled);
      chunk.copy(data, filled, 0, n);
      filled += n;
      if (n < chunk.length) this.pending = chunk.subarray(n);
    }
    // Peek: a full part followed by the end of the stream is the last part.
    if (!this.ended && this.pending === undefined) {
      const chunk = await this.take();
      if (chunk !== undefined) this.pending = chunk;
    }
    return { data: filled === data.length ? data : data.subarray(0, filled), last: this.ended && this.pending === undefined, buffer };
  }

  /** The same, read straight into the part's memory. */
  private async fillPart(source: FillableReadable, data: Buffer, buffer: Buffer): Promise<Part> {
    let filled = 0;
    if (this.pending !== undefined) {
      filled = this.pending.copy(data, 0, 0, Math.min(this.pending.length, data.length));
      this.pending = filled < this.pending.length ? this.pending.subarray(filled) : undefined;
    }
    while (filled < data.length && !this.ended) {
      const n = await source.fill(data, filled, data.length - filled);
      if (n === 0) this.ended = true;
      else filled += this.count(n);
    }
    if (!this.ended && this.pending === undefined) {
      // Peek: a full part followed by the end of the source is the last part.
      this.peekBuffer ??= Buffer.allocUnsafe(64 * 1024);
      const n = await source.fill(this.peekBuffer, 0, this.peekBuffer.length);
      if (n === 0) this.ended = true;
      else this.pending = this.peekBuffer.subarray(0, this.count(n));
    }
    return { data: filled === data.length ? data : data.subarray(0, filled), last: this.ended && this.pending === undefined, buffer };
  }

  private count(n: number): number {
    this.bytesRead += n;
    if (this.expectedBytes !== undefined && this.bytesRead > this.expectedBytes) {
      throw new SourceSizeError(`the source produced more than the expected ${this.expectedBytes} bytes`);
    }
    return n;
  }

  /** Stop reading; destroys the source (what stream.pipeline does to a source whose consumer failed). */
  close(): void {
    this.source.destroy();
  }

  private async take(): Promise<Buffer | undefined> {
    if (this.pending !== undefined) {
      const chunk = this.pending;
      this.pending = undefined;
      return chunk;
    }
    if (this.ended) return undefined;
    // Made on first use: a Readable starts flowing into its iterator once one exists.
    this.iterator ??= this.source[Symbol.asyncIterator]();
    const result = await this.iterator.next();
    if (result.done === true) {
      this.ended = true;
      return undefined;
    }
    const value = result.value;
    const chunk = Buffer.isBuffer(value) ? value : typeof value === "string" ? Buffer.from(value) : Buffer.from(value as Uint8Array);
    this.count(chunk.length);
    return chunk;
  }
}

function isFillable(source: Readable): source is FillableReadable {
  return typeof (source as Partial<FillableReadable>).fill === "function";
}
