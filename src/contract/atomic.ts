import { open, rename, unlink } from "node:fs/promises";
import { openSync, closeSync, fsyncSync } from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";

/**
 * Replace `file` so that readers see either the old content or the new, never a mix:
 * write a temporary sibling (same filesystem, so rename is atomic), then rename over.
 * `durable` adds fsync of the file and its directory, for artifacts that must survive a crash;
 * status files skip it because they are rewritten often and a lost update is harmless.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, durable = false): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
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

export function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
