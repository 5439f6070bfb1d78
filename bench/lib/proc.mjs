// Process plumbing shared by the benchmark modules: spawning with exit timestamps, reading
// line-oriented output, finding a PID namespace's init, reading /proc.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Monotonic time in ns (libuv's uv_hrtime: CLOCK_MONOTONIC, the clock tgbench reads). */
export const nowNs = () => process.hrtime.bigint();

export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Splits a readable stream into lines; `next(pred)` resolves with the first matching line. */
export class LineReader {
  constructor(stream) {
    this.buffer = "";
    this.lines = [];
    this.waiters = [];
    this.ended = false;
    stream.setEncoding("utf8");
    stream.on("data", (chunk) => {
      this.buffer += chunk;
      let i;
      while ((i = this.buffer.indexOf("\n")) !== -1) {
        this.lines.push(this.buffer.slice(0, i));
        this.buffer = this.buffer.slice(i + 1);
      }
      this.dispatch();
    });
    stream.on("end", () => {
      this.ended = true;
      this.dispatch();
    });
    stream.on("error", () => undefined);
  }

  next(pred = () => true) {
    return new Promise((resolve, reject) => {
      this.waiters.push({ pred, resolve, reject });
      this.dispatch();
    });
  }

  dispatch() {
    for (const waiter of [...this.waiters]) {
      const index = this.lines.findIndex(waiter.pred);
      if (index !== -1) {
        const [line] = this.lines.splice(index, 1);
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      } else if (this.ended) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.reject(new Error("stream ended before the expected line"));
      }
    }
  }
}

/** Every child still running, so an interrupted bench leaves nothing behind. */
const live = new Set();

/** SIGKILL every child the bench started that has not exited yet. */
export function killAll() {
  for (const child of live) tryKill(child.pid);
}
process.once("exit", killAll);

/**
 * Spawn argv with stdout piped (as lines) and stderr kept as a tail for diagnostics.
 * `exited` resolves with { code, signal, atNs } where atNs is the monotonic time of the exit event.
 */
export function start(argv, options = {}) {
  const startNs = nowNs();
  const child = spawn(argv[0], argv.slice(1), { stdio: ["ignore", "pipe", "pipe"], ...options });
  live.add(child);
  child.once("exit", () => live.delete(child));
  child.once("error", () => live.delete(child));
  const stdout = new LineReader(child.stdout);
  let stderrTail = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk) => {
    stderrTail = (stderrTail + chunk).slice(-4000);
  });
  const exited = new Promise((resolve) => {
    child.once("error", (err) => resolve({ code: null, signal: null, error: err, atNs: nowNs() }));
    child.once("exit", (code, signal) => resolve({ code, signal, atNs: nowNs() }));
  });
  return { child, startNs, stdout, exited, stderrTail: () => stderrTail };
}

/** Run to completion; resolves with { code, signal, wallMs, stderr }. */
export async function runOnce(argv, options = {}) {
  const proc = start(argv, options);
  proc.child.stdout.resume();
  const exit = await proc.exited;
  if (exit.error) throw exit.error;
  return { code: exit.code, signal: exit.signal, wallMs: Number(exit.atNs - proc.startNs) / 1e6, stderr: proc.stderrTail() };
}

/** Host pids of the children of `pid` (for `unshare --fork`: the namespace's PID 1). */
export function childrenOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** The namespace's PID 1 under an `unshare --pid --fork` process, waiting briefly for the fork. */
export async function namespaceInit(unsharePid, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [first] = childrenOf(unsharePid);
    if (first !== undefined) return first;
    if (Date.now() > deadline) throw new Error(`unshare ${unsharePid} has no child after ${timeoutMs} ms`);
    await sleep(5);
  }
}

/** Selected fields of /proc/<pid>/status, memory figures in kB. */
export function procStatus(pid) {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  const out = {};
  for (const line of text.split("\n")) {
    const m = /^(\w+):\s+(\d+)(?: kB)?$/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

/** utime + stime of a process in clock ticks (/proc/<pid>/stat fields 14 and 15). */
export function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/** Best effort: signal a pid that may be gone. */
export function tryKill(pid, signal = "SIGKILL") {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}
