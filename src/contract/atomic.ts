import { open, rename, unlink, writeFile } from "node:fs/promises";
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";

/**
 * Replace `file` so that readers see either the old content or the new, never a mix:
 * write a temporary sibling (same filesystem, so rename is atomic), then rename over.
 * `durable` adds fsync of the file and its directory, for artifacts that must survive a crash;
 * status files skip it because they are rewritten often and a lost update is harmless.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, durable = false): Promise<void> {
  await writeAtomically(file, (tmp) => writeFile(tmp, data, { mode: 0o644 }), { durable });
}

/**
 * The same for writers that need a path (streams, copies, several steps): `write` fills the
 * temporary sibling it is given, which is renamed over `file` once `write` resolves, or removed
 * when anything fails (`file` is then untouched).
 */
export async function writeAtomically<T>(file: string, write: (tmp: string) => Promise<T>, opts: { durable?: boolean } = {}): Promise<T> {
  const tmp = atomicTempPath(file);
  let result: T;
  try {
    result = await write(tmp);
    if (opts.durable) {
      const handle = await open(tmp, "r");
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  if (opts.durable) fsyncDirectory(path.dirname(file));
  return result;
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
    if (opts.durable) fsyncPath(tmp);
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
 * Unique within the process (the pid tells processes apart). A counter, not randomBytes: the stop
 * file is written between a SIGTERM and its checkpoint request, where randomBytes cost 0.1-0.2 ms
 * measured. The random start keeps a restarted PID 1 (pid 1 again) off its predecessor's names.
 */
let tempSequence = Math.floor(Math.random() * 0x1_0000_0000);

/**
 * The temporary sibling a write goes to before its rename, `.<name>.<pid>.<8 hex>.tmp`: hidden, in
 * the same directory (same filesystem, so the rename is atomic), named for its writer's pid so
 * that leftovers of a killed process can be told from a live writer's (atomicTempOwner).
 */
export function atomicTempPath(file: string): string {
  tempSequence = (tempSequence + 1) >>> 0;
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${tempSequence.toString(16).padStart(8, "0")}.tmp`);
}

/** For a name atomicTempPath made: the final file's name and the writer's pid. */
export function atomicTempOwner(name: string): { readonly file: string; readonly pid: number } | undefined {
  const m = /^\.(.+)\.(\d+)\.[0-9a-f]{8}\.tmp$/.exec(name);
  return m?.[1] && m[2] ? { file: m[1], pid: Number(m[2]) } : undefined;
}

export function fsyncDirectory(dir: string): void {
  fsyncPath(dir);
}

function fsyncPath(file: string): void {
  const fd = openSync(file, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
