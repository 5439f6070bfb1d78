import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, readFile, readdir, readlink } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { MANIFEST_NAME } from "../artifacts/index.js";

/** One host's directory to merge; `exclude` holds paths (relative, "/"-separated) left out of it. */
export interface MergeSource {
  readonly host: string;
  readonly dir: string;
  readonly exclude?: ReadonlySet<string>;
}

export interface MergedEntry {
  /** "/"-separated, relative to the merged root. */
  readonly rel: string;
  readonly abs: string;
  readonly kind: "directory" | "file" | "symlink";
  /** The first host (in host order) that has it. */
  readonly host: string;
  readonly size: number;
  readonly mode: number;
  readonly mtime: Date;
  readonly linkname?: string;
}

/** Two hosts wrote the same path with different contents. */
export class MergeClash extends Error {
  constructor(
    readonly file: string,
    readonly hosts: readonly [string, string],
  ) {
    super(`${file} was written by ${hosts[0]} and ${hosts[1]} with different contents`);
  }
}

/**
 * The union of the hosts' directories, as SageMaker merges each host's model dir into one
 * model.tar.gz: a path present on several hosts must hold the same thing on each (same kind,
 * same bytes, same link target), or the merge throws a MergeClash naming it and two hosts. The
 * entries come sorted so that a directory precedes what it holds.
 */
export async function mergeTrees(sources: readonly MergeSource[]): Promise<MergedEntry[]> {
  const merged = new Map<string, MergedEntry>();
  for (const source of sources) {
    for (const entry of await walk(source, "")) {
      const seen = merged.get(entry.rel);
      if (seen === undefined) merged.set(entry.rel, entry);
      else if (!(await sameContent(seen, entry))) throw new MergeClash(entry.rel, [seen.host, entry.host]);
    }
  }
  return [...merged.values()].sort((a, b) => compareSegments(a.rel.split("/"), b.rel.split("/")));
}

/**
 * What trainguard placed in a host's model dir (its checkpoint, under the files layout), from the
 * manifest it writes there: on hosts other than the leader these are left out of the merge, since
 * in data-parallel training the leader's checkpoint stands for every host's.
 */
export async function placedByTrainguard(modelDir: string): Promise<Set<string>> {
  const text = await readFile(path.join(modelDir, MANIFEST_NAME), "utf8").catch(() => undefined);
  if (text === undefined) return new Set();
  const placed = new Set([MANIFEST_NAME]);
  try {
    const manifest = JSON.parse(text) as { files?: { path?: unknown }[] };
    for (const file of manifest.files ?? []) if (typeof file.path === "string") placed.add(file.path);
  } catch {
    // A manifest that does not parse names nothing more; the rest merges as the algorithm's own.
  }
  return placed;
}

async function walk(source: MergeSource, rel: string): Promise<MergedEntry[]> {
  const names = await readdir(path.join(source.dir, rel)).catch(() => [] as string[]);
  const out: MergedEntry[] = [];
  for (const name of names.sort()) {
    const relPath = rel === "" ? name : `${rel}/${name}`;
    if (source.exclude?.has(relPath)) continue;
    const abs = path.join(source.dir, relPath);
    const st = await lstat(abs);
    const common = { rel: relPath, abs, host: source.host, size: st.size, mode: st.mode & 0o7777, mtime: st.mtime };
    if (st.isDirectory()) {
      const inside = await walk(source, relPath);
      out.push({ ...common, kind: "directory", size: 0 }, ...inside);
    } else if (st.isSymbolicLink()) out.push({ ...common, kind: "symlink", linkname: await readlink(abs) });
    else if (st.isFile()) out.push({ ...common, kind: "file" });
  }
  return out;
}

async function sameContent(a: MergedEntry, b: MergedEntry): Promise<boolean> {
  if (a.kind !== b.kind) return false;
  if (a.kind === "directory") return true;
  if (a.kind === "symlink") return a.linkname === b.linkname;
  return a.size === b.size && (await sha256(a.abs)) === (await sha256(b.abs));
}

async function sha256(file: string): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(createReadStream(file), hash);
  return hash.digest("hex");
}

function compareSegments(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i += 1) {
    if (a[i] !== b[i]) return (a[i] as string) < (b[i] as string) ? -1 : 1;
  }
  return a.length - b.length;
}
