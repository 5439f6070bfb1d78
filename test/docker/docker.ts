// Helpers for the container tests: the docker CLI, throwaway ml-roots, checkpoints on the host, the
// orphan scripts, and the five cases every example image goes through (examples.test.ts).
// The images are built by docker/ci-setup.sh, never by the tests.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect as globalExpect, type ExpectStatic } from "vitest";
import type { JobStatusDocument } from "../../src/contract/index.js";
import { EMBEDDED_S3_CREDENTIALS } from "../../src/local/index.js";
import type { S3Fixture } from "../helpers/s3.js";
import { STOPPED_WHILE_TRAINING } from "../helpers/assertions.js";

const execFileAsync = promisify(execFile);
/** The CLI built by the vitest global setup, run on the host to check what the containers wrote. */
const CLI = fileURLToPath(new URL("../../dist/cli/entry.js", import.meta.url));

export const BASE_IMAGE = "trainguard:local";
/** The self-contained build alone (/opt/trainguard), FROM scratch: training images COPY it. */
export const DIST_IMAGE = "trainguard-dist:local";
/** The Debian base with python3 and the host's node that BASE_IMAGE is built on. */
export const NODE_OS_IMAGE = "trainguard-os:bookworm";
export const PYTHON_IMAGE = "trainguard-example-python:local";
export const PYTHON_BULLSEYE_IMAGE = "trainguard-example-python:bullseye";
export const SHELL_IMAGE = "trainguard-example-shell:local";
export const NODE_IMAGE = "trainguard-example-node:local";
export const PYTORCH_IMAGE = "trainguard-example-pytorch:local";

/** How trainguard runs as PID 1 in an image: its ENTRYPOINT, its command line, its /proc comm. */
export interface TrainguardAsPid1 {
  readonly entrypoint: readonly string[];
  /** PID 1 of `docker run <image> train` as `docker top` shows it. */
  readonly args: string;
  readonly comm: string;
}

/** FROM the Node base image: the npm package's bin run by the image's node. */
export const NODE_BASE_TRAINGUARD: TrainguardAsPid1 = { entrypoint: ["trainguard"], args: "node /usr/local/bin/trainguard train", comm: "node" };

/** The self-contained build, added with one COPY: bin/trainguard execs its own runtime (Node 24 names its main thread). */
export const SELF_CONTAINED_TRAINGUARD: TrainguardAsPid1 = {
  entrypoint: ["/opt/trainguard/bin/trainguard"],
  args: "/opt/trainguard/runtime/node --disable-sigusr1 /opt/trainguard/lib/cli/entry.js train",
  comm: "MainThread",
};

export const COMMIT_MARKER = ".trainguard-commit";
const SETUP_HINT = "run `bash docker/ci-setup.sh` (as root) first: it starts the engine and builds the images; the tests never build them";

export interface DockerResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run the docker CLI; never throws on a non-zero exit (callers assert on `code`). */
export async function docker(args: readonly string[], timeoutMs = 30_000): Promise<DockerResult> {
  try {
    const { stdout, stderr } = await execFileAsync("docker", [...args], { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string; killed?: boolean; message: string };
    if (e.killed) throw new Error(`docker ${args.join(" ")} did not finish within ${timeoutMs} ms`);
    if (typeof e.code !== "number") throw new Error(`cannot run docker ${args.join(" ")}: ${e.message}`);
    return { code: e.code, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

/** Like `docker` but the command must succeed; returns trimmed stdout. */
export async function dockerOk(args: readonly string[], timeoutMs?: number): Promise<string> {
  const result = await docker(args, timeoutMs);
  if (result.code !== 0) throw new Error(`docker ${args.join(" ")} exited ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`);
  return result.stdout.trim();
}

/**
 * `describe` for tests that need a Docker engine. Without one (`docker info` fails) they skip with
 * a message saying why; in CI (CI set) a missing engine is a failure, never a skip.
 */
export async function describeWithDocker(name: string, images: readonly string[], body: () => void): Promise<void> {
  const probe = await docker(["info", "--format", "{{.ServerVersion}}"], 20_000).catch((err: Error) => ({ code: -1, stdout: "", stderr: err.message }));
  const engine = probe.code === 0;
  if (!engine && !process.env.CI) {
    const why = probe.stderr.trim().split("\n")[0] ?? "";
    console.warn(`[test/docker] SKIPPED "${name}": \`docker info\` failed (${why}). These tests need a Docker engine; ${SETUP_HINT}.`);
    describe.skip(name, body);
    return;
  }
  describe(name, () => {
    beforeAllImages(engine, probe.stderr, images);
    body();
  });
}

function beforeAllImages(engine: boolean, engineError: string, images: readonly string[]): void {
  // Every test in the block needs these: without them, fail them all with the way out.
  beforeAll(async () => {
    if (!engine) throw new Error(`\`docker info\` failed in CI (${engineError.trim()}): ${SETUP_HINT}`);
    const missing: string[] = [];
    for (const image of images) if ((await docker(["image", "inspect", "--format", "{{.Id}}", image])).code !== 0) missing.push(image);
    if (missing.length > 0) throw new Error(`image${missing.length > 1 ? "s" : ""} ${missing.join(", ")} missing: ${SETUP_HINT}`);
  });
  afterAll(cleanUp, 60_000);
}

const containers: string[] = [];
const dirs: string[] = [];

async function cleanUp(): Promise<void> {
  if (containers.length > 0) await docker(["rm", "-f", ...containers.splice(0)], 60_000);
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
}

/** Remember a container for removal after the file's tests. */
export function track(id: string): string {
  containers.push(id);
  return id;
}

/** Temporary host directory, removed after the file's tests. */
export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), `trainguard-docker-${prefix}-`));
  dirs.push(dir);
  return dir;
}

/** The container user: the test's own uid, so the host can read and delete what it writes. */
export function hostUser(): string {
  return `${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0}`;
}

/** An ml-root for one job: the config files SageMaker would write, checkpoints in /opt/ml/checkpoints. */
export async function mlRoot(name: string, hyperparameters: Record<string, string>): Promise<string> {
  const root = await tempDir(name);
  const config = path.join(root, "input", "config");
  await mkdir(config, { recursive: true });
  await writeFile(path.join(config, "hyperparameters.json"), JSON.stringify(hyperparameters));
  await writeFile(path.join(config, "resourceconfig.json"), JSON.stringify({ current_host: "algo-1", hosts: ["algo-1"], network_interface_name: "eth0" }));
  await writeFile(path.join(config, "checkpointconfig.json"), JSON.stringify({ LocalPath: "/opt/ml/checkpoints" }));
  return root;
}

export interface RunOptions {
  readonly image: string;
  readonly mlRoot?: string;
  readonly env?: Record<string, string>;
  readonly user?: string;
  readonly args?: readonly string[];
  readonly entrypoint?: string;
}

/** `docker run -d`: trainguard as PID 1, host network, /opt/ml bind-mounted when given. */
export async function runDetached(options: RunOptions): Promise<string> {
  const args = ["run", "-d", "--network", "host", "--label", "org.trainguard.test=1", "--user", options.user ?? hostUser()];
  if (options.mlRoot) args.push("-v", `${options.mlRoot}:/opt/ml`);
  for (const [name, value] of Object.entries(options.env ?? {})) args.push("-e", `${name}=${value}`);
  if (options.entrypoint) args.push("--entrypoint", options.entrypoint);
  args.push(options.image, ...(options.args ?? []));
  return track(await dockerOk(args));
}

/** Wait for the container to end; its exit code and how long that took from `since`. */
export async function waitExit(id: string, since: number, timeoutMs: number): Promise<{ exitCode: number; elapsedMs: number }> {
  const out = await dockerOk(["wait", id], timeoutMs);
  return { exitCode: Number(out), elapsedMs: Date.now() - since };
}

export async function inspect(id: string, format: string): Promise<string> {
  return dockerOk(["inspect", "--format", format, id]);
}

export interface ProcessRow {
  readonly pid: number;
  readonly ppid: number;
  readonly stat: string;
  readonly args: string;
}

/** The container's processes as the host sees them (`docker top`, host pids). */
export async function processes(id: string): Promise<ProcessRow[]> {
  // -ww: never cut the command line to a terminal width.
  const out = await dockerOk(["top", id, "-ww", "-eo", "pid,ppid,stat,args"]);
  return out
    .split("\n")
    .slice(1)
    .filter((line) => line.trim() !== "")
    .map((line) => {
      const [pid, ppid, stat, ...args] = line.trim().split(/\s+/);
      return { pid: Number(pid), ppid: Number(ppid), stat: stat ?? "", args: args.join(" ") };
    });
}

/**
 * Every process in the container's PID namespace, zombies included, read from its /proc through
 * `docker exec` (`docker top` lists the cgroup's tasks, and a zombie has already left its cgroup).
 * Pids are the container's own; the reader itself is left out. `args` is the command name here.
 */
export async function namespaceProcesses(id: string): Promise<ProcessRow[]> {
  const out = await dockerOk(["exec", id, "sh", "-c", 'echo "$$"; cat /proc/[0-9]*/stat 2>/dev/null; true']);
  const [self, ...lines] = out.split("\n");
  const rows: ProcessRow[] = [];
  for (const line of lines) {
    const open = line.indexOf(" (");
    const close = line.lastIndexOf(")");
    if (open === -1 || close === -1) continue;
    const [stat = "", ppid = ""] = line.slice(close + 2).split(" ");
    const row = { pid: Number(line.slice(0, open)), ppid: Number(ppid), stat, args: line.slice(open + 2, close) };
    if (String(row.pid) !== self && String(row.ppid) !== self) rows.push(row);
  }
  return rows;
}

export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

export interface Checkpoints {
  /** step-N names with a commit marker, oldest first. */
  readonly complete: string[];
  /** Every other entry (cut-short saves, temporaries). */
  readonly other: string[];
}

export async function checkpoints(dir: string): Promise<Checkpoints> {
  const complete: { name: string; step: number }[] = [];
  const other: string[] = [];
  let names: string[] = [];
  try {
    names = await readdir(dir);
  } catch {
    return { complete: [], other: [] };
  }
  for (const name of names) {
    const step = /^(?:step|epoch)-(\d+)$/.exec(name)?.[1];
    if (step !== undefined && existsSync(path.join(dir, name, COMMIT_MARKER))) complete.push({ name, step: Number(step) });
    else other.push(name);
  }
  complete.sort((a, b) => a.step - b.step);
  return { complete: complete.map((c) => c.name), other };
}

/** Wait until at least `count` complete checkpoints exist under <ml-root>/checkpoints. */
export async function waitForCheckpoints(root: string, count: number, timeoutMs = 30_000): Promise<string[]> {
  return waitFor(`${count} complete checkpoints in ${root}/checkpoints`, timeoutMs, async () => {
    const { complete } = await checkpoints(path.join(root, "checkpoints"));
    return complete.length >= count ? complete : undefined;
  });
}

export async function readStatus(root: string): Promise<JobStatusDocument> {
  return JSON.parse(await readFile(path.join(root, "output", "trainguard", "status.json"), "utf8")) as JobStatusDocument;
}

/** The archive in the mounted model dir verifies (`trainguard verify`) and holds `checkpoint`, manifest last. */
export async function expectArchiveHoldsCheckpoint(root: string, checkpoint: string, expect: ExpectStatic = globalExpect): Promise<void> {
  const archive = path.join(root, "model", "model.tar.gz");
  const verify = await execFileAsync(process.execPath, [CLI, "verify", archive]).catch((err: { code?: number; stderr?: string }) => {
    throw new Error(`trainguard verify ${archive} exited ${err.code}: ${err.stderr ?? ""}`);
  });
  expect(verify.stdout).toMatch(/^OK /);
  const { stdout: names } = await execFileAsync("tar", ["-tzf", archive]);
  expect(names.trim().split("\n").at(-1)).toBe("trainguard-manifest.json");
  const { stdout: manifestText } = await execFileAsync("tar", ["-xzOf", archive, "trainguard-manifest.json"]);
  const manifest = JSON.parse(manifestText) as { checkpoint?: unknown };
  expect(manifest.checkpoint).toBe(checkpoint);
  const status = await readStatus(root);
  expect(status.artifact?.path).toBe("/opt/ml/model/model.tar.gz");
}

// ---------------------------------------------------------------------------------------------
// Orphans: children that outlive their parent are re-parented to PID 1, which must reap them.
// ---------------------------------------------------------------------------------------------

/** How many orphans each orphan script leaves. */
export const ORPHANS = 50;
/** Long enough to outlive any test: the test ends them itself (SIGKILL), once it has seen them all. */
const ORPHAN_SECONDS = 600;
/** The algorithm exits 0 once the test creates this file. */
const RELEASE_FILE = "/tmp/trainguard-test-release";

/**
 * Algorithms (TRAINGUARD_COMMAND) that leave ORPHANS `sleep` processes re-parented to PID 1, print
 * "spawned", then wait for RELEASE_FILE and exit 0; one per interpreter of the examples. Nothing is
 * left to timing: the orphans live until the test kills them, the algorithm until the test is done.
 */
export const ORPHAN_COMMANDS = {
  // Each subshell starts a sleep in the background and exits at once.
  sh: [
    "/bin/sh",
    "-c",
    `for i in $(seq ${ORPHANS}); do (sleep ${ORPHAN_SECONDS} &); done; echo spawned; while [ ! -e ${RELEASE_FILE} ]; do sleep 0.1; done`,
  ],
  // Double fork: the intermediate child starts a sleep and exits; the algorithm waits for the intermediate only.
  python3: [
    "python3",
    "-c",
    [
      "import os, time",
      `for _ in range(${ORPHANS}):`,
      "    pid = os.fork()",
      "    if pid == 0:",
      "        if os.fork() == 0:",
      `            os.execvp("sleep", ["sleep", "${ORPHAN_SECONDS}"])`,
      "        os._exit(0)",
      "    os.waitpid(pid, 0)",
      'print("spawned", flush=True)',
      `while not os.path.exists("${RELEASE_FILE}"):`,
      "    time.sleep(0.1)",
    ].join("\n"),
  ],
  // An intermediate node process spawns the sleeps and exits without waiting for them.
  node: [
    "node",
    "-e",
    [
      'const { spawn } = require("node:child_process");',
      'const { existsSync } = require("node:fs");',
      `const intermediate = ${JSON.stringify(`const { spawn } = require("node:child_process"); for (let i = 0; i < ${ORPHANS}; i++) spawn("sleep", ["${ORPHAN_SECONDS}"], { stdio: "ignore" }); process.exit(0);`)};`,
      'spawn(process.execPath, ["-e", intermediate], { stdio: "inherit" }).on("exit", (code) => {',
      "  if (code !== 0) process.exit(1);",
      '  console.log("spawned");',
      `  const timer = setInterval(() => { if (existsSync(${JSON.stringify(RELEASE_FILE)})) clearInterval(timer); }, 100);`,
      "});",
    ].join("\n"),
  ],
} as const satisfies Record<string, readonly string[]>;

export type OrphanInterpreter = keyof typeof ORPHAN_COMMANDS;

export function isZombie(row: ProcessRow): boolean {
  return row.stat.startsWith("Z");
}

const isOrphan = (row: ProcessRow): boolean => row.args === "sleep" && row.ppid === 1;

export interface OrphanObservation {
  /** The orphans once all were spawned: `sleep`s whose parent is PID 1 (pids of the container). */
  readonly reparented: ProcessRow[];
  /** The container's processes after the test killed every orphan, a moment later. */
  readonly after: ProcessRow[];
}

/**
 * Follow an orphan script (ORPHAN_COMMANDS) in container `id` through /proc of its PID namespace:
 * wait until all ORPHANS are re-parented to PID 1, SIGKILL them, give PID 1 a moment to reap, look
 * again; then let the algorithm exit.
 */
export async function observeOrphans(id: string): Promise<OrphanObservation> {
  await waitFor("the orphans to be spawned", 30_000, async () => ((await docker(["logs", id])).stdout.includes("spawned") ? true : undefined));
  // "spawned" comes once every intermediate has exited; a forked orphan may still be on its way to exec.
  const reparented = await waitFor("every orphan to be a sleep re-parented to PID 1", 10_000, async () => {
    const orphans = (await namespaceProcesses(id)).filter(isOrphan);
    return orphans.length >= ORPHANS ? orphans : undefined;
  });
  await dockerOk(["exec", id, "sh", "-c", 'kill -KILL "$@"', "sh", ...reparented.map((row) => String(row.pid))]);
  await waitFor("the orphans to die", 10_000, async () => ((await namespaceProcesses(id)).some((row) => isOrphan(row) && !isZombie(row)) ? undefined : true));
  // Reaping follows SIGCHLD within milliseconds; a zombie still there after this is one for good.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const after = await namespaceProcesses(id);
  await dockerOk(["exec", id, "touch", RELEASE_FILE]);
  return { reparented, after };
}

/**
 * trainguard as PID 1 of `image` reaps the orphans the `interpreter` script leaves: every one of
 * them is seen re-parented to PID 1, none is left a zombie, and the job completes.
 */
export async function orphansCase(image: string, trainguard: TrainguardAsPid1, interpreter: OrphanInterpreter, expect: ExpectStatic): Promise<void> {
  const root = await tempDir(`orphans-${interpreter}`);
  const id = await runDetached({
    image,
    mlRoot: root,
    env: { TRAINGUARD_COMMAND: JSON.stringify(ORPHAN_COMMANDS[interpreter]), TRAINING_JOB_NAME: `docker-orphans-${interpreter}` },
    args: ["train"],
  });
  const { reparented, after } = await observeOrphans(id);
  expect(reparented).toHaveLength(ORPHANS);
  // No zombie is left among PID 1's children. (The sh algorithm's own `sleep 0.1` may be caught for
  // an instant between its exit and the shell's wait: that one is the shell's to reap, not PID 1's.)
  expect(after.filter((row) => isZombie(row) && row.ppid === 1)).toEqual([]);
  // What is left: trainguard as PID 1 and the algorithm as its only child (and the algorithm's own children).
  expect(after.find((row) => row.pid === 1)).toMatchObject({ ppid: 0, args: trainguard.comm });
  expect(after.filter((row) => row.ppid === 1).map((row) => row.args)).toEqual([interpreter]);
  expect(after.filter(isOrphan)).toEqual([]);

  expect((await waitExit(id, Date.now(), 30_000)).exitCode).toBe(0);
  expect(await readStatus(root)).toMatchObject({ TrainingJobStatus: "Completed", exitCode: 0, trainguardExitCode: 0 });
}

// ---------------------------------------------------------------------------------------------
// The cases every example image goes through (test/docker/examples.test.ts, one describe each).
// ---------------------------------------------------------------------------------------------

/** One example image and what the shared cases expect of it. */
export interface ExampleSpec {
  /** examples/<name> */
  readonly name: string;
  readonly image: string;
  /** How trainguard is in the image: FROM the Node base, or the self-contained build. */
  readonly trainguard: TrainguardAsPid1;
  /** The algorithm as `docker top` shows it: PID 1's only child. */
  readonly algorithm: string;
  /** "saves": on SIGTERM it checkpoints and exits 0. "ignores": trainguard SIGKILLs it at the checkpoint deadline (137). */
  readonly onTerm: "saves" | "ignores";
  /** TRAINGUARD_GRACE for `docker kill -s TERM`; for "ignores" the stop takes grace - 2 s (the packaging reserve). */
  readonly grace: number;
  /** Hyperparameters of a job that checkpoints quickly and trains until it is stopped. */
  readonly training: Record<string, string>;
  /** How long the first two checkpoints may take. */
  readonly checkpointTimeoutMs: number;
  /** The interpreter of its orphan script (ORPHAN_COMMANDS). */
  readonly interpreter: OrphanInterpreter;
  /** Checks of its own after a stop (the newest complete checkpoint is `run.newest`). */
  readonly afterStop?: (run: StoppedRun, expect: ExpectStatic) => Promise<void>;
  /** How long `docker run <image> train` with no configuration may take to complete. */
  readonly defaultRunTimeoutMs: number;
  /** What its defaults leave in <ml-root> after that run. */
  readonly expectDefaults: (root: string, expect: ExpectStatic) => Promise<void>;
}

export interface StoppedRun {
  readonly id: string;
  readonly root: string;
  /** The newest complete checkpoint when the stop was sent. */
  readonly atStop: string;
  /** The newest complete checkpoint after the container ended: the one the archive must hold. */
  readonly newest: string;
  readonly elapsedMs: number;
}

/** The reserve trainguard keeps for packaging, at least: the algorithm is SIGKILLed at grace minus this. */
const MIN_RESERVE_MS = 2_000;

/** The number in a checkpoint name (step-12, epoch-0003). */
export function checkpointNumber(name: string): number {
  return Number(/-(\d+)$/.exec(name)?.[1] ?? Number.NaN);
}

interface StopOptions {
  readonly how: "kill" | "stop";
  readonly grace: number;
  readonly jobName: string;
  readonly env?: Record<string, string>;
  /** While it trains, before the stop. */
  readonly whileTraining?: (id: string) => Promise<void>;
}

/**
 * Run the example with /opt/ml mounted, wait for its second checkpoint and stop it: `docker kill -s
 * TERM` (then wait) or `docker stop -t 10`. Checks what every stop must give: the container ended
 * before the grace period (and before Docker's SIGKILL), its exit code mirrors the algorithm,
 * status.json says Stopped, and the archive verifies and holds the newest complete checkpoint.
 */
async function stopExample(spec: ExampleSpec, options: StopOptions, expect: ExpectStatic): Promise<StoppedRun> {
  const root = await mlRoot(options.jobName, spec.training);
  const id = await runDetached({
    image: spec.image,
    mlRoot: root,
    // TRAINING_JOB_NAME alone would select the files layout (a platform tars model/ itself); these
    // cases check trainguard's own archive, so they ask for it. test/local covers the files layout.
    env: { TRAINGUARD_GRACE: String(options.grace), TRAINING_JOB_NAME: options.jobName, TRAINGUARD_MODEL_LAYOUT: "archive", ...options.env },
    args: ["train"],
  });
  const atStop = (await waitForCheckpoints(root, 2, spec.checkpointTimeoutMs)).at(-1) as string;
  await options.whileTraining?.(id);

  const stoppedAt = Date.now();
  if (options.how === "kill") {
    await dockerOk(["kill", "-s", "TERM", id]);
    await waitExit(id, stoppedAt, (options.grace + 10) * 1000);
  } else {
    // `docker stop` returns once the container is gone: by trainguard's exit or by Docker's SIGKILL at 10 s.
    await dockerOk(["stop", "-t", "10", id], 30_000);
  }
  const [exitCode, oomKilled, finishedAtText] = (await inspect(id, "{{.State.ExitCode}} {{.State.OOMKilled}} {{.State.FinishedAt}}")).split(" ");
  const logs = await docker(["logs", id]).then((r) => r.stdout + r.stderr);
  const status = await readStatus(root);
  const timeline = `stop sent ${new Date(stoppedAt).toISOString()}, container ended ${finishedAtText}; status.json: ${JSON.stringify({ stopRequestedAt: status.stopRequestedAt, deadline: status.deadline, transitions: status.transitions })}`;
  // Times on the host's clock, which the containers share: the exit as the engine recorded it, and
  // the SIGTERM as trainguard received it. The grace period runs from there (t=0 of the stop
  // timeline); on a busy engine `docker kill` itself may take a second to deliver the signal.
  const finishedAt = Date.parse(finishedAtText ?? "");
  const requestedAt = Date.parse(status.stopRequestedAt ?? "");
  const deadline = Date.parse(status.deadline ?? "");
  expect(requestedAt, timeline).toBeGreaterThanOrEqual(stoppedAt);
  expect(deadline - requestedAt).toBe(options.grace * 1000);

  const saves = spec.onTerm === "saves";
  expect(Number(exitCode), logs).toBe(saves ? 0 : 137);
  expect(oomKilled).toBe("false");
  // The container ended before the grace period, and trainguard was Stopped before its own deadline.
  const elapsedMs = finishedAt - requestedAt;
  expect(elapsedMs, timeline).toBeLessThan(options.grace * 1000);
  expect(Date.parse(status.transitions.at(-1)?.at ?? ""), timeline).toBeLessThan(deadline);
  // Escalation waits for the checkpoint deadline: the algorithm was given its time, not killed at once.
  if (!saves) expect(elapsedMs, timeline).toBeGreaterThan(options.grace * 1000 - MIN_RESERVE_MS - 500);
  // Docker's SIGKILL comes 10 s after it sent SIGTERM, which was after `stoppedAt`: the container ended before.
  if (options.how === "stop") expect(finishedAt - stoppedAt, timeline).toBeLessThan(10_000);

  // Had Docker's SIGKILL (or anything but trainguard's own exit) ended it, status.json would not say Stopped.
  expect(status).toMatchObject({
    TrainingJobName: options.jobName,
    TrainingJobStatus: "Stopped",
    SecondaryStatus: "Stopped",
    stopSignal: "SIGTERM",
    exitCode: saves ? 0 : null,
    signal: saves ? null : "SIGKILL",
    escalated: !saves,
    failureReason: null,
    trainguardExitCode: saves ? 0 : 137,
  });
  expect(status.transitions.map((t) => [t.status, t.secondaryStatus])).toEqual(STOPPED_WHILE_TRAINING.map((step) => [...step]));

  const { complete } = await checkpoints(path.join(root, "checkpoints"));
  const newest = complete.at(-1) as string;
  expect(checkpointNumber(newest)).toBeGreaterThanOrEqual(checkpointNumber(atStop));
  await expectArchiveHoldsCheckpoint(root, newest, expect);
  const run = { id, root, atStop, newest, elapsedMs };
  await spec.afterStop?.(run, expect);
  return run;
}

/** Case 1: `docker kill -s TERM` (SageMaker's StopTrainingJob), and PID 1 is trainguard with the algorithm as its child. */
export async function killCase(spec: ExampleSpec, expect: ExpectStatic): Promise<void> {
  await stopExample(
    spec,
    {
      how: "kill",
      grace: spec.grace,
      jobName: `docker-${spec.name}-kill`,
      whileTraining: async (id) => {
        const pid1 = Number(await inspect(id, "{{.State.Pid}}"));
        const rows = await processes(id);
        expect(rows.find((row) => row.pid === pid1)?.args).toBe(spec.trainguard.args);
        expect(rows.filter((row) => row.ppid === pid1).map((row) => row.args)).toEqual([spec.algorithm]);
      },
    },
    expect,
  );
}

/** Case 2: `docker stop -t 10` with TRAINGUARD_GRACE=8: trainguard is done before Docker's SIGKILL. */
export async function dockerStopCase(spec: ExampleSpec, expect: ExpectStatic): Promise<void> {
  await stopExample(spec, { how: "stop", grace: 8, jobName: `docker-${spec.name}-stop` }, expect);
}

/** Case 3: the archive is uploaded to `s3://models/jobs/<job>/output/model.tar.gz` on the host's embedded S3. */
export async function s3UploadCase(spec: ExampleSpec, s3: S3Fixture, expect: ExpectStatic): Promise<void> {
  const jobName = `docker-${spec.name}-s3`;
  const run = await stopExample(
    spec,
    {
      how: "kill",
      grace: spec.grace,
      jobName,
      env: {
        TRAINGUARD_OUTPUT: "s3://models/jobs",
        // s3rver on the host's loopback, reached from the container through host networking.
        TRAINGUARD_S3_ENDPOINT: s3.endpoint,
        AWS_ACCESS_KEY_ID: EMBEDDED_S3_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: EMBEDDED_S3_CREDENTIALS.secretAccessKey,
        AWS_REGION: "us-east-1",
      },
    },
    expect,
  );
  const key = `jobs/${jobName}/output/model.tar.gz`;
  const status = await readStatus(run.root);
  expect(status.artifact).toMatchObject({ uploadedTo: `s3://models/${key}` });
  expect((await s3.list("models", `jobs/${jobName}/`)).map((o) => o.key).sort()).toEqual([key, `${key}.manifest.json`]);
  // A separate client downloads the object; verify checks every file against its manifest.
  const downloaded = path.join(await tempDir(`${spec.name}-s3-download`), "model.tar.gz");
  const bytes = await s3.getBytes("models", key);
  await writeFile(downloaded, bytes);
  const verify = await execFileAsync(process.execPath, [CLI, "verify", downloaded]);
  expect(verify.stdout).toMatch(/^OK /);
  expect(createHash("sha256").update(bytes).digest("hex")).toBe(status.artifact?.sha256);
  const { stdout: manifestText } = await execFileAsync("tar", ["-xzOf", downloaded, "trainguard-manifest.json"]);
  expect((JSON.parse(manifestText) as { checkpoint?: unknown }).checkpoint).toBe(run.newest);
  // The S3 client ran: on Node 22 or newer (the self-contained build) the AWS SDK has no warning
  // about the Node version to print into the user's training logs.
  if (spec.trainguard === SELF_CONTAINED_TRAINGUARD) {
    const logs = await docker(["logs", run.id]);
    expect(logs.stdout + logs.stderr).not.toContain("NodeVersionSupportWarning");
  }
}

/** Case 4: orphans left inside the example's own image, by a script in its own interpreter. */
export async function exampleOrphansCase(spec: ExampleSpec, expect: ExpectStatic): Promise<void> {
  await orphansCase(spec.image, spec.trainguard, spec.interpreter, expect);
}

/**
 * Case 5: `docker run <image> train` with no configuration at all: no config files, no /opt/ml
 * mount, a non-root user. The defaults hold, a job name is generated, the job completes.
 */
export async function defaultsCase(spec: ExampleSpec, expect: ExpectStatic): Promise<void> {
  const id = await runDetached({ image: spec.image, user: "1000:1000", args: ["train"] });
  const { exitCode } = await waitExit(id, Date.now(), spec.defaultRunTimeoutMs);
  expect(exitCode, await dockerOk(["logs", id]).catch((err: Error) => err.message)).toBe(0);

  const copy = await tempDir(`${spec.name}-defaults`);
  await dockerOk(["cp", `${id}:/opt/ml`, copy]);
  const root = path.join(copy, "ml");
  const status = await readStatus(root);
  expect(status).toMatchObject({ TrainingJobStatus: "Completed", SecondaryStatus: "Completed", exitCode: 0, escalated: false, failureReason: null, trainguardExitCode: 0 });
  expect(status.TrainingJobName).toMatch(/^trainguard-local-\d{14}-[0-9a-f]{6}$/);
  await spec.expectDefaults(root, expect);
}
