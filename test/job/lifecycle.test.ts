import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { EXIT_MARGIN_MS, checkpointReserveMs, runJob, type JobControl, type JobResult, type JobSetup, type JobStatusDocument, type StartedTraining, type StopClock, type TrainingEnd, type TrainingRunner } from "../../src/job/index.js";
import type { AlgorithmExit } from "../../src/job/index.js";

/**
 * The lifecycle's rules with a fake training process and a fake clock: no root, no child process,
 * no real waiting. Only timers and Date are faked; the filesystem is real (status.json, the stop
 * file and the failure file are what the rules are about).
 */

const GRACE_SECONDS = 60;
const GRACE_MS = GRACE_SECONDS * 1000;

interface Call {
  readonly name: string;
  readonly at: number;
  /** Whether stop-request.json existed when the call was made. */
  readonly stopFileExisted: boolean;
}

/** A training process that ends only when the test says so, recording what the lifecycle asked of it. */
class FakeProcess implements TrainingRunner {
  readonly noun = "the algorithm";
  readonly logFields = {};
  readonly stopSignal = "SIGTERM" as const;
  readonly command = ["fake-algorithm"];
  readonly commandSource = "test";
  readonly calls: Call[] = [];
  job: JobControl | undefined;
  /** What start() does instead of starting: a failed start. */
  startFailure: TrainingEnd | undefined;
  private end: (exit: AlgorithmExit) => void = () => undefined;

  constructor(private readonly stopFile: string) {}

  private record(name: string): void {
    this.calls.push({ name, at: Date.now(), stopFileExisted: existsSync(this.stopFile) });
  }

  names(): string[] {
    return this.calls.map((c) => c.name);
  }

  attach(job: JobControl): void {
    this.job = job;
  }
  async prepare(_setup: JobSetup): Promise<void> {
    this.record("prepare");
  }
  async start(_setup: JobSetup): Promise<StartedTraining | TrainingEnd> {
    this.record("start");
    if (this.startFailure) return this.startFailure;
    const ended = new Promise<TrainingEnd>((resolve) => {
      this.end = (exit) => resolve({ outcome: { kind: "exited", exit } });
    });
    return { pid: 4242, ended };
  }
  exit(exit: AlgorithmExit): void {
    this.record(`exit ${exit.exitCode ?? exit.signal}`);
    this.end(exit);
  }
  requestCheckpoint(_clock: StopClock): void {
    this.record("requestCheckpoint");
  }
  checkpointDeadlineMoved(_clock: StopClock): void {
    this.record("checkpointDeadlineMoved");
  }
  checkpointDeadlineReached(): void {
    this.record("checkpointDeadlineReached");
    // As the process runner does: the SIGKILL ends the algorithm.
    this.exit({ exitCode: null, signal: "SIGKILL" });
  }
  killNow(): number {
    this.record("killNow");
    return 137;
  }
  stderrTail(): string {
    return "";
  }
  extraPackageBytes(): number {
    return 0;
  }
  async afterFinishing(): Promise<void> {
    this.record("afterFinishing");
  }
  close(): void {
    this.record("close");
  }
}

let mlRoot: string;
let runner: FakeProcess;

function paths(): { status: string; stop: string; failure: string } {
  const out = path.join(mlRoot, "output");
  return { status: path.join(out, "trainguard", "status.json"), stop: path.join(out, "trainguard", "stop-request.json"), failure: path.join(out, "failure") };
}

function status(): JobStatusDocument {
  return JSON.parse(readFileSync(paths().status, "utf8")) as JobStatusDocument;
}

function start(): Promise<JobResult> {
  const log = pino({ level: "silent" }, new Writable({ write: (_c, _e, done) => done() }));
  return runJob({
    mlRoot,
    graceSeconds: GRACE_SECONDS,
    jobName: "lifecycle-test",
    checkpointDir: undefined,
    settings: { compression: "auto", modelLayout: "archive", onComplete: "keep", keep: 3 },
    markers: undefined,
    env: {},
    log,
    names: { mlRoot: "--ml-root", checkpointDir: "--checkpoint-dir", output: "--output", checkpointUri: "--checkpoint-uri", modelLayout: "--model-layout" },
    runner,
  });
}

/** Captured before the clock is faked: waiting for real I/O must not move the fake clock. */
const realSleep = (ms: number): Promise<void> => new Promise((resolve) => realSetTimeout(resolve, ms));
const realSetTimeout = globalThis.setTimeout;

/** Moves the fake clock by `ms`, then lets the lifecycle's real file writes and promise chains run. */
async function advance(ms: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms);
  await realSleep(20);
}

/** Waits (in real time, the fake clock still) until status.json says `expected`: its writes are asynchronous. */
async function untilStatus(expected: string): Promise<void> {
  for (let waited = 0; waited < 10_000 && status().TrainingJobStatus !== expected; waited += 10) await realSleep(10);
  expect(status().TrainingJobStatus).toBe(expected);
}

/** Waits (in real time, the fake clock still) until the runner was asked for `name`. */
async function untilCalled(name: string): Promise<void> {
  for (let waited = 0; waited < 10_000 && !runner.names().includes(name); waited += 10) await realSleep(10);
  expect(runner.names()).toContain(name);
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] });
  vi.setSystemTime(new Date("2026-12-05T10:00:00Z"));
  mlRoot = mkdtempSync(path.join(tmpdir(), "tg-lifecycle-"));
  runner = new FakeProcess(paths().stop);
});

afterEach(() => {
  vi.useRealTimers();
  rmSync(mlRoot, { recursive: true, force: true });
});

describe("the job lifecycle, with a fake process and a fake clock", () => {
  it("a stop while training: the stop file exists before the checkpoint request, deadline = stop + grace, a clean exit is Stopped 0", async () => {
    const result = start();
    await untilCalled("start");
    const stopAt = Date.now();
    runner.job?.requestStop("SIGTERM", stopAt);
    const request = runner.calls.find((c) => c.name === "requestCheckpoint");
    expect(request?.stopFileExisted).toBe(true);
    const stopFile = JSON.parse(readFileSync(paths().stop, "utf8")) as { deadline: string; checkpointDeadline: string };
    expect(Date.parse(stopFile.deadline)).toBe(stopAt + GRACE_MS);
    // Nothing measured in an empty checkpoint dir: the reserve is the floor.
    expect(Date.parse(stopFile.checkpointDeadline)).toBe(stopAt + GRACE_MS - checkpointReserveMs(0, GRACE_MS));
    await advance(1_000);
    await untilStatus("Stopping");
    runner.exit({ exitCode: 0, signal: null });
    await expect(result).resolves.toEqual({ status: "Stopped", exitCode: 0 });
    expect(status()).toMatchObject({ TrainingJobStatus: "Stopped", exitCode: 0, escalated: false, deadline: new Date(stopAt + GRACE_MS).toISOString() });
    expect(runner.names().at(-1)).toBe("close");
  });

  it("a repeated stop changes nothing: one checkpoint request, the deadline of the first", async () => {
    const result = start();
    await untilCalled("start");
    const first = Date.now();
    runner.job?.requestStop("SIGTERM", first);
    await advance(5_000);
    runner.job?.requestStop("SIGINT", Date.now());
    expect(runner.names().filter((n) => n === "requestCheckpoint")).toHaveLength(1);
    const stopFile = JSON.parse(readFileSync(paths().stop, "utf8")) as { signal: string; deadline: string };
    expect(stopFile).toMatchObject({ signal: "SIGTERM", deadline: new Date(first + GRACE_MS).toISOString() });
    runner.exit({ exitCode: 0, signal: null });
    await expect(result).resolves.toEqual({ status: "Stopped", exitCode: 0 });
    expect(status().stopSignal).toBe("SIGTERM");
  });

  it("training still running at the checkpoint deadline is ended then, not a millisecond earlier; the job is Stopped with 137 and escalated", async () => {
    const result = start();
    await untilCalled("start");
    const stopAt = Date.now();
    runner.job?.requestStop("SIGTERM", stopAt);
    const checkpointDeadline = stopAt + GRACE_MS - checkpointReserveMs(0, GRACE_MS);
    await advance(checkpointDeadline - Date.now() - 1);
    expect(runner.names()).not.toContain("checkpointDeadlineReached");
    await advance(1);
    const reached = runner.calls.find((c) => c.name === "checkpointDeadlineReached");
    expect(reached?.at).toBe(checkpointDeadline);
    await expect(result).resolves.toEqual({ status: "Stopped", exitCode: 137 });
    expect(status()).toMatchObject({ TrainingJobStatus: "Stopped", escalated: true, signal: "SIGKILL" });
    // Ended well before the process would have had to exit on its own.
    expect(Date.now()).toBeLessThan(stopAt + GRACE_MS - EXIT_MARGIN_MS);
  });

  it("a stop before training started: training never starts, Stopped with 128+15, the stop file written", async () => {
    // Held before attach, as a signal held at start-up is: delivered before configuration is read.
    const result = start();
    runner.job?.requestStop("SIGTERM", Date.now());
    await expect(result).resolves.toEqual({ status: "Stopped", exitCode: 143 });
    expect(runner.names()).not.toContain("start");
    expect(runner.names()).not.toContain("requestCheckpoint");
    expect(existsSync(paths().stop)).toBe(true);
    expect(status().TrainingJobStatus).toBe("Stopped");
  });

  it("without a stop: a non-zero exit is Failed with that code and a failure file; a zero exit is Completed", async () => {
    const failed = start();
    await untilCalled("start");
    runner.exit({ exitCode: 3, signal: null });
    await expect(failed).resolves.toEqual({ status: "Failed", exitCode: 3 });
    expect(readFileSync(paths().failure, "utf8")).toMatch(/^Algorithm failed: exit code 3\./);

    runner = new FakeProcess(paths().stop);
    const completed = start();
    await untilCalled("start");
    runner.exit({ exitCode: 0, signal: null });
    await expect(completed).resolves.toEqual({ status: "Completed", exitCode: 0 });
    // The first run's failure file is kept aside, not taken for this run's.
    expect(existsSync(`${paths().failure}.previous`)).toBe(true);
    expect(existsSync(paths().failure)).toBe(false);
  });

  it("a command that cannot start: Failed with 127, no checkpoint request", async () => {
    runner.startFailure = { outcome: { kind: "spawn-failed", failure: { code: "ENOENT", message: "not found" } } };
    await expect(start()).resolves.toEqual({ status: "Failed", exitCode: 127 });
    expect(readFileSync(paths().failure, "utf8")).toMatch(/command not found: "fake-algorithm" \(from test/);
  });

  it("an invalid configuration file: exit 2 before training starts, the failure file names the file and field", async () => {
    mkdirSync(path.join(mlRoot, "input", "config"), { recursive: true });
    writeFileSync(path.join(mlRoot, "input", "config", "resourceconfig.json"), '{"current_host": ""}');
    await expect(start()).resolves.toEqual({ status: "Failed", exitCode: 2 });
    expect(runner.names()).not.toContain("start");
    expect(readFileSync(paths().failure, "utf8")).toMatch(/^trainguard: invalid configuration: \S*resourceconfig\.json: field "current_host"/);
  });
});
