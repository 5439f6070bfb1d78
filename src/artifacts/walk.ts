import { lstat, readdir, readlink, realpath } from "node:fs/promises";
import type { Stats } from "node:fs";
import path from "node:path";
import type { PackEntry, SkippedEntry } from "./types.js";
import { MANIFEST_NAME, compareNames, isInside, linkStaysInside } from "./paths.js";
import { errorMessage } from "../contract/index.js";

export interface WalkResult {
  entries: PackEntry[];
  skipped: SkippedEntry[];
  /** Things worth telling the user that did not exclude anything (e.g. a rewritten link). */
  warnings: string[];
}

export interface WalkOptions {
  /** false: the flat layout, top level only. */
  readonly recursive: boolean;
  /** Stops the walk (it rejects with the signal's reason) between entries. */
  readonly signal?: AbortSignal;
}

/**
 * List what an artifact of `root` holds, parents before children, in byte order, so two runs over
 * the same tree produce the same archive. `recursive: false` is the flat layout: top level only.
 */
export async function walkCheckpoint(root: string, opts: WalkOptions): Promise<WalkResult> {
  const result: WalkResult = { entries: [], skipped: [], warnings: [] };
  const rootReal = await realpath(root);
  await walkInto(root, rootReal, "", opts, result);
  return result;
}

async function walkInto(root: string, rootReal: string, rel: string, opts: WalkOptions, out: WalkResult): Promise<void> {
  const { recursive, signal } = opts;
  const dirAbs = rel === "" ? root : path.join(root, rel);
  const names = (await readdir(dirAbs)).sort(compareNames);
  for (const name of names) {
    signal?.throwIfAborted();
    const relPath = rel === "" ? name : `${rel}/${name}`;
    if (relPath === MANIFEST_NAME) {
      out.skipped.push({ path: relPath, reason: `reserved name: trainguard writes its own ${MANIFEST_NAME}` });
      continue;
    }
    const abs = path.join(dirAbs, name);
    let st: Stats;
    try {
      st = await lstat(abs);
    } catch (err) {
      // Names that are not valid UTF-8 come back from readdir mangled and cannot be found again.
      out.skipped.push({ path: relPath, reason: `cannot stat: ${errorMessage(err)}` });
      continue;
    }
    const base = { path: relPath, abs, mode: st.mode & 0o7777, mtimeMs: st.mtimeMs };
    if (st.isFile()) {
      out.entries.push({ ...base, type: "file", size: st.size });
    } else if (st.isDirectory()) {
      if (!recursive) continue;
      out.entries.push({ ...base, type: "directory", size: 0 });
      await walkInto(root, rootReal, relPath, opts, out);
    } else if (st.isSymbolicLink()) {
      const link = await checkLink(root, rootReal, relPath, abs);
      if ("reason" in link) out.skipped.push({ path: relPath, reason: link.reason });
      else {
        if (link.warning) out.warnings.push(link.warning);
        out.entries.push({ ...base, type: "symlink", size: 0, linkTarget: link.target });
      }
    } else {
      out.skipped.push({ path: relPath, reason: `${specialKind(st)}: only files, directories and links are packaged` });
    }
  }
}

function specialKind(st: Stats): string {
  if (st.isFIFO()) return "FIFO";
  if (st.isSocket()) return "socket";
  if (st.isCharacterDevice()) return "character device";
  if (st.isBlockDevice()) return "block device";
  return "special file";
}

/**
 * A link is kept only if, once extracted anywhere, it still points inside the checkpoint: the
 * lexical check covers the extracted tree, realpath covers links through other links (`d/..`
 * where `d` points at the root). Absolute targets inside are rewritten relative, since the
 * absolute path will not exist where the model is extracted.
 */
async function checkLink(
  root: string,
  rootReal: string,
  relPath: string,
  abs: string,
): Promise<{ target: string; warning?: string } | { reason: string }> {
  let target = await readlink(abs);
  let warning: string | undefined;
  if (path.isAbsolute(target)) {
    const inRoot = isInside(root, target) ? path.relative(root, target) : isInside(rootReal, target) ? path.relative(rootReal, target) : undefined;
    if (inRoot === undefined) return { reason: `symlink to ${target}, outside the checkpoint` };
    const rewritten = path.posix.relative(path.posix.dirname(relPath), inRoot.split(path.sep).join("/")) || ".";
    warning = `symlink ${relPath}: absolute target ${target} stored as ${rewritten}`;
    target = rewritten;
  }
  if (!linkStaysInside(relPath, target)) return { reason: `symlink to ${target}, outside the checkpoint` };
  try {
    const real = await realpath(abs);
    if (!isInside(rootReal, real)) return { reason: `symlink to ${target} resolves to ${real}, outside the checkpoint` };
  } catch {
    // Dangling: realpath cannot vouch for it, so refuse only what could climb through another link.
    if (target.split("/").includes("..")) return { reason: `dangling symlink to ${target} that climbs with ..` };
  }
  return warning === undefined ? { target } : { target, warning };
}
