import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import tar from "tar-stream";
import type { Manifest, ManifestFile, PackEntry } from "./types.js";
import { FileChangedError } from "./errors.js";
import { MANIFEST_NAME } from "./paths.js";
import { EMPTY_SHA256, manifestFile, predictManifestBytes, serializeManifest, type ManifestBase } from "./manifest.js";
import { tarBytesFor } from "./tar-size.js";
import { BufferPool } from "./buffer-pool.js";
import { GZIP_BLOCK_BYTES, gzipStream, rechunk, storedBlockBytes, storedGzipBytes } from "./gzip-parallel.js";
import { SmallFileReadAhead, isSmallFile } from "./small-files.js";
import { readUnchanged } from "./unchanged-file.js";

const READ_CHUNK = 1 << 20;

export interface ArchiveStreamOptions {
  readonly entries: readonly PackEntry[];
  /** Everything in the manifest but the files, which are filled in while streaming. */
  readonly manifest: ManifestBase;
  /** gzip level 0..9, or null for a plain tar. */
  readonly level: number | null;
  readonly signal?: AbortSignal;
  /** Uncompressed tar bytes, as they are produced. */
  readonly onTarBytes?: (bytes: number) => void;
  readonly gzipConcurrency?: number;
}

export interface ArchiveStream {
  /** The archive's bytes, produced once: pipe it to one consumer or tee it to several. */
  readonly stream: Readable;
  /** Exact uncompressed tar length, known before the first byte. */
  readonly tarBytes: number;
  /** Exact length of `stream` when known in advance: plain tar and stored gzip. */
  readonly archiveBytes?: number;
  /** Resolves once the stream has ended, with the manifest that is its last entry. */
  readonly manifest: Promise<Manifest>;
  /** Hand back the memory of a chunk of `stream` (moved to a writer thread and back) once written, for reuse. */
  readonly recycle: (memory: ArrayBuffer) => void;
}

/**
 * files -> tar -> (gzip) as one byte stream, hashing every file during its single read.
 * A file whose size differs from its header, or that changes while read, errors the stream with
 * FileChangedError before its entry is complete: the archive is never finished with it, so a
 * consumer that discards errored output never keeps a half-old file.
 */
export async function createArchiveStream(opts: ArchiveStreamOptions): Promise<ArchiveStream> {
  const manifestBytes = predictManifestBytes(opts.manifest, opts.entries);
  const tarBytes = await tarBytesFor(opts.entries, MANIFEST_NAME, manifestBytes);
  const pack = tar.pack();
  // The gzip stages copy each chunk before asking for the next, so read buffers are reused as soon
  // as the next is asked for; a plain tar hands them on to the consumer, so they come back only
  // through recycle() (moved to the writer thread and back), enough for the writes in flight.
  const readPool = new BufferPool(READ_CHUNK, opts.level === null ? 24 : 8);
  const pool = opts.level === null ? undefined : readPool;

  const manifest = feed(pack, opts, manifestBytes, readPool).then(
    (m) => {
      pack.finalize();
      return m;
    },
    (err: unknown) => {
      pack.destroy(err instanceof Error ? err : new Error(String(err)));
      throw err;
    },
  );
  manifest.catch(() => undefined);

  const tarChunks = countedTar(pack as AsyncIterable<Uint8Array>, tarBytes, opts.onTarBytes, pool);
  // Stored blocks go out whole; the writer hands them back (enough for the writes in flight).
  const storedPool = opts.level === 0 ? new BufferPool(storedBlockBytes(GZIP_BLOCK_BYTES), 24) : undefined;
  const bytes =
    opts.level === null
      ? rechunk(tarChunks, READ_CHUNK)
      : gzipStream(tarChunks, { level: opts.level, ...(opts.gzipConcurrency ? { concurrency: opts.gzipConcurrency } : {}), ...(storedPool ? { storedPool } : {}) });
  const stream = Readable.from(endsAfter(bytes, manifest), { objectMode: false, highWaterMark: READ_CHUNK });
  const archiveBytes = opts.level === null ? tarBytes : opts.level === 0 ? storedGzipBytes(tarBytes, GZIP_BLOCK_BYTES) : undefined;
  const recycle = (memory: ArrayBuffer): void => (opts.level === null ? readPool : storedPool)?.adopt(memory);
  return archiveBytes === undefined ? { stream, tarBytes, manifest, recycle } : { stream, tarBytes, archiveBytes, manifest, recycle };
}

/** A consumer that saw the end has seen a complete archive whose manifest is final. */
async function* endsAfter(source: AsyncIterable<Buffer>, manifest: Promise<Manifest>): AsyncGenerator<Buffer> {
  yield* source;
  await manifest;
}

async function* countedTar(
  source: AsyncIterable<Uint8Array>,
  expected: number,
  onBytes: ((bytes: number) => void) | undefined,
  pool: BufferPool | undefined,
): AsyncGenerator<Uint8Array> {
  let n = 0;
  let previous: Uint8Array | undefined;
  for await (const chunk of source) {
    // Being asked for this chunk means the consumer is done with the one before.
    if (previous) pool?.release(previous);
    n += chunk.length;
    onBytes?.(chunk.length);
    yield chunk;
    previous = chunk;
  }
  // Consumers may have declared this length (an upload's Content-Length): never end short or long.
  if (n !== expected) throw new Error(`internal: tar is ${n} bytes, ${expected} were promised`);
}

async function feed(pack: tar.Pack, opts: ArchiveStreamOptions, manifestBytes: number, pool: BufferPool | undefined): Promise<Manifest> {
  const files: ManifestFile[] = [];
  const readAhead = new SmallFileReadAhead(opts.entries);
  for (const [index, entry] of opts.entries.entries()) {
    opts.signal?.throwIfAborted();
    const mtime = tarTime(entry.mtimeMs);
    if (entry.type === "directory") {
      await addEntry(pack, { name: entry.path, type: "directory", mode: entry.mode, mtime });
      files.push(manifestFile(entry, EMPTY_SHA256));
    } else if (entry.type === "symlink") {
      await addEntry(pack, { name: entry.path, type: "symlink", linkname: entry.linkTarget ?? "", mode: entry.mode, mtime });
      files.push(manifestFile(entry, EMPTY_SHA256));
    } else if (isSmallFile(entry)) {
      const data = await readAhead.take(index);
      await addEntry(pack, { name: entry.path, type: "file", size: entry.size, mode: entry.mode, mtime }, data);
      files.push(manifestFile(entry, createHash("sha256").update(data).digest("hex")));
    } else {
      files.push(manifestFile(entry, await addFile(pack, entry, opts.signal, pool)));
    }
  }
  const manifest: Manifest = { ...opts.manifest, files };
  const body = serializeManifest(manifest);
  if (body.length !== manifestBytes) {
    // The tar length was promised from this prediction: never emit an archive that breaks it.
    throw new Error(`internal: manifest is ${body.length} bytes, ${manifestBytes} were predicted`);
  }
  await addEntry(pack, { name: MANIFEST_NAME, type: "file", mode: 0o644, mtime: new Date(opts.manifest.createdAt) }, body);
  return manifest;
}

/**
 * tar-stream writes mtime as `(ms / 1000) | 0`: past 2038 that wraps negative and breaks the
 * header's octal field. Clamp instead; an mtime is not worth a corrupt archive.
 */
function tarTime(ms: number): Date {
  return new Date(Math.min(Math.max(0, ms), 0x7fffffff * 1000));
}

function addEntry(pack: tar.Pack, header: Partial<tar.Header> & { name: string }, body?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
    const sink = body ? pack.entry(header, body, cb) : pack.entry(header, cb);
    // A torn-down pack destroys its entries with the pack's error, already handled through cb.
    sink.on("error", () => undefined);
  });
}

async function addFile(pack: tar.Pack, entry: PackEntry, signal: AbortSignal | undefined, pool: BufferPool | undefined): Promise<string> {
  const hash = createHash("sha256");
  let settle!: (err?: Error | null) => void;
  const done = new Promise<void>((resolve, reject) => {
    settle = (err) => (err ? reject(err) : resolve());
  });
  done.catch(() => undefined);
  await readUnchanged(entry, async (fh) => {
    const sink = pack.entry(
      { name: entry.path, type: "file", size: entry.size, mode: entry.mode, mtime: tarTime(entry.mtimeMs) },
      (err) => settle(err),
    );
    // Destroyed with the pack's error when the attempt is torn down; that error is handled there.
    sink.on("error", () => undefined);
    // One read ahead: the threadpool fills the next chunk while this one is hashed and handed on.
    const readAt = async (position: number): Promise<Buffer> => {
      const want = Math.min(READ_CHUNK, entry.size - position);
      const buf = pool && want === READ_CHUNK ? pool.acquire() : Buffer.allocUnsafe(want);
      const { bytesRead } = await fh.read(buf, 0, want, position);
      return bytesRead === want ? buf : buf.subarray(0, bytesRead);
    };
    let position = 0;
    let next: Promise<Buffer> | undefined = entry.size > 0 ? readAt(0) : undefined;
    try {
      while (next) {
        const data = await next;
        next = undefined;
        if (data.length === 0) throw new FileChangedError(entry.path, `shrank to ${position} bytes while being read`);
        position += data.length;
        if (position < entry.size) next = readAt(position);
        signal?.throwIfAborted();
        hash.update(data);
        if (!sink.write(data)) await drained(sink);
      }
    } finally {
      // Never close the handle under a read still in flight.
      await next?.catch(() => undefined);
    }
    // Ended only once readUnchanged has seen the file unchanged: the entry is never completed with a changed file.
    return sink;
  }).then((sink) => sink.end(null));
  await done;
  return hash.digest("hex");
}

type Sink = ReturnType<tar.Pack["entry"]>;

/** streamx emits no 'drain' once destroyed: wake on close/error too, or a torn-down pack hangs us. */
function drained(sink: Sink): Promise<void> {
  if (sink.destroyed || sink.destroying) return Promise.reject(new Error("tar entry closed while writing"));
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      sink.off("drain", onDrain);
      sink.off("close", onClose);
      sink.off("error", onError);
    };
    const onDrain = (): void => {
      cleanup();
      resolve();
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error("tar entry closed while writing"));
    };
    const onError = (err: unknown): void => {
      cleanup();
      reject(err instanceof Error ? err : new Error(String(err)));
    };
    sink.on("drain", onDrain);
    sink.on("close", onClose);
    sink.on("error", onError);
  });
}
