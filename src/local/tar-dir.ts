import { createReadStream } from "node:fs";
import { PassThrough, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import tar from "tar-stream";
import type { MergedEntry } from "./model-merge.js";

/**
 * The platform's tar of the hosts' merged directories after their containers exited, as SageMaker
 * makes model.tar.gz and output.tar.gz: every entry at the archive's root (no leading "./"),
 * symlinks kept as links, gzip unless `gzip` is false. Nothing in the job writes any more, so this
 * is a plain walk; trainguard's own archive path (src/artifacts) is the one built for live files.
 */
export function tarEntries(entries: readonly MergedEntry[], gzip: boolean): Readable {
  const pack = tar.pack();
  const out = new PassThrough();
  void (async () => {
    for (const e of entries) {
      const common = { name: e.rel, mode: e.mode, mtime: e.mtime };
      if (e.kind === "directory") await add(pack, { ...common, type: "directory" });
      else if (e.kind === "symlink") await add(pack, { ...common, type: "symlink", linkname: e.linkname as string });
      else await pipeline(createReadStream(e.abs), pack.entry({ ...common, type: "file", size: e.size }));
    }
    pack.finalize();
  })().catch((err: unknown) => pack.destroy(err instanceof Error ? err : new Error(String(err))));
  const source = pack as unknown as NodeJS.ReadableStream;
  (gzip ? pipeline(source, createGzip({ level: 6 }), out) : pipeline(source, out)).catch((err: unknown) => out.destroy(err instanceof Error ? err : new Error(String(err))));
  return out;
}

function add(pack: tar.Pack, header: Parameters<tar.Pack["entry"]>[0]): Promise<void> {
  return new Promise((resolve, reject) => pack.entry(header, (err) => (err ? reject(err) : resolve())));
}
