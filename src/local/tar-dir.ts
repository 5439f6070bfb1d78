import { createReadStream } from "node:fs";
import { lstat, readdir, readlink } from "node:fs/promises";
import path from "node:path";
import { PassThrough, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import tar from "tar-stream";

/**
 * The platform's tar of a directory after the container exited, as SageMaker makes model.tar.gz
 * and output.tar.gz: every entry of the directory at the archive's root (no leading "./"),
 * symlinks kept as links, gzip unless `gzip` is false. Nothing in the job writes any more, so this
 * is a plain walk; trainguard's own archive path (src/artifacts) is the one built for live files.
 */
export function tarDirectory(dir: string, gzip: boolean): Readable {
  const pack = tar.pack();
  const out = new PassThrough();
  void (async () => {
    await addTree(pack, dir, "");
    pack.finalize();
  })().catch((err: unknown) => pack.destroy(err instanceof Error ? err : new Error(String(err))));
  const source = pack as unknown as NodeJS.ReadableStream;
  (gzip ? pipeline(source, createGzip({ level: 6 }), out) : pipeline(source, out)).catch((err: unknown) => out.destroy(err instanceof Error ? err : new Error(String(err))));
  return out;
}

async function addTree(pack: tar.Pack, root: string, rel: string): Promise<void> {
  const names = (await readdir(path.join(root, rel))).sort();
  for (const name of names) {
    const relPath = rel === "" ? name : `${rel}/${name}`;
    const abs = path.join(root, relPath);
    const st = await lstat(abs);
    const common = { name: relPath, mode: st.mode & 0o7777, mtime: st.mtime };
    if (st.isDirectory()) {
      await add(pack, { ...common, type: "directory" });
      await addTree(pack, root, relPath);
    } else if (st.isSymbolicLink()) {
      await add(pack, { ...common, type: "symlink", linkname: await readlink(abs) });
    } else if (st.isFile()) {
      const entry = pack.entry({ ...common, type: "file", size: st.size });
      await pipeline(createReadStream(abs), entry);
    }
  }
}

function add(pack: tar.Pack, header: Parameters<tar.Pack["entry"]>[0]): Promise<void> {
  return new Promise((resolve, reject) => pack.entry(header, (err) => (err ? reject(err) : resolve())));
}
