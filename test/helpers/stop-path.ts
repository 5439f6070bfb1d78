/**
 * Helpers for the stop-path e2e tests (test/e2e/stop-path-*.test.ts): the checkpoint-writing
 * fixture algorithm, `trainguard verify` through the CLI, Python's stream reader, and digests of
 * what is on disk so archives can be compared byte for byte with the checkpoint they came from.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { onTestFinished } from "vitest";
import { EMBEDDED_S3_CREDENTIALS } from "../../src/local/index.js";
import { FIXTURES, PYTHON } from "./e2e.js";
import { ENTRY } from "./job.js";

export const MiB = 1024 * 1024;
export const MARKER = ".trainguard-commit";
export const MANIFEST = "trainguard-manifest.json";

/** argv of test/fixtures/algorithms/writer.py in `mode` (see its docstring for modes and knobs). */
export function writer(mode: string): string[] {
  return [PYTHON, path.join(FIXTURES, "writer.py"), mode];
}

/** Environment for trainguard (and the algorithm) to reach the embedded S3 server. */
export function s3Env(): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: EMBEDDED_S3_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: EMBEDDED_S3_CREDENTIALS.secretAccessKey,
    AWS_REGION: "us-east-1",
  };
}

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `node dist/cli/entry.js verify <target>`, bounded. */
export function verifyCli(target: string): CliResult {
  const r = spawnSync(process.execPath, [ENTRY, "verify", target], { encoding: "utf8", timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A temporary directory removed when the current test ends. */
export function scratchDir(tag: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `tg-stop-path-${tag}-`));
  onTestFinished(() => {
    if (process.env.TG_E2E_KEEP !== "1") rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/**
 * Extracts `archive` with Python's `tarfile.open(p, "r|gz")` (stream mode: one pass, no seeking,
 * as SageMaker's containers read model.tar.gz) into a new directory and returns it.
 */
export function pythonStreamExtract(archive: string, mode: "r|gz" | "r|" = "r|gz"): string {
  const dest = scratchDir("py-extract");
  const script = [
    "import sys, tarfile",
    "with tarfile.open(sys.argv[1], sys.argv[3]) as t:",
    "    for m in t:",
    "        t.extract(m, sys.argv[2], set_attrs=False)",
  ].join("\n");
  const r = spawnSync(PYTHON, ["-c", script, archive, dest, mode], { encoding: "utf8", timeout: 30_000 });
  if (r.status !== 0) throw new Error(`python tarfile ${mode} failed on ${archive} (${r.status ?? r.signal}): ${r.stderr}`);
  return dest;
}

/** GNU tar's own listing of an archive, in order (names as written, e.g. "./x" or "x"). */
export function gnuTarList(archive: string): string[] {
  const r = spawnSync("tar", ["-tzf", archive], { encoding: "utf8", timeout: 30_000 });
  if (r.status !== 0) throw new Error(`tar -tzf ${archive} failed: ${r.stderr}`);
  return r.stdout.split("\n").filter((l) => l !== "");
}

export function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

export function fileSha256(file: string): string {
  return sha256(readFileSync(file));
}

/** Every regular file under `dir` (recursively): relative "/"-path -> sha256. */
export function treeDigest(dir: string, opts: { exclude?: readonly string[] } = {}): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string, rel: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const r = rel === "" ? e.name : `${rel}/${e.name}`;
      if (opts.exclude?.includes(r)) continue;
      if (e.isDirectory()) walk(path.join(d, e.name), r);
      else if (e.isFile()) out.set(r, fileSha256(path.join(d, e.name)));
    }
  };
  walk(dir, "");
  return out;
}

/** Sorted [path, sha256] pairs, for toEqual with a readable diff. */
export function digestPairs(digest: ReadonlyMap<string, string>): Array<[string, string]> {
  return [...digest].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

export interface ManifestDoc {
  readonly job: string;
  readonly checkpoint: string;
  readonly reason: string;
  readonly layout: string;
  readonly compression: string;
  readonly files: ReadonlyArray<{ path: string; size: number; sha256: string; type: string }>;
  readonly skipped: ReadonlyArray<{ path: string; reason: string }>;
  readonly archive?: { file: string; bytes: number; sha256: string };
}

export function readManifest(file: string): ManifestDoc {
  return JSON.parse(readFileSync(file, "utf8")) as ManifestDoc;
}

/** The manifest's regular files as path -> sha256 (the form treeDigest returns). */
export function manifestDigest(manifest: ManifestDoc): Map<string, string> {
  return new Map(manifest.files.filter((f) => f.type === "file").map((f) => [f.path, f.sha256]));
}

export function mtimeMs(file: string): number {
  return statSync(file).mtimeMs;
}

