import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import type { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import type { ProcessRef } from "./job-record.js";
import { readProcStat } from "../proc/index.js";
import { processTree, stillRunning } from "./procfs.js";

export interface Isolation {
  readonly kind: ProcessRef["isolation"];
  /** Why there is no PID namespace, when there is none. */
  readonly reason?: string;
}

/**
 * Whether a job can be PID 1 of its own PID namespace, as in a container: `unshare --pid` needs
 * root (CAP_SYS_ADMIN). Otherwise each job gets its own process group, which stops the same way
 * but shares the host's PID space (orphans reparent to the host's init, not to trainguard).
 */
export function probeIsolation(): Isolation {
  if (process.platform !== "linux") return { kind: "process-group", reason: `PID namespaces need Linux (this is ${process.platform})` };
  const result = spawnSync("unshare", ["--pid", "--fork", "--mount-proc", "--kill-child", "true"], { encoding: "utf8", timeout: 10_000 });
  if (result.error) return { kind: "process-group", reason: `cannot run unshare: ${result.error.message}` };
  if (result.status !== 0) return { kind: "process-group", reason: `"unshare --pid --fork --mount-proc" is not permitted here: ${result.stderr.trim() || result.status}` };
  return { kind: "pid-namespace" };
}

export interface StartedProcess {
  readonly ref: ProcessRef;
  readonly child: ChildProcess;
}

export interface HostLog {
  readonly file: string;
  readonly host: string;
  readonly maxBytes: number;
}

const HOST_LOG_MAIN = fileURLToPath(new URL("./host-log-main.js", import.meta.url));

/**
 * Start `argv` (never through a shell) detached from `serve`: its own session, so the job runs on
 * when `serve` restarts and is found again from its ProcessRef. Its stdout and stderr go through
 * pipes to the host's log writer, a detached process of its own for the same reason.
 */
export function startProcess(argv: readonly string[], env: NodeJS.ProcessEnv, log: HostLog, isolation: Isolation, cwd: string): StartedProcess {
  const command = isolation.kind === "pid-namespace" ? ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", ...argv] : [...argv];
  const writer = spawn(process.execPath, [HOST_LOG_MAIN, log.file, log.host, String(log.maxBytes)], { detached: true, stdio: ["pipe", "ignore", "ignore", "pipe"] });
  const [toStdout, toStderr] = [writer.stdio[0], writer.stdio[3]] as [Writable, Writable];
  try {
    const child = spawn(command[0] as string, command.slice(1), { env, cwd, detached: true, stdio: ["ignore", toStdout, toStderr] });
    if (child.pid === undefined) throw new Error(`could not start ${command[0]}`);
    child.unref();
    const startTicks = readProcStat(child.pid)?.startTicks ?? "";
    return { ref: { pid: child.pid, startTicks, isolation: isolation.kind }, child };
  } finally {
    // Only the job holds the pipes now: the writer sees their end when the job's processes are gone.
    toStdout.destroy();
    toStderr.destroy();
    writer.unref();
  }
}

export const stillRunningRef = (ref: ProcessRef): boolean => stillRunning(ref.pid, ref.startTicks);

/**
 * The process a stop signal goes to, as `docker kill` sends it to the container's PID 1: in a PID
 * namespace, the child of `unshare` (unshare itself does not pass signals on); in a process group,
 * trainguard, which passes the stop on to the algorithm's own group.
 */
function stopTarget(ref: ProcessRef): number | undefined {
  if (ref.isolation === "process-group") return ref.pid;
  try {
    const [child] = readFileSync(`/proc/${ref.pid}/task/${ref.pid}/children`, "latin1").trim().split(" ");
    return child === undefined || child === "" ? undefined : Number(child);
  } catch {
    return undefined;
  }
}

/**
 * Signals the job's PID 1 once `ready()` says trainguard listens. A PID 1 drops a signal it has
 * no handler of its own for, and Node's start-up handler for SIGTERM (it restores the terminal,
 * then re-raises) does not count: so SigCgt cannot tell, and the caller's marker (trainguard's
 * status.json, written after its handlers are attached) does. A stop that came while the job was
 * starting waits (up to 10 s) for it, where `docker kill` would lose it. Resolves with the epoch
 * time (sub-millisecond) the signal was sent, or undefined when it was not.
 */
export async function sendStop(ref: ProcessRef, signal: NodeJS.Signals, ready: () => boolean = () => true): Promise<number | undefined> {
  const giveUpAt = Date.now() + READY_WAIT_MS;
  while (stillRunningRef(ref)) {
    const target = stopTarget(ref);
    if (target !== undefined && (ready() || Date.now() >= giveUpAt)) {
      try {
        process.kill(target, signal);
        return performance.timeOrigin + performance.now();
      } catch {
        return undefined;
      }
    }
    await sleep(10);
  }
  return undefined;
}

const READY_WAIT_MS = 10_000;

/**
 * One signal to several jobs' PID 1s at once: every target is looked up first (from /proc, which
 * takes time), then the signals go out in one tight loop, so that on a busy machine the spread is
 * that of the kill calls alone. Those not ready (or not found) are left to `sendStop`. Returns
 * with the epoch time each was signalled, undefined for the ones left.
 */
export function signalAllReady(targets: readonly { ref: ProcessRef; ready: () => boolean }[], signal: NodeJS.Signals): (number | undefined)[] {
  const pids = targets.map((t) => (stillRunningRef(t.ref) && t.ready() ? stopTarget(t.ref) : undefined));
  return pids.map((pid) => {
    if (pid === undefined) return undefined;
    try {
      process.kill(pid, signal);
      return performance.timeOrigin + performance.now();
    } catch {
      return undefined;
    }
  });
}

/** SIGKILL for the whole job: every process below the one spawned (a PID namespace dies with its PID 1 anyway). */
export function killJob(ref: ProcessRef): void {
  if (!stillRunning(ref.pid, ref.startTicks)) return;
  for (const pid of processTree(ref.pid).reverse()) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

/** Resolves when the process has ended: from its exit event when `serve` spawned it, else by polling /proc. */
export async function waitForExit(ref: ProcessRef, child: ChildProcess | undefined, pollMs = 100): Promise<void> {
  if (child !== undefined && child.exitCode === null && child.signalCode === null) {
    await new Promise<void>((resolve) => child.once("exit", () => resolve()));
    return;
  }
  while (stillRunning(ref.pid, ref.startTicks)) await sleep(pollMs);
}
