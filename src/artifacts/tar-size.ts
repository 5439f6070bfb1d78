import tar from "tar-stream";
import type { PackEntry } from "./types.js";

export const TAR_END_BYTES = 1024;

export function paddedSize(size: number): number {
  return Math.ceil(size / 512) * 512;
}

/**
 * Bytes tar-stream spends on headers for these names: 512, or more when it needs a pax record
 * (long or non-ASCII names, long link targets). Measured by letting tar-stream encode header-only
 * entries with the same names, so this stays exact whatever its rules become; size never changes
 * the choice (it switches to base-256 for 8 GiB and more instead of pax).
 */
export async function headerBytes(entries: readonly Pick<PackEntry, "path" | "type" | "linkTarget">[]): Promise<number> {
  const pack = tar.pack();
  const counting = (async () => {
    let n = 0;
    for await (const chunk of pack as AsyncIterable<Uint8Array>) n += chunk.length;
    return n;
  })();
  for (const e of entries) {
    pack.entry(
      e.type === "symlink"
        ? { name: e.path, type: "symlink", linkname: e.linkTarget ?? "", mtime: new Date(0) }
        : { name: e.path, type: "directory", mtime: new Date(0) },
    );
  }
  pack.finalize();
  return (await counting) - TAR_END_BYTES;
}

/** Exact length of the tar that archive-stream writes for `entries` plus a manifest of `manifestBytes`. */
export async function tarBytesFor(entries: readonly PackEntry[], manifestName: string, manifestBytes: number): Promise<number> {
  const headers = await headerBytes([...entries, { path: manifestName, type: "file" }]);
  let content = paddedSize(manifestBytes);
  for (const e of entries) if (e.type === "file") content += paddedSize(e.size);
  return headers + content + TAR_END_BYTES;
}
