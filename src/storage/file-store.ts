import { createWriteStream } from "node:fs";
import { mkdir, open, readdir, rename, stat, unlink } from "node:fs/promises";
import path from "node:path";
import { Readable, Transform, addAbortSignal } from "node:stream";
import { pipeline } from "node:stream/promises";
import { pathToFileURL } from "node:url";
import { randomBytes } from "node:crypto";
import { fsyncDirectory } from "../contract/index.js";
import type { Logger } from "../log/index.js";
import { describeError } from "../contract/index.js";
import { ObjectNotFoundError, UploadError } from "./errors.js";
import { UploadGuard } from "./guard.js";
import { checkKeySegments } from "./keys.js";
import type { ObjectEntry, ObjectStore, PutResult, PutStreamOptions } from "./types.js";

/** Temporary files carry this, so listings (ours and a resume scan's) never mistake one for an object. */
const TEMP_MARKER = ".trainguard-partial-";

/**
 * A directory as an object store, for file:// outputs (local runs, a mounted volume). Same
 * promise as S3: a put writes a temporary sibling, checks the byte count, fsyncs and renames, so
 * readers see the whole object or none.
 */
export class FileObjectStore implements ObjectStore {
  readonly kind = "file";

  constructor(
    readonly root: string,
    private readonly log: Logger,
  ) {}

  uri(key: string): string {
    return pathToFileURL(path.join(this.root, key)).href;
  }

  async putStream(key: string, source: Readable, opts: PutStreamOptions = {}): Promise<PutResult> {
    const file = this.pathOf(key);
    const uri = this.uri(key);
    const expected = opts.expectedBytes;
    let bytesRead = 0;
    let bytesStored = 0;
    const guard = new UploadGuard({
      uri,
      deadline: opts.deadline,
      signal: opts.signal,
      bytesRead: () => bytesRead,
      progress: () => `${bytesRead} bytes read, ${bytesStored} written`,
    });
    const tmp = path.join(path.dirname(file), `${TEMP_MARKER}${path.basename(file)}.${process.pid}.${randomBytes(4).toString("hex")}`);
    let renamed = false;
    const started = Date.now();
    try {
      await guard.race(mkdir(path.dirname(file), { recursive: true }));
      let sourceError: unknown;
      const counter = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          bytesRead += chunk.length;
          if (expected !== undefined && bytesRead > expected) {
            callback(new UploadError("TRUNCATED", `upload to ${uri} abandoned: the source produced more than the expected ${expected} bytes`, uri, bytesRead));
            return;
          }
          callback(null, chunk);
        },
      });
      let writeError: unknown;
      source.once("error", (err) => (sourceError = err));
      const out = createWriteStream(tmp, { flags: "wx", mode: 0o644 });
      out.once("error", (err) => (writeError = err));
      const progress = () => {
        try {
          opts.onProgress?.({ bytesRead, bytesStored });
        } catch (err) {
          this.log.debug({ event: "storage.upload.progress-failed", error: describeError(err) }, "onProgress threw");
        }
      };
      out.on("drain", () => {
        bytesStored = out.bytesWritten;
        progress();
      });
      try {
        // The guard's signal makes pipeline destroy every stream, the source included, on failure.
        await guard.race(pipeline(source, counter, out, { signal: guard.signal }));
      } catch (err) {
        guard.check();
        if (err instanceof UploadError) throw err;
        if (writeError !== undefined && sourceError === undefined) {
          throw new UploadError("IO", `writing ${uri} failed: ${describeError(writeError)}`, uri, bytesRead, { cause: writeError });
        }
        // A source that errors, or is destroyed before its end (premature close), is a truncation.
        const cause = sourceError ?? err;
        throw new UploadError("TRUNCATED", `upload to ${uri} abandoned: the source failed: ${describeError(cause)} after ${bytesRead} bytes`, uri, bytesRead, { cause });
      }
      bytesStored = bytesRead;
      if (expected !== undefined && bytesRead !== expected) {
        throw new UploadError("TRUNCATED", `upload to ${uri} abandoned: the source ended after ${bytesRead} of the expected ${expected} bytes`, uri, bytesRead);
      }
      await guard.race(fsyncFile(tmp));
      guard.check();
      // Not raced: a rename cannot be cancelled, and once it is done the object is published.
      await rename(tmp, file);
      renamed = true;
      fsyncDirectory(path.dirname(file));
      const ms = Date.now() - started;
      this.log.info({ event: "storage.upload.done", uri, bytes: bytesRead, ms }, "upload complete");
      progress();
      return { key, bytes: bytesRead, uri };
    } catch (err) {
      const failure =
        guard.failedWith ?? (err instanceof UploadError ? err : new UploadError("IO", `writing ${uri} failed: ${describeError(err)}`, uri, bytesRead, { cause: err }));
      guard.fail(failure);
      source.destroy();
      if (!renamed) await unlink(tmp).catch(() => undefined);
      this.log.warn({ event: "storage.upload.failed", uri, code: failure.code, error: failure.message }, "upload failed; nothing was published");
      throw failure;
    } finally {
      guard.dispose();
    }
  }

  putBytes(key: string, data: Uint8Array | string, opts: Pick<PutStreamOptions, "deadline" | "signal"> = {}): Promise<PutResult> {
    const buffer = typeof data === "string" ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    return this.putStream(key, Readable.from([buffer]), { ...opts, expectedBytes: buffer.length });
  }

  async getStream(key: string, opts: { signal?: AbortSignal } = {}): Promise<Readable> {
    const file = this.pathOf(key);
    // Open first so a missing object is a rejection here, not an error event later.
    let handle;
    try {
      handle = await open(file, "r");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT" || (err as NodeJS.ErrnoException).code === "EISDIR") throw new ObjectNotFoundError(this.uri(key));
      throw err;
    }
    const stream = handle.createReadStream();
    return opts.signal === undefined ? stream : addAbortSignal(opts.signal, stream);
  }

  async head(key: string): Promise<number | undefined> {
    try {
      const info = await stat(this.pathOf(key));
      return info.isFile() ? info.size : undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT" || (err as NodeJS.ErrnoException).code === "ENOTDIR") return undefined;
      throw err;
    }
  }

  async list(prefix: string): Promise<ObjectEntry[]> {
    const entries: ObjectEntry[] = [];
    // Walk only the directory the prefix points into: prefixes are strings, not folders.
    const slash = prefix.lastIndexOf("/");
    const startKey = slash === -1 ? "" : prefix.slice(0, slash);
    const start = startKey === "" ? this.root : path.join(this.root, ...startKey.split("/"));
    await this.walk(start, startKey, prefix, entries);
    return entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      await unlink(this.pathOf(key)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== "ENOENT") throw err;
      });
    }
  }

  private async walk(dir: string, dirKey: string, prefix: string, out: ObjectEntry[]): Promise<void> {
    let names;
    try {
      names = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT" || (err as NodeJS.ErrnoException).code === "ENOTDIR") return;
      throw err;
    }
    for (const entry of names) {
      if (entry.name.startsWith(TEMP_MARKER)) continue;
      const key = dirKey === "" ? entry.name : `${dirKey}/${entry.name}`;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        // Descend only where keys can still match the prefix.
        if (prefix.startsWith(`${key}/`) || key.startsWith(prefix)) await this.walk(full, key, prefix, out);
      } else if (entry.isFile() && key.startsWith(prefix)) {
        out.push({ key, size: (await stat(full)).size });
      }
    }
  }

  private pathOf(key: string): string {
    const problem = checkKeySegments(key);
    if (problem !== undefined) throw new RangeError(`object key ${JSON.stringify(key)} ${problem}`);
    return path.join(this.root, ...key.split("/"));
  }
}

async function fsyncFile(file: string): Promise<void> {
  const handle = await open(file, "r+");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
