/**
 * Helpers for the library tests: Node training scripts run as plain processes (in-process mode:
 * runTraining is its own supervisor), and what they leave under the ml-root.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { onTestFinished } from "vitest";
import { verifyArchive } from "../../src/artifacts/index.js";
import type { Manifest, VerifyReport } from "../../src/artifacts/index.js";
import { REPO_ROOT, readText } from "../helpers/job.js";

export { readStatus } from "../helpers/job.js";
import { waitFor, withTimeout } from "../helpers/wait.js";

export const EXAMPLE = path.join(REPO_ROOT, "examples", "node-train", "train.mjs");
export const FIXTURES = path.join(REPO_ROOT, "test", "library", "fixtures");

/** Small enough for a ~0.5 s epoch on two cores, big enough to stop in the middle of one. */
export const EXAMPLE_HPS = { seed: "11", epochs: "5", samples: "50000", features: "16", hidden: "64" } as const;

export interface ScratchRoot {
  readonly base: string;
  readonly mlRoot: string;
}

/** A temporary dir with an ml-root inside, removed after the test (kept with TG_E2E_KEEP=1). */
export function scratch(hyperparameters?: Readonly<Record<string, string>>): ScratchRoot {
  const base = mkdtempSync(path.join(tmpdir(), "tg-lib-"));
  const mlRoot = path.join(base, "ml");
  mkdirSync(path.join(mlRoot, "input", "config"), { recursive: true });
  if (hyperparameters) writeFileSync(path.join(mlRoot, "input", "config", "hyperparameters.json"), JSON.stringify(hyperparameters));
  try {
    onTestFinished(() => {
      if (process.env.TG_E2E_KEEP !== "1") rmSync(base, { recursive: true, force: true });
    });
  } catch {
    // outside a test (beforeAll): the OS cleans tmp
  }
  return { base, mlRoot };
}

export interface NodeExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly at: number;
}

/** A Node script run as a plain process, output to files (never a full pipe), env explicit. */
export class NodeRun {
  readonly exited: Promise<NodeExit>;
  exit: NodeExit | undefined;
  private readonly child: ChildProcess;
  private readonly outFile: string;
  private readonly errFile: string;

  constructor(script: string, opts: { mlRoot: string; env?: Readonly<Record<string, string>>; logDir: string }) {
    this.outFile = path.join(opts.logDir, `stdout-${Date.now()}-${Math.random().toString(16).slice(2)}`);
    this.errFile = `${this.outFile}.err`;
    const out = openSync(this.outFile, "w");
    const err = openSync(this.errFile, "w");
    try {
      this.child = spawn(process.execPath, [script], {
        env: {
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          HOME: process.env.HOME ?? "/root",
          LANG: "C.UTF-8",
          TRAINGUARD_ML_ROOT: opts.mlRoot,
          TRAINGUARD_LOG_LEVEL: "debug",
          ...opts.env,
        },
        stdio: ["ignore", out, err],
      });
    } finally {
      closeSync(out);
      closeSync(err);
    }
    this.exited = new Promise((resolve) => {
      this.child.once("exit", (code, signal) => {
        this.exit = { code, signal, at: Date.now() };
        resolve(this.exit);
      });
    });
    try {
      onTestFinished(() => {
        if (!this.exit) this.child.kill("SIGKILL");
      });
    } catch {
      // outside a test
    }
  }

  signal(signal: NodeJS.Signals): number {
    const at = Date.now();
    this.child.kill(signal);
    return at;
  }

  stdout(): string {
    return readText(this.outFile) ?? "";
  }

  stderr(): string {
    return readText(this.errFile) ?? "";
  }

  describe(): string {
    const tail = (s: string): string => s.split("\n").slice(-30).join("\n");
    return `exit ${JSON.stringify(this.exit)}\n--- stdout ---\n${tail(this.stdout())}\n--- stderr ---\n${tail(this.stderr())}`;
  }

  waitForStdout(pattern: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
    return waitFor(
      `stdout to match ${pattern}`,
      () => {
        const match = this.stdout().match(pattern);
        if (match) return match;
        if (this.exit) throw new Error(`process exited before stdout matched ${pattern}\n${this.describe()}`);
        return undefined;
      },
      { timeoutMs, intervalMs: 5, describe: () => this.describe() },
    );
  }

  waitExit(timeoutMs = 30_000): Promise<NodeExit> {
    return withTimeout("the training process to exit", this.exited, timeoutMs).catch((err: Error) => {
      throw new Error(`${err.message}\n${this.describe()}`);
    });
  }
}

export function runNode(script: string, root: ScratchRoot, env?: Readonly<Record<string, string>>): NodeRun {
  return new NodeRun(script, { mlRoot: root.mlRoot, logDir: root.base, ...(env ? { env } : {}) });
}

export function failureFile(mlRoot: string): string | undefined {
  return readText(path.join(mlRoot, "output", "failure"));
}

/** verifyArchive of <ml-root>/model/model.tar.gz, required to pass, with its manifest. */
export async function verifiedModel(mlRoot: string): Promise<VerifyReport & { manifest: Manifest }> {
  const report = await verifyArchive(path.join(mlRoot, "model", "model.tar.gz"));
  if (!report.ok || !report.manifest) throw new Error(`model.tar.gz does not verify: ${JSON.stringify(report.problems)}`);
  return report as VerifyReport & { manifest: Manifest };
}

export function sha256(file: string): string {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

/** Checkpoint dir entries: complete (with the marker), and everything else (must be empty). */
export function checkpointEntries(dir: string): { complete: string[]; other: string[] } {
  const complete: string[] = [];
  const other: string[] = [];
  if (!existsSync(dir)) return { complete, other };
  for (const name of readdirSync(dir).sort()) {
    if (existsSync(path.join(dir, name, ".trainguard-commit"))) complete.push(name);
    else other.push(name);
  }
  return { complete, other };
}

/** JSON log lines (pino) of a process's stderr with an `event` or a `msg`. */
export function logLines(stderr: string): Array<Record<string, unknown>> {
  const lines: Array<Record<string, unknown>> = [];
  for (const line of stderr.split("\n")) {
    const start = line.indexOf('{"level":');
    if (start === -1) continue;
    try {
      lines.push(JSON.parse(line.slice(start)) as Record<string, unknown>);
    } catch {
      // not ours
    }
  }
  return lines;
}

export const epochName = (epoch: number): string => `epoch-${String(epoch).padStart(4, "0")}`;
