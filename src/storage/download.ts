import { createWriteStream } from "node:fs";
import { mkdir, open, rename, unlink } from "node:fs/promises";
import path from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { randomBytes } from "node:crypto";
import { fsyncDirectory } from "../contract/index.js";
import type { ObjectStore } from "./types.js";

export interface DownloadOptions {
  /** The size the object must have (from a listing or a manifest); anything else is an error. */
  readonly expectedBytes?: number;
  readonly signal?: AbortSignal;
}

/**
 * Copy an object to `file` atomically: a temporary sibling, byte count checked, fsynced, renamed.
 * A resume that reads a half-downloaded checkpoint is the failure this prevents. Whether `file`
 * may be written at all (keys from a remote listing) is the caller's check: see safeRelativeKey.
 */
export async function downloadToFile(store: ObjectStore, key: string, file: string, opts: DownloadOptions = {}): Promise<{ bytes: number }> {
  const dir = path.dirname(file);
  await mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString("hex")}.download`);
  let bytes = 0;
  try {
    const body = await store.getStream(key, opts.signal === undefined ? {} : { signal: opts.signal });
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        bytes += chunk.length;
        callback(null, chunk);
      },
    });
    await pipeline(body, counter, createWriteStream(tmp, { flags: "wx", mode: 0o644 }), opts.signal === undefined ? {} : { signal: opts.signal });
    if (opts.expectedBytes !== undefined && bytes !== opts.expectedBytes) {
      throw new Error(`download of ${store.uri(key)} gave ${bytes} bytes, expected ${opts.expectedBytes}`);
    }
    const handle = await open(tmp, "r+");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  fsyncDirectory(dir);
  return { bytes };
}
