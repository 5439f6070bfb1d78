import zlib from "node:zlib";
import { availableParallelism } from "node:os";
import { BufferPool } from "./buffer-pool.js";

/** Input bytes per deflate job. Each job is primed with the 32 KiB before it, like pigz's blocks. */
export const GZIP_BLOCK_BYTES = 1 << 20;
const WINDOW_BYTES = 32 * 1024;
/** Largest stored deflate block payload (LEN is 16 bits). */
const STORED_MAX = 65535;
const GZIP_HEADER_BYTES = 10;
const GZIP_TRAILER_BYTES = 8;

export interface GzipStreamOptions {
  /** 0 writes stored blocks (no compression, still a valid .gz); 1..9 deflate. */
  level: number;
  blockBytes?: number;
  /** Deflate jobs in flight on libuv's threadpool: bounds memory, and 2 keep 2 cores busy. */
  concurrency?: number;
  /** zlib memLevel for levels 1..9; 9 measured ~15% faster than the default 8 at level 1 here. */
  memLevel?: number;
  /** Called with each uncompressed chunk as it enters, in order. */
  onInput?: (bytes: number) => void;
  /**
   * Level 0: output blocks come from here (storedBlockBytes(blockBytes) each) when given; the
   * consumer releases them once written. Fresh 1 MiB blocks cost a page fault per 4 KiB.
   */
  storedPool?: BufferPool;
}

export function defaultGzipConcurrency(): number {
  return Math.max(2, Math.min(4, availableParallelism() + 1));
}

/**
 * Gzip a byte stream as ONE gzip member (Python's tarfile "r|gz" cannot read concatenated
 * members), compressing blocks in parallel the way pigz does: each block is deflated on its own
 * with the previous block's last 32 KiB as dictionary and ends with a sync flush (byte aligned,
 * not final), the last with Z_FINISH, so the concatenation is one valid deflate stream. CRC32 and
 * ISIZE are computed over the raw bytes in order, on the main thread (GB/s, negligible).
 * The async zlib calls run on libuv's threadpool: the event loop stays free for signals.
 */
export async function* gzipStream(source: AsyncIterable<Uint8Array>, opts: GzipStreamOptions): AsyncGenerator<Buffer> {
  const level = opts.level;
  if (!Number.isInteger(level) || level < 0 || level > 9) throw new RangeError(`gzip level ${level} is not 0..9`);
  const blockBytes = opts.blockBytes ?? GZIP_BLOCK_BYTES;
  if (blockBytes < WINDOW_BYTES) throw new RangeError(`block size ${blockBytes} is smaller than the 32 KiB window`);
  const concurrency = opts.concurrency ?? defaultGzipConcurrency();
  const memLevel = opts.memLevel ?? 9;
  if (level === 0) {
    yield* storedGzip(source, blockBytes, opts.onInput, opts.storedPool);
    return;
  }

  yield gzipHeader(level);
  let crc = 0;
  let total = 0;
  const inFlight: Promise<Buffer>[] = [];
  let previous: Buffer | undefined;
  // An input block is free again once its job is done: the next block's dictionary was copied
  // by zlib when that job was created, which happens before a new block is taken.
  const pool = new BufferPool(blockBytes, concurrency + 1);
  let block = pool.acquire();
  let fill = 0;

  const submit = (data: Buffer, last: boolean): void => {
    const job = deflateBlock(data, previous, level, last, memLevel);
    // Rejections are awaited in order below; this only keeps an abandoned job from being "unhandled".
    job.then(
      () => pool.release(data),
      () => undefined,
    );
    inFlight.push(job);
    previous = data;
  };

  for await (const chunk of source) {
    crc = zlib.crc32(chunk, crc);
    total += chunk.length;
    opts.onInput?.(chunk.length);
    let offset = 0;
    while (offset < chunk.length) {
      const n = Math.min(blockBytes - fill, chunk.length - offset);
      block.set(chunk.subarray(offset, offset + n), fill);
      fill += n;
      offset += n;
      if (fill === blockBytes) {
        submit(block, false);
        block = pool.acquire();
        fill = 0;
        while (inFlight.length >= concurrency) yield await (inFlight.shift() as Promise<Buffer>);
      }
    }
  }
  // The final block may be empty: Z_FINISH on nothing still ends the deflate stream properly.
  submit(block.subarray(0, fill), true);
  while (inFlight.length > 0) yield await (inFlight.shift() as Promise<Buffer>);
  yield gzipTrailer(crc, total);
}

function deflateBlock(data: Buffer, previous: Buffer | undefined, level: number, last: boolean, memLevel: number): Promise<Buffer> {
  const options: zlib.ZlibOptions = {
    level,
    memLevel,
    finishFlush: last ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH,
    // Output buffer per threadpool round trip: the default 16 KiB costs twice the CPU on text
    // (a round trip to the main thread per 16 KiB); 256 KiB was as fast as one 1.1 MiB buffer.
    chunkSize: 256 * 1024,
  };
  if (previous) options.dictionary = previous.subarray(previous.length - WINDOW_BYTES);
  return new Promise((resolve, reject) => {
    zlib.deflateRaw(data, options, (err, out) => (err ? reject(err) : resolve(out)));
  });
}

/**
 * Level 0: deflate "stored" blocks written by hand, copying each input byte once, straight into
 * its place in the output (memcpy speed; zlib level 0 manages ~500 MB/s and copies twice).
 * Each `blockBytes` of input becomes pieces of at most 65535 bytes behind a 5-byte header; the
 * piece layout depends only on the stream offset, so the output length is known in advance.
 */
async function* storedGzip(
  source: AsyncIterable<Uint8Array>,
  blockBytes: number,
  onInput: ((bytes: number) => void) | undefined,
  pool: BufferPool | undefined,
): AsyncGenerator<Buffer> {
  yield gzipHeader(0);
  const outBytes = storedBlockBytes(blockBytes);
  const fresh = (): Buffer => (pool?.size === outBytes ? pool.acquire() : Buffer.allocUnsafe(outBytes));
  let crc = 0;
  let total = 0;
  let out = fresh();
  let fill = 0; // input bytes in the current block
  for await (const chunk of source) {
    crc = zlib.crc32(chunk, crc);
    total += chunk.length;
    onInput?.(chunk.length);
    let offset = 0;
    while (offset < chunk.length) {
      // Copy up to the end of the current piece; its header sits just before it.
      const inPiece = fill % STORED_MAX;
      const n = Math.min(STORED_MAX - inPiece, blockBytes - fill, chunk.length - offset);
      const pieceIndex = Math.floor(fill / STORED_MAX);
      out.set(chunk.subarray(offset, offset + n), fill + (pieceIndex + 1) * 5);
      fill += n;
      offset += n;
      if (fill === blockBytes) {
        writeStoredHeaders(out, fill, false);
        yield out;
        out = fresh();
        fill = 0;
      }
    }
  }
  // The last block, possibly empty (then a single empty final stored block).
  const used = fill + Math.max(1, Math.ceil(fill / STORED_MAX)) * 5;
  writeStoredHeaders(out, fill, true);
  yield out.subarray(0, used);
  yield gzipTrailer(crc, total);
}

/** Bytes of one full stored block of `blockBytes` input: the data and a 5-byte header per piece. */
export function storedBlockBytes(blockBytes = GZIP_BLOCK_BYTES): number {
  return blockBytes + Math.ceil(blockBytes / STORED_MAX) * 5;
}

function writeStoredHeaders(out: Buffer, dataBytes: number, last: boolean): void {
  const pieces = Math.max(1, Math.ceil(dataBytes / STORED_MAX));
  for (let i = 0; i < pieces; i++) {
    const len = Math.min(STORED_MAX, dataBytes - i * STORED_MAX);
    const at = i * (STORED_MAX + 5);
    // BFINAL bit, BTYPE 00; byte aligned, so the header's padding fills the rest of its byte.
    out[at] = last && i === pieces - 1 ? 1 : 0;
    out.writeUInt16LE(len, at + 1);
    out.writeUInt16LE(~len & 0xffff, at + 3);
  }
}

/** Exact .gz length that gzipStream at level 0 produces for `rawBytes` of input. */
export function storedGzipBytes(rawBytes: number, blockBytes = GZIP_BLOCK_BYTES): number {
  const fullBlocks = Math.floor(rawBytes / blockBytes);
  const rest = rawBytes - fullBlocks * blockBytes;
  const perFull = blockBytes + Math.ceil(blockBytes / STORED_MAX) * 5;
  const lastBlock = rest + Math.max(1, Math.ceil(rest / STORED_MAX)) * 5;
  return GZIP_HEADER_BYTES + fullBlocks * perFull + lastBlock + GZIP_TRAILER_BYTES;
}

function gzipHeader(level: number): Buffer {
  // No name, no mtime: the same input gives the same bytes. XFL 4 = fastest, 2 = best. OS 3 = Unix.
  const xfl = level === 1 ? 4 : level === 9 ? 2 : 0;
  return Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 3]);
}

function gzipTrailer(crc: number, total: number): Buffer {
  const out = Buffer.allocUnsafe(GZIP_TRAILER_BYTES);
  out.writeUInt32LE(crc >>> 0, 0);
  out.writeUInt32LE(total % 2 ** 32, 4);
  return out;
}

/**
 * Gather small chunks (tar headers are 512 bytes) into large writes; large chunks (file data)
 * pass through uncopied, after whatever small ones came before them.
 */
export async function* rechunk(source: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Buffer> {
  let small: Buffer[] = [];
  let smallBytes = 0;
  const flush = (): Buffer => {
    const out = Buffer.concat(small, smallBytes);
    small = [];
    smallBytes = 0;
    return out;
  };
  for await (const chunk of source) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    if (buf.length >= size >> 2) {
      if (smallBytes > 0) yield flush();
      yield buf;
      continue;
    }
    small.push(buf);
    smallBytes += buf.length;
    if (smallBytes >= size) yield flush();
  }
  if (smallBytes > 0) yield flush();
}
