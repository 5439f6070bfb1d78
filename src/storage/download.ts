import { createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { writeAtomically } from "../contract/index.js";
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
  await mkdir(path.dirname(file), { recursive: true });
  const bytes = await writeAtomically(
    file,
    async (tmp) => {
      let count = 0;
      const body = await store.getStream(key, opts.signal === undefined ? {} : { signal: opts.signal });
      const counter = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          count += chunk.length;
          callback(null, chunk);
        },
      });
      await pipeline(body, counter, createWriteStream(tmp, { flags: "wx", mode: 0o644 }), opts.signal === undefined ? {} : { signal: opts.signal });
      if (opts.expectedBytes !== undefined && count !== opts.expectedBytes) {
        throw new Error(`download of ${store.uri(key)} gave ${count} bytes, expected ${opts.expectedBytes}`);
      }
      return count;
    },
    { durable: true },
  );
  return { bytes };
}
