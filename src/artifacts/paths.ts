import path from "node:path";

export const MANIFEST_NAME = "trainguard-manifest.json";

/** A name that is safe to extract: relative, no `..`, no empty or `.` segments, no NUL. */
export function isSafeArchivePath(name: string): boolean {
  if (name.length === 0 || name.startsWith("/") || name.includes("\0")) return false;
  return name.split("/").every((seg) => seg !== ".." && seg !== "." && seg !== "");
}

/** Tar writers differ on `./` prefixes and trailing slashes on directories: compare without them. */
export function normalizeArchivePath(name: string): string {
  let n = name;
  while (n.startsWith("./")) n = n.slice(2);
  while (n.endsWith("/") && n.length > 1) n = n.slice(0, -1);
  return n === "." ? "" : n;
}

/** Is `target` (absolute, already resolved) the root itself or below it? */
export function isInside(root: string, target: string): boolean {
  const rel = path.relative(root, target);
  return rel === "" || (!rel.startsWith(`..${path.sep}`) && rel !== ".." && !path.isAbsolute(rel));
}

/**
 * Does a link stored at `linkPath` (archive-relative) with `target` stay inside the archive root
 * when extracted? Lexical: the extraction directory is unknown.
 */
export function linkStaysInside(linkPath: string, target: string): boolean {
  if (target.startsWith("/") || target.includes("\0")) return false;
  const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(linkPath), target));
  return resolved !== ".." && !resolved.startsWith("../") && !resolved.startsWith("/");
}

/** Byte order of UTF-8, so archives are identical whatever the locale. */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
