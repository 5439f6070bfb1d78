/**
 * Runs trainguard once on a prepared ml-root and reports what a user (and SageMaker) would see:
 * exit code, failure file, status.json, whether the algorithm started, the model dir's bytes.
 * Directly as a child process (fast), or as PID 1 of a new PID namespace (`pid1`).
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { JobStatusDocument } from "../../src/contract/index.js";
import { ENTRY, readJson, readText } from "./job.js";

export interface CaseDirs {
  /** Scratch dir holding the ml-root and whatever a case needs beside it. */
  readonly base: string;
  readonly ml: string;
  /** The file the algorithm writes the moment it runs. */
  readonly started: string;
}

export interface RunSpec {
  /** trainguard's argv; `{ml}` and `{base}` are replaced. Default: run --ml-root {ml} -- <algorithm>. */
  readonly argv?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  /** Files under the ml-root written before the start (string or bytes). */
  readonly files?: Readonly<Record<string, string | Buffer>>;
  /** Anything else before the start (FIFOs, regular files where dirs belong). */
  readonly setup?: (dirs: CaseDirs) => void;
  /** As PID 1 of a new PID namespace (needs root and unshare). */
  readonly pid1?: boolean;
  readonly timeoutMs?: number;
}

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
  readonly failure: string | undefined;
  readonly status: JobStatusDocument | undefined;
  readonly started: boolean;
  /** The model placed before the start, byte for byte, or what is there now. */
  readonly modelBefore: Buffer;
  readonly modelAfter: Buffer | undefined;
  readonly modelDirAfter: string[];
  readonly dirs: CaseDirs;
  readonly durationMs: number;
}

/** The algorithm: records that it ran, and nothing else. */
export function algorithmArgv(dirs: CaseDirs): string[] {
  return ["sh", "-c", `echo started > '${dirs.started}'`];
}

export function newCaseDirs(): CaseDirs {
  const base = mkdtempSync(path.join(tmpdir(), "tg-bad-"));
  const ml = path.join(base, "ml");
  return { base, ml, started: path.join(base, "started") };
}

/** A valid model from an earlier run and a stray file that packaging would pick up. */
function placeEarlierModel(dirs: CaseDirs): Buffer {
  const model = randomBytes(4096);
  mkdirSync(path.join(dirs.ml, "model"), { recursive: true });
  mkdirSync(path.join(dirs.ml, "checkpoints"), { recursive: true });
  mkdirSync(path.join(dirs.ml, "input", "config"), { recursive: true });
  writeFileSync(path.join(dirs.ml, "model", "model.tar.gz"), model);
  writeFileSync(path.join(dirs.ml, "checkpoints", "stray.bin"), "a stray file, not a model\n");
  return model;
}

export async function runCase(spec: RunSpec): Promise<RunResult> {
  const dirs = newCaseDirs();
  const modelBefore = placeEarlierModel(dirs);
  for (const [rel, content] of Object.entries(spec.files ?? {})) {
    const file = path.join(dirs.ml, rel);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, content);
  }
  spec.setup?.(dirs);
  const fill = (s: string): string => s.replaceAll("{ml}", dirs.ml).replaceAll("{base}", dirs.base);
  const argv = (spec.argv ?? ["run", "--ml-root", "{ml}", "--", ...algorithmArgv(dirs)]).map(fill);
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? "/root",
    LANG: "C.UTF-8",
    TRAINGUARD_COMMAND: JSON.stringify(algorithmArgv(dirs)),
    ...Object.fromEntries(Object.entries(spec.env ?? {}).map(([k, v]) => [k, fill(v)])),
  };
  const [file, args] = spec.pid1
    ? ["unshare", ["--pid", "--fork", "--mount-proc", "--kill-child", process.execPath, ENTRY, ...argv]]
    : [process.execPath, [ENTRY, ...argv]];
  const started = Date.now();
  const { code, signal, stderr } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString("utf8")));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`trainguard ${argv.join(" ").slice(0, 200)} did not exit within ${spec.timeoutMs ?? 30_000} ms\n${err.slice(-3000)}`));
    }, spec.timeoutMs ?? 30_000);
    child.once("error", reject);
    child.once("close", (c, s) => {
      clearTimeout(timer);
      resolve({ code: c, signal: s, stderr: err });
    });
  });
  const durationMs = Date.now() - started;
  const modelDir = path.join(dirs.ml, "model");
  let modelAfter: Buffer | undefined;
  let modelDirAfter: string[] = [];
  try {
    modelAfter = readFileSync(path.join(modelDir, "model.tar.gz"));
    modelDirAfter = (await import("node:fs")).readdirSync(modelDir).sort();
  } catch {
    modelAfter = undefined;
  }
  return {
    code,
    signal,
    stderr,
    failure: readText(path.join(dirs.ml, "output", "failure")),
    status: readJson(path.join(dirs.ml, "output", "trainguard", "status.json")),
    started: readText(dirs.started) !== undefined,
    modelBefore,
    modelAfter,
    modelDirAfter,
    dirs,
    durationMs,
  };
}

export function disposeCase(result: RunResult): void {
  rmSync(result.dirs.base, { recursive: true, force: true });
}
