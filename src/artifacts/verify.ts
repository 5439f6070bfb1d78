import { createReadStream } from "node:fs";
import { open, stat } from "node:fs/promises";
import { createHash } from "node:crypto";
import { createGunzip } from "node:zlib";
import type { Readable } from "node:stream";
import tar from "tar-stream";
import type { Manifest, VerifyReport } from "./types.js";
import { MANIFEST_NAME, isSafeArchivePath, linkStaysInside, normalizeArchivePath } from "./paths.js";
import { EMPTY_SHA256, parseManifest } from "./manifest.js";
import { walkCheckpoint } from "./walk.js";
import { errorMessage } from "../contract/index.js";
import { fileKind, readUserFile } from "../contract/index.js";
import { EdgeBytes, checkBytes, checkIntegrity, judgedFormat } from "./torn.js";

interface Seen {
  type: "file" | "directory" | "symlink" | "other";
  size: number;
  sha256: string;
  linkTarget?: string;
  index: number;
  rawType: string;
}

interface Collected {
  seen: Map<string, Seen>;
  problems: string[];
  /** Index of the last entry, to check that ours put the manifest last. */
  lastIndex: number;
  manifestPath?: string;
  manifestText?: string;
}

type TarEntry = AsyncIterable<unknown> & { header: tar.Header };

const MAX_MANIFEST_BYTES = 256 * 1024 * 1024;
const MAX_PROBLEMS = 100;

/**
 * Read an archive (.tar.gz or .tar, sniffed from its first bytes) once, streaming, and check it
 * against the trainguard-manifest.json inside: every listed entry present with its size and
 * sha256, nothing unlisted, no unsafe path, and for our archives the manifest last.
 * A directory is checked as a model dir of layout "files". Never throws for a bad archive.
 */
export async function verifyArchive(file: string): Promise<VerifyReport> {
  const report: VerifyReport = { ok: false, readable: false, problems: [], files: 0, bytes: 0, path: file };
  let isDir: boolean;
  try {
    const info = await stat(file);
    // Opening a FIFO for reading waits for a writer: it would hang, and it is no archive anyway.
    if (!info.isDirectory() && !info.isFile()) {
      report.problems.push(`cannot open ${file}: it is ${fileKind(info)}, not an archive or a directory`);
      return report;
    }
    isDir = info.isDirectory();
  } catch (err) {
    report.problems.push(`cannot open ${file}: ${errorMessage(err)}`);
    return report;
  }
  const collected: Collected = { seen: new Map(), problems: [], lastIndex: -1 };
  if (isDir) {
    report.format = "directory";
    report.readable = await collectDirectory(file, collected, report);
  } else {
    report.readable = await collectArchive(file, collected, report);
  }
  compare(collected, report);
  if (report.problems.length > MAX_PROBLEMS) {
    const more = report.problems.length - MAX_PROBLEMS;
    report.problems = [...report.problems.slice(0, MAX_PROBLEMS), `... and ${more} more problems`];
  }
  report.ok = report.readable && report.problems.length === 0;
  return report;
}

async function collectArchive(file: string, out: Collected, report: VerifyReport): Promise<boolean> {
  let gzip: boolean;
  try {
    const fh = await open(file, "r");
    try {
      const head = Buffer.alloc(2);
      const { bytesRead } = await fh.read(head, 0, 2, 0);
      if (bytesRead === 0) {
        report.problems.push(`${file} is empty`);
        return false;
      }
      gzip = bytesRead === 2 && head[0] === 0x1f && head[1] === 0x8b;
    } finally {
      await fh.close();
    }
  } catch (err) {
    report.problems.push(`cannot open ${file}: ${errorMessage(err)}`);
    return false;
  }
  report.format = gzip ? "tar.gz" : "tar";
  const raw = createReadStream(file, { highWaterMark: 1 << 20 });
  const source: Readable = gzip ? raw.pipe(createGunzip({ chunkSize: 1 << 20 })) : raw;
  if (gzip) raw.on("error", (err) => source.destroy(err));
  const extract = tar.extract();
  const feeding = feedExtract(source, extract);
  try {
    let index = 0;
    for await (const entry of extract) {
      await collectEntry(entry, index++, out);
    }
    await feeding;
    return true;
  } catch (err) {
    source.destroy();
    report.problems.push(`cannot read ${gzip ? "gzip/tar" : "tar"} stream: ${errorMessage(err)}`);
    return false;
  }
}

/** Push the bytes into tar-stream's extractor with backpressure; errors end the extraction too. */
async function feedExtract(source: Readable, extract: tar.Extract): Promise<void> {
  try {
    for await (const chunk of source) {
      if (extract.destroyed) return;
      if (!extract.write(chunk)) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            extract.off("drain", done);
            extract.off("close", done);
            resolve();
          };
          extract.on("drain", done);
          extract.on("close", done);
        });
      }
    }
    extract.end(null);
  } catch (err) {
    extract.destroy(err instanceof Error ? err : new Error(String(err)));
  }
}

async function collectEntry(entry: TarEntry, index: number, out: Collected): Promise<void> {
  const h = entry.header;
  const name = normalizeArchivePath(h.name);
  const isManifestCandidate = h.type === "file" && (name === MANIFEST_NAME || name.endsWith(`/${MANIFEST_NAME}`));
  const keepText = isManifestCandidate && h.size <= MAX_MANIFEST_BYTES && shallower(name, out.manifestPath);
  const hash = createHash("sha256");
  const kept: Buffer[] = [];
  const edges = h.type === "file" && judgedFormat(name) ? new EdgeBytes() : undefined;
  let size = 0;
  for await (const chunk of entry as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
    if (keepText) kept.push(chunk);
    edges?.push(chunk);
  }
  // A manifest can describe a torn file faithfully: the file's own structure must say it is whole.
  if (edges) noteTorn(name, await checkBytes(name, edges), out);
  out.lastIndex = index;
  if (name === "") return; // the archive root ("./") that `tar -C dir .` writes
  if (!isSafeArchivePath(name)) {
    out.problems.push(`unsafe path in archive: ${JSON.stringify(h.name)}`);
    return;
  }
  if (keepText) {
    out.manifestPath = name;
    out.manifestText = Buffer.concat(kept).toString("utf8");
  }
  let seen: Seen;
  if (h.type === "file" || h.type === "contiguous-file") {
    seen = { type: "file", size, sha256: hash.digest("hex"), index, rawType: h.type };
  } else if (h.type === "directory") {
    seen = { type: "directory", size: 0, sha256: EMPTY_SHA256, index, rawType: h.type };
  } else if (h.type === "symlink") {
    const target = h.linkname ?? "";
    if (!linkStaysInside(name, target)) out.problems.push(`symlink ${name} points outside the archive: ${target}`);
    seen = { type: "symlink", size: 0, sha256: EMPTY_SHA256, linkTarget: target, index, rawType: h.type };
  } else if (h.type === "link") {
    // A hard link in someone else's tar of a model dir: same content as the entry it names.
    const target = normalizeArchivePath(h.linkname ?? "");
    const original = out.seen.get(target);
    if (!isSafeArchivePath(target) || !original) out.problems.push(`hard link ${name} names ${JSON.stringify(h.linkname)}, not an earlier entry`);
    seen = original ? { ...original, index, rawType: h.type } : { type: "other", size: 0, sha256: EMPTY_SHA256, index, rawType: h.type };
  } else {
    seen = { type: "other", size: 0, sha256: EMPTY_SHA256, index, rawType: String(h.type) };
  }
  if (out.seen.has(name)) out.problems.push(`duplicate entry: ${name}`);
  out.seen.set(name, seen);
}

function noteTorn(name: string, integrity: Awaited<ReturnType<typeof checkBytes>>, out: Collected): void {
  if (integrity.kind === "torn") out.problems.push(`${name}: torn: ${integrity.reason}`);
}

function shallower(name: string, current: string | undefined): boolean {
  if (current === undefined) return true;
  return name.split("/").length < current.split("/").length;
}

async function collectDirectory(dir: string, out: Collected, report: VerifyReport): Promise<boolean> {
  try {
    const manifest = await readUserFile(`${dir}/${MANIFEST_NAME}`);
    if (manifest === undefined) throw new Error("no such file");
    out.manifestText = manifest.toString("utf8");
    out.manifestPath = MANIFEST_NAME;
  } catch (err) {
    report.problems.push(`cannot read ${MANIFEST_NAME} in ${dir}: ${errorMessage(err)}`);
  }
  let walked;
  try {
    walked = await walkCheckpoint(dir, { recursive: true });
  } catch (err) {
    report.problems.push(`cannot read ${dir}: ${errorMessage(err)}`);
    return false;
  }
  for (const s of walked.skipped) if (s.path !== MANIFEST_NAME) out.problems.push(`${s.path}: ${s.reason}`);
  let index = 0;
  for (const e of walked.entries) {
    let sha256 = EMPTY_SHA256;
    if (e.type === "file") {
      try {
        const hash = createHash("sha256");
        for await (const chunk of createReadStream(e.abs, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
        sha256 = hash.digest("hex");
        noteTorn(e.path, await checkIntegrity(e.abs), out);
      } catch (err) {
        out.problems.push(`cannot read ${e.path}: ${errorMessage(err)}`);
      }
    }
    const seen: Seen = { type: e.type, size: e.size, sha256, index: index++, rawType: e.type };
    if (e.linkTarget !== undefined) seen.linkTarget = e.linkTarget;
    out.seen.set(e.path, seen);
  }
  return true;
}

function compare(c: Collected, report: VerifyReport): void {
  report.problems.push(...c.problems);
  if (c.manifestText === undefined || c.manifestPath === undefined) {
    if (report.readable) report.problems.push(`no ${MANIFEST_NAME} in ${report.path}`);
    return;
  }
  const parsed = parseManifest(c.manifestText);
  if ("problem" in parsed) {
    report.problems.push(parsed.problem);
    return;
  }
  const manifest: Manifest = parsed.manifest;
  report.manifest = manifest;
  const manifestEntry = c.seen.get(c.manifestPath);
  // Ours end with the manifest; a model dir (layout "files") tarred by someone else may not.
  if (manifest.layout === "archive" && report.format !== "directory" && manifestEntry && manifestEntry.index !== c.lastIndex) {
    report.problems.push(`${MANIFEST_NAME} is not the last entry`);
  }
  const prefix = c.manifestPath.slice(0, c.manifestPath.length - MANIFEST_NAME.length);
  const matched = new Set<string>([c.manifestPath]);
  // The directories leading to the manifest (`model/` when someone tarred the model dir itself).
  const parts = prefix.split("/").filter(Boolean);
  for (let i = 1; i <= parts.length; i++) matched.add(parts.slice(0, i).join("/"));

  for (const f of manifest.files) {
    if (!isSafeArchivePath(f.path)) {
      report.problems.push(`manifest lists an unsafe path: ${JSON.stringify(f.path)}`);
      continue;
    }
    const key = prefix + f.path;
    const got = c.seen.get(key);
    if (!got) {
      report.problems.push(`missing: ${f.path}`);
      continue;
    }
    matched.add(key);
    if (got.type !== f.type) {
      report.problems.push(`${f.path}: manifest says ${f.type}, archive has ${got.rawType}`);
      continue;
    }
    if (f.type === "file") {
      if (got.size !== f.size) report.problems.push(`${f.path}: size ${got.size}, manifest says ${f.size}`);
      else if (got.sha256 !== f.sha256) report.problems.push(`${f.path}: sha256 ${got.sha256} does not match the manifest's ${f.sha256}`);
      else {
        report.files++;
        report.bytes += f.size;
      }
    } else if (f.type === "symlink" && got.linkTarget !== f.linkTarget) {
      report.problems.push(`${f.path}: link to ${String(got.linkTarget)}, manifest says ${String(f.linkTarget)}`);
    }
  }
  for (const [name, seen] of c.seen) {
    if (!matched.has(name)) report.problems.push(`not in the manifest: ${name}${seen.type === "other" ? ` (${seen.rawType})` : ""}`);
  }
}

/** Short, for people: one line when fine, the problems listed when not. */
export function formatVerifyReport(r: VerifyReport): string {
  const size = formatBytes(r.bytes);
  if (r.ok) {
    const m = r.manifest;
    const about = m ? ` (job ${m.job}, checkpoint ${m.checkpoint}, ${m.reason}, ${m.createdAt})` : "";
    return `OK ${r.path}: ${r.files} file${r.files === 1 ? "" : "s"}, ${size} match the manifest${about}`;
  }
  const head = r.readable ? `INVALID ${r.path}` : `UNREADABLE ${r.path}`;
  return [`${head}: ${r.problems.length} problem${r.problems.length === 1 ? "" : "s"}`, ...r.problems.map((p) => `  - ${p}`)].join("\n");
}

function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}
