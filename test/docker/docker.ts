// Helpers for the container tests: the docker CLI, throwaway ml-roots, checkpoints on the host.
// The images are built by docker/ci-setup.sh, never by the tests.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect } from "vitest";

const execFileAsync = promisify(execFile);

export const BASE_IMAGE = "trainguard:local";
export const PYTHON_IMAGE = "trainguard-example-python:local";
export const SHELL_IMAGE = "trainguard-example-shell:local";
export const NODE_IMAGE = "trainguard-example-node:local";

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

export interface StatusDocument {
  TrainingJobName: string | null;
  TrainingJobStatus: string;
  SecondaryStatus: string;
  transitions: { status: string; secondaryStatus: string; at: string }[];
  stopRequestedAt: string | null;
  stopSignal: string | null;
  exitCode: number | null;
  signal: string | null;
  escalated: boolean;
  failureReason: string | null;
  artifact: { path: string; bytes: number; sha256: string; checkpoint?: string } | null;
  trainguardExitCode: number | null;
}

export async function readStatus(root: string): Promise<StatusDocument> {
  return JSON.parse(await readFile(path.join(root, "output", "trainguard", "status.json"), "utf8")) as StatusDocument;
}

// ---------------------------------------------------------------------------------------------
// ARCHIVE ASSERTIONS: waiting for src/artifacts to package on stop and for `trainguard verify`.
// When the stop path writes <ml-root>/model/model.tar.gz, set ARCHIVE_ON_STOP to true (and
// rebuild the images with docker/ci-setup.sh); the stop tests then also require that the archive
// verifies and that its manifest names the newest complete checkpoint.
// ---------------------------------------------------------------------------------------------
export const ARCHIVE_ON_STOP = true;

export async function expectArchiveHoldsCheckpoint(root: string, checkpoint: string): Promise<void> {
  const archive = path.join(root, "model", "model.tar.gz");
  const cli = path.resolve("dist", "cli", "entry.js");
  const verify = await execFileAsync(process.execPath, [cli, "verify", archive]).then(
    () => 0,
    (err: { code?: number; stderr?: string }) => {
      throw new Error(`trainguard verify ${archive} exited ${err.code}: ${err.stderr ?? ""}`);
    },
  );
  expect(verify).toBe(0);
  const { stdout: names } = await execFileAsync("tar", ["-tzf", archive]);
  expect(names.trim().split("\n").at(-1)).toBe("trainguard-manifest.json");
  const { stdout: manifestText } = await execFileAsync("tar", ["-xzOf", archive, "trainguard-manifest.json"]);
  const manifest = JSON.parse(manifestText) as { checkpoint?: unknown };
  expect(JSON.stringify(manifest.checkpoint)).toContain(checkpoint);
  const status = await readStatus(root);
  expect(status.artifact?.path).toBe("/opt/ml/model/model.tar.gz");
}
