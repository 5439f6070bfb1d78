/**
 * The e2e harness: runs the built CLI as real PID 1 of a new PID namespace,
 *   unshare --pid --fork --mount-proc --kill-child node dist/cli/entry.js run --ml-root D --grace G --job-name N -- <algorithm>
 * and signals it from outside, as `docker kill -s` does: to the host pid of the namespace's PID 1,
 * which is the child of the unshare process (/proc/<unshare>/task/<unshare>/children).
 *
 * What `unshare --fork` (util-linux 2.38) reports: PID 1's exit code as its own; when PID 1 dies of
 * a signal it re-raises that signal on itself (so `signal` is set), except SIGKILL, which it cannot
 * unblock: then it prints "sigprocmask unblock failed" and exits 1 (`pid1Signaled`).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { onTestFinished } from "vitest";
import type { JobStatusDocument } from "../../src/contract/index.js";
import { isAlive, threadChildren } from "./procfs.js";
import { sleepSync, waitFor, withTimeout, type WaitOptions } from "./wait.js";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** The CLI under test: the build of this checkout, or TG_E2E_ENTRY (another build of the same CLI). */
export const ENTRY = process.env.TG_E2E_ENTRY ?? path.join(REPO_ROOT, "dist", "cli", "entry.js");

/** unshare 2.38 cannot re-raise SIGKILL on itself when its child died of it: it says this and exits 1. */
const UNSHARE_REPORTS_SIGNAL = "unshare: sigprocmask unblock failed";

export interface StartJobOptions {
  /** The algorithm's argv (after `--`). */
  readonly algorithm: readonly string[];
  /** --grace in seconds; default 10. */
  readonly grace?: number;
  /** More trainguard options, placed before `--`. */
  readonly options?: readonly string[];
  /** Extra environment for trainguard (and so for the algorithm). */
  readonly env?: Readonly<Record<string, string>>;
  /** Files written under the ml-root before the start, e.g. {"input/config/hyperparameters.json": "..."}. */
  readonly files?: Readonly<Record<string, string>>;
}

export interface JobExit {
  /** What `unshare --fork` exited with: PID 1's exit code. */
  readonly code: number | null;
  /** Signal that ended `unshare` itself (it re-raises its child's fatal signal when it can). */
  readonly signal: NodeJS.Signals | null;
  /** PID 1 died of a signal unshare could not re-raise (SIGKILL): then `code` is unshare's 1. */
  readonly pid1Signaled: boolean;
  /** Epoch ms when the test process saw unshare exit. */
  readonly at: number;
}

export interface LogEvent {
  readonly event: string;
  readonly time: string;
  readonly level: number;
  readonly [field: string]: unknown;
}

export interface StopRequestDoc {
  readonly signal: string;
  readonly requestedAt: string;
  readonly deadline: string;
  readonly checkpointDeadline: string;
  readonly graceSeconds: number;
}

/** What the fixture algorithms write as handler.json when their stop handler starts. */
export interface HandlerRecord {
  readonly existed: boolean;
  readonly at: number;
  readonly content?: StopRequestDoc;
}

const live = new Set<Job>();

export class Job {
  /** The ml-root given to trainguard. */
  readonly mlRoot: string;
  /** Scratch dir the algorithm reports into (TG_TEST_DIR): started, ready, handler.json, ... */
  readonly testDir: string;
  /** In the environment of every process of this job, and of nothing else. */
  readonly marker: string;
  readonly jobName: string;
  readonly grace: number;
  readonly unsharePid: number;
  /** Epoch ms right after unshare was spawned. */
  readonly spawnedAt: number;
  /** Host pid of the namespace's PID 1 (trainguard), once seen. */
  hostPid: number | undefined;
  /** Epoch ms when the PID-1 process was first seen. */
  pid1SeenAt: number | undefined;
  exit: JobExit | undefined;
  readonly exited: Promise<JobExit>;
  private readonly base: string;
  private readonly child: ChildProcess;

  constructor(opts: StartJobOptions) {
    if (!existsSync(ENTRY)) throw new Error(`${ENTRY} is missing: the e2e globalSetup (test/helpers/global-setup.ts) builds it`);
    this.base = mkdtempSync(path.join(tmpdir(), "tg-e2e-"));
    this.mlRoot = path.join(this.base, "ml");
    this.testDir = path.join(this.base, "t");
    mkdirSync(this.mlRoot);
    mkdirSync(this.testDir);
    const id = randomBytes(6).toString("hex");
    this.marker = `tg-e2e-marker-${id}`;
    this.jobName = `tg-e2e-${id}`;
    this.grace = opts.grace ?? 10;
    for (const [rel, content] of Object.entries(opts.files ?? {})) {
      const file = path.join(this.mlRoot, rel);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, content);
    }
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
      HOME: process.env.HOME ?? "/root",
      LANG: "C.UTF-8",
      TG_TEST_MARKER: this.marker,
      TG_TEST_DIR: this.testDir,
      ...opts.env,
    };
    const args = [
      "--pid",
      "--fork",
      "--mount-proc",
      // If the test process dies, the job dies with it (PR_SET_PDEATHSIG on PID 1).
      "--kill-child",
      process.execPath,
      ENTRY,
      "run",
      "--ml-root",
      this.mlRoot,
      "--grace",
      String(this.grace),
      "--job-name",
      this.jobName,
      ...(opts.options ?? []),
      "--",
      ...opts.algorithm,
    ];
    // Output goes to files, not pipes: a test that polls synchronously can never block trainguard
    // on a full pipe.
    const out = openSync(this.stdoutFile, "w");
    const err = openSync(this.stderrFile, "w");
    try {
      this.child = spawn("unshare", args, { env, stdio: ["ignore", out, err] });
    } finally {
      closeSync(out);
      closeSync(err);
    }
    this.spawnedAt = Date.now();
    if (this.child.pid === undefined) throw new Error("could not spawn unshare");
    this.unsharePid = this.child.pid;
    this.exited = new Promise<JobExit>((resolve) => {
      this.child.once("exit", (code, signal) => {
        const at = Date.now();
        this.exit = { code, signal, at, pid1Signaled: this.stderr().includes(UNSHARE_REPORTS_SIGNAL) };
        resolve(this.exit);
      });
    });
    live.add(this);
  }

  get stdoutFile(): string {
    return path.join(this.base, "stdout");
  }

  get stderrFile(): string {
    return path.join(this.base, "stderr");
  }

  /**
   * Finds PID 1 (the child of unshare) by polling synchronously, so a start-up test learns of it
   * within a fraction of a millisecond. Returns its host pid.
   */
  findPid1Sync(timeoutMs = 3_000): number {
    const start = Date.now();
    while (this.hostPid === undefined) {
      const [pid] = threadChildren(this.unsharePid);
      if (pid !== undefined) {
        this.hostPid = pid;
        this.pid1SeenAt = Date.now();
        break;
      }
      if (Date.now() - start > timeoutMs) throw new Error(`PID 1 of job ${this.jobName} did not appear within ${timeoutMs} ms\n${this.describe()}`);
      sleepSync(0.2);
    }
    return this.hostPid;
  }

  get pid1(): number {
    if (this.hostPid === undefined) throw new Error("PID 1 not found yet");
    return this.hostPid;
  }

  /** Sends `signal` from outside the namespace to its PID 1, as `docker kill -s` does; returns the epoch ms. */
  signal(signal: NodeJS.Signals): number {
    const at = Date.now();
    process.kill(this.pid1, signal);
    return at;
  }

  running(): boolean {
    return this.exit === undefined && this.hostPid !== undefined && isAlive(this.hostPid);
  }

  stdout(): string {
    return readText(this.stdoutFile) ?? "";
  }

  stderr(): string {
    return readText(this.stderrFile) ?? "";
  }

  /** trainguard's JSON log lines (from stderr, where the algorithm's stderr is mixed in). */
  events(): LogEvent[] {
    const events: LogEvent[] = [];
    for (const line of this.stderr().split("\n")) {
      const start = line.indexOf('{"level":');
      if (start === -1) continue;
      try {
        const value = JSON.parse(line.slice(start)) as Partial<LogEvent>;
        if (typeof value.event === "string") events.push(value as LogEvent);
      } catch {
        // an algorithm line that happens to contain the text
      }
    }
    return events;
  }

  eventNames(): string[] {
    return this.events().map((e) => e.event);
  }

  eventsOf(name: string): LogEvent[] {
    return this.events().filter((e) => e.event === name);
  }

  mlPath(...parts: string[]): string {
    return path.join(this.mlRoot, ...parts);
  }

  testPath(...parts: string[]): string {
    return path.join(this.testDir, ...parts);
  }

  readStatus(): JobStatusDocument | undefined {
    return readJson<JobStatusDocument>(this.mlPath("output", "trainguard", "status.json"));
  }

  status(): JobStatusDocument {
    const status = this.readStatus();
    if (!status) throw new Error(`no status.json\n${this.describe()}`);
    return status;
  }

  stopRequest(): StopRequestDoc | undefined {
    return readJson<StopRequestDoc>(this.mlPath("output", "trainguard", "stop-request.json"));
  }

  failureFile(): string | undefined {
    return readText(this.mlPath("output", "failure"));
  }

  testFile(name: string): string | undefined {
    return readText(this.testPath(name));
  }

  testJson<T>(name: string): T | undefined {
    return readJson<T>(this.testPath(name));
  }

  /** The algorithm's environment as it reported it (env.json from Node/Python, env.txt from sh). */
  algorithmEnv(): Record<string, string> | undefined {
    const json = this.testJson<Record<string, string>>("env.json");
    if (json) return json;
    const text = this.testFile("env.txt");
    if (text === undefined) return undefined;
    const env: Record<string, string> = {};
    for (const line of text.split("\n")) {
      const eq = line.indexOf("=");
      if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1);
    }
    return env;
  }

  /** Waits for a file in the test dir; fails fast (with the job's output) if the job exits first. */
  waitForTestFile(name: string, options: WaitOptions = {}): Promise<string> {
    return this.waitUntil(`${name} from the algorithm`, () => (existsSync(this.testPath(name)) ? this.testPath(name) : undefined), options);
  }

  /** Like waitFor, but gives up at once, with the job's output, if the job has ended. */
  waitUntil<T>(what: string, probe: () => T | undefined | null | false, options: WaitOptions = {}): Promise<T> {
    return waitFor(
      what,
      () => {
        const value = probe();
        if (value !== undefined && value !== null && value !== false) return value;
        if (this.exit) throw new Error(`job exited (${JSON.stringify(this.exit)}) before ${what}\n${this.describe()}`);
        return undefined;
      },
      { timeoutMs: 10_000, ...options, describe: () => this.describe() },
    );
  }

  waitReady(options: WaitOptions = {}): Promise<string> {
    return this.waitForTestFile("ready", options);
  }

  /** The job's exit, bounded (default: the grace plus a margin). */
  waitExit(timeoutMs = this.grace * 1000 + 5_000): Promise<JobExit> {
    return withTimeout(`job ${this.jobName} to exit`, this.exited, timeoutMs).catch((err: Error) => {
      throw new Error(`${err.message}\n${this.describe()}`);
    });
  }

  describe(): string {
    const tail = (s: string): string => s.split("\n").slice(-25).join("\n");
    return [
      `job ${this.jobName} ml-root ${this.mlRoot} exit ${JSON.stringify(this.exit)}`,
      `--- stderr (tail) ---\n${tail(this.stderr())}`,
      `--- stdout (tail) ---\n${tail(this.stdout())}`,
      `--- status.json ---\n${JSON.stringify(this.readStatus())}`,
    ].join("\n");
  }

  /** Kills what is left (SIGKILL to PID 1 ends the whole namespace) and removes the files. */
  async dispose(): Promise<void> {
    live.delete(this);
    if (!this.exit) {
      if (this.hostPid !== undefined) {
        try {
          process.kill(this.hostPid, "SIGKILL");
        } catch {
          // already gone
        }
      }
      try {
        process.kill(this.unsharePid, "SIGKILL");
      } catch {
        // already gone
      }
      await withTimeout("job to end after SIGKILL", this.exited, 5_000).catch(() => undefined);
    }
    if (process.env.TG_E2E_KEEP !== "1") rmSync(this.base, { recursive: true, force: true });
  }
}

/** Spawns the job and returns at once (PID 1 may not exist yet): for start-up tests. */
export function launchJob(opts: StartJobOptions): Job {
  const job = new Job(opts);
  try {
    onTestFinished(() => job.dispose());
  } catch {
    // not inside a test: disposeAllJobs() cleans up
  }
  return job;
}

/** Spawns the job and waits until its PID 1 exists. */
export function startJob(opts: StartJobOptions): Job {
  const job = launchJob(opts);
  job.findPid1Sync();
  return job;
}

export async function disposeAllJobs(): Promise<void> {
  await Promise.all([...live].map((job) => job.dispose()));
}

export function readText(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

/** <ml-root>/output/trainguard/status.json; throws when there is none (or it is not JSON). */
export function readStatus(mlRoot: string): JobStatusDocument {
  const status = readJson<JobStatusDocument>(path.join(mlRoot, "output", "trainguard", "status.json"));
  if (!status) throw new Error(`no status.json under ${mlRoot}`);
  return status;
}

export function readJson<T>(file: string): T | undefined {
  const text = readText(file);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

export const iso = (ms: number): string => new Date(ms).toISOString();
export const ms = (isoTime: string | null | undefined): number => {
  if (!isoTime) throw new Error(`not a timestamp: ${String(isoTime)}`);
  return Date.parse(isoTime);
};
