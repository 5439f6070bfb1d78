import { mkdir, open, unlink } from "node:fs/promises";
import path from "node:path";
import { errnoCode, errorMessage } from "../contract/index.js";

/** Errors that say the model dir cannot be written at all, whatever is written there. */
const UNWRITABLE = new Set(["EROFS", "EACCES", "EPERM"]);

export type Writability = { readonly writable: true } | { readonly writable: false; readonly code: string; readonly message: string };

/**
 * Whether files can be created in `dir` (made if missing), found by creating and removing one
 * empty file: a read-only mount, a directory without write permission or an immutable one is
 * known before any checkpoint byte is read, not halfway through an archive. `access(W_OK)` alone
 * would miss the immutable case and, for root, the permission case. Other errors (a full disk)
 * are left for packaging to report.
 */
export async function probeWritable(dir: string): Promise<Writability> {
  const probe = path.join(dir, `.trainguard-probe-${process.pid}`);
  try {
    await mkdir(dir, { recursive: true });
    const fh = await open(probe, "w");
    await fh.close();
    await unlink(probe);
    return { writable: true };
  } catch (err) {
    const code = errnoCode(err);
    if (code === undefined || !UNWRITABLE.has(code)) return { writable: true };
    return { writable: false, code, message: errorMessage(err) };
  }
}
