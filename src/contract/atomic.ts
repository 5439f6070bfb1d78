import { open, rename, unlink } from "node:fs/promises";
import { openSync, closeSync, fsyncSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";

/**
 * Replace `file` so that readers see either the old content or the new, never a mix:
 * write a temporary sibling (same filesystem, so rename is atomic), then rename over.
 * `durable` adds fsync of the file and its directory, for artifacts that must survive a crash;
 * status files skip it because they are rewritten often and a lost update is harmless.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, durable = false): Promise<void> {
  const tmp = atomicTempPath(file);
  const handle = await open(tmp, "w", 0o644);
  try {
    await handle.writeFile(data);
    if (durable) await handle.sync();
  } catch (err) {
    await handle.close();
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await handle.close();
  try {
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  if (durable) fsyncDirectory(path.dirname(file));
}

/**
 * writeFileAtomic for the moments no promise will get to run (just before a forced exit) or no
 * thread-pool round trip may be spent (between a SIGTERM and the signal forwarded). `createDir`
 * makes a missing directory, only after the first write failed, keeping a mkdir off the common path.
 */
export function writeFileAtomicSync(file: string, data: string | Uint8Array, opts: { durable?: boolean; createDir?: boolean } = {}): void {
  const tmp = atomicTempPath(file);
  const write = (): void => {
    writeFileSync(tmp, data, { mode: 0o644 });
    if (opts.durable) fsyncFile(tmp);
  };
  try {
    try {
      write();
    } catch (err) {
      if (!opts.createDir || (err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      mkdirSync(path.dirname(file), { recursive: true });
      write();
    }
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  if (opts.durable) fsyncDirectory(path.dirname(file));
}

/**
 * The temporary sibling a write goes to before its rename: hidden, in the same directory (same
 * filesystem, so the rename is atomic), named for its writer's pid so leftovers of a killed
 * process can be told from a live writer's.
 */
export function atomicTempPath(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
}

export function fsyncDirectory(dir: string): void {
  fsyncFile(dir);
}

function fsyncFile(file: string): void {
  const fd = openSync(file, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
