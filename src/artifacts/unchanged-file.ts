import { open, type FileHandle } from "node:fs/promises";
import type { PackEntry } from "./types.js";
import { FileChangedError } from "./errors.js";
import { READ_FLAGS } from "./open-flags.js";
import { errorMessage } from "../contract/index.js";

/**
 * Opens a selected file and runs `read` on it. The file must still be what selection saw (a regular
 * file of the selected size) and must not change while read (same size and mtime after): otherwise
 * FileChangedError, so no archive is ever finished with a half-old file.
 */
export async function readUnchanged<T>(entry: PackEntry, read: (fh: FileHandle) => Promise<T>): Promise<T> {
  const fh = await open(entry.abs, READ_FLAGS).catch((err: unknown) => {
    throw new FileChangedError(entry.path, `cannot open: ${errorMessage(err)}`);
  });
  try {
    const before = await fh.stat({ bigint: true });
    if (!before.isFile()) throw new FileChangedError(entry.path, "no longer a regular file");
    if (before.size !== BigInt(entry.size)) throw new FileChangedError(entry.path, `${entry.size} bytes when selected, ${before.size} now`);
    const result = await read(fh);
    const after = await fh.stat({ bigint: true });
    if (after.size !== before.size || after.mtimeNs !== before.mtimeNs) throw new FileChangedError(entry.path, "modified while being read");
    return result;
  } finally {
    await fh.close();
  }
}
