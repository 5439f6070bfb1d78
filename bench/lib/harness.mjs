// Plumbing for the packaging and stop-path benchmarks: timed shell pipelines, a /proc sampler
// (CPU and memory of a process while it runs), the embedded S3 server in its own process,
// trainguard's stop path driven end to end, and the child-process helpers.
import { execFileSync } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { BENCH_DIR, BenchError, ENTRY } from "./context.mjs";
import { nowNs, sleep, start, tryKill, withTimeout } from "./proc.mjs";

const LIB = path.dirname(fileURLToPath(import.meta.url));
export const PACKAGE_CHILD = path.join(LIB, "package-child.mjs");
export const S3_CHILD = path.join(LIB, "s3-child.mjs");
export const ALGO = path.join(LIB, "algo.mjs");
export const CLK_TCK = 100;
/** trainguard's full debug log of each stop-path run is kept here (bench/results is git-ignored). */
export const LOG_DIR = path.join(BENCH_DIR, "results", "logs");
export const S3_ENV = { AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER", AWS_REGION: "us-east-1" };

export const mb = (bytes) => bytes / 1e6;
export const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Run a bash pipeline (pipefail) and time it; throws on failure. */
export function timeShell(script, env = {}) {
  const t = process.hrtime.bigint();
  execFileSync("bash", ["-o", "pipefail", "-c", script], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, ...env } });
  return Number(process.hrtime.bigint() - t) / 1e9;
}

export function fileSize(file) {
  return Number(execFileSync("stat", ["-c", "%s", file], { encoding: "utf8" }).trim());
}

/** Writes nothing back to disk later: drop an output and flush what is dirty, untimed. */
export function clearOutput(...paths) {
  for (const p of paths) rmSync(p, { recursive: true, force: true });
  execFileSync("sync");
}

function readProc(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB$`, "m").exec(status)?.[1]);
    return { ticks: Number(f[11]) + Number(f[12]), rss: kb("VmRSS"), hwm: kb("VmHWM") };
  } catch {
    return undefined;
  }
}

/**
 * Samples a process every `ms`: CPU ticks (utime+stime) and VmRSS/VmHWM. The last sample before
 * the process ends stands for its totals (at most `ms` of CPU is missed).
 */
export function sampleProc(pid, ms = 100) {
  const first = readProc(pid);
  let last = first;
  const series = [];
  const t0 = Date.now();
  // A zombie still has /proc/<pid>/status, without its memory lines: such samples are skipped.
  const valid = (s) => s !== undefined && Number.isFinite(s.hwm) && Number.isFinite(s.ticks);
  const timer = setInterval(() => {
    const s = readProc(pid);
    if (!valid(s)) return;
    last = s;
    series.push([Date.now() - t0, s.rss]);
  }, ms);
  return {
    stop() {
      clearInterval(timer);
      const read = readProc(pid);
      const now = valid(read) ? read : last;
      return {
        cpuSeconds: first && now ? (now.ticks - first.ticks) / CLK_TCK : NaN,
        vmHWMkB: now?.hwm ?? NaN,
        peakRSSkB: Math.max(0, ...series.map((x) => x[1])),
        series,
      };
    },
  };
}

/** Max VmRSS in each quarter of the run: a flat profile has four similar numbers. */
export function quarters(series) {
  if (series.length === 0) return [];
  const end = series[series.length - 1][0] || 1;
  return [0, 1, 2, 3].map((q) => Math.max(0, ...series.filter(([t]) => t >= (q * end) / 4 && t <= ((q + 1) * end) / 4).map((x) => x[1])));
}

/** Runs a node script in its own process and parses its last stdout line as JSON. */
export async function nodeChild(script, args, { sample = false } = {}) {
  const proc = start([process.execPath, script, JSON.stringify(args)]);
  const sampler = sample ? sampleProc(proc.child.pid) : undefined;
  const lines = [];
  proc.child.stdout.removeAllListeners("data");
  proc.child.stdout.on("data", (d) => lines.push(String(d)));
  const ended = new Promise((resolve) => proc.child.stdout.once("close", resolve));
  const exit = await proc.exited;
  await withTimeout(ended, 5000, "child stdout to close").catch(() => undefined);
  const samples = sampler?.stop();
  const out = lines.join("").trim().split("\n").pop();
  if (exit.code !== 0) throw new Error(`${path.basename(script)} ${args.op ?? args.compression ?? ""} exited ${exit.code}: ${proc.stderrTail().slice(-1500)}`);
  return { ...JSON.parse(out), wallSeconds: Number(exit.atNs - proc.startNs) / 1e9, samples };
}

export function s3(args, opts) {
  return nodeChild(S3_CHILD, args, opts);
}

/**
 * The embedded S3 server (`trainguard s3 serve`) in a process of its own, on a free loopback
 * port, objects under `dir` (emptied first). Resolves once it prints its endpoint.
 *
 * It runs as shipped: listings of more than 1,000 keys (the checkpoint-sync benchmark lists
 * ~10,000) work since src/local/s3rver-tokens.ts, without --openssl-legacy-provider.
 */
export async function startS3Server(dir, bucket = "bench") {
  rmSync(dir, { recursive: true, force: true });
  const proc = start([process.execPath, ENTRY, "s3", "serve", "--port", "0", "--dir", dir, "--bucket", bucket]);
  const line = await withTimeout(proc.stdout.next((l) => /S3 endpoint http:\/\//.test(l)), 30_000, "trainguard s3 serve to print its endpoint").catch((err) => {
    tryKill(proc.child.pid);
    throw new Error(`${err.message}: ${proc.stderrTail()}`);
  });
  const endpoint = /(http:\/\/127\.0\.0\.1:\d+)/.exec(line)[1];
  return {
    endpoint,
    bucket,
    pid: proc.child.pid,
    dir,
    async stop() {
      tryKill(proc.child.pid, "SIGTERM");
      await withTimeout(proc.exited, 10_000, "s3 serve to stop").catch(() => tryKill(proc.child.pid));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The S3 store of a stop benchmark: the embedded server started here, or, with --s3-endpoint, a
 * store the operator runs elsewhere (credentials from the environment; nothing to sample, nothing
 * to stop). `env` is what a trainguard run and the S3 child need on top of process.env.
 */
export async function openS3Store(options, dir) {
  if (!options.s3Endpoint) return { ...(await startS3Server(dir)), env: S3_ENV, external: false, where: "embedded s3rver (trainguard s3 serve) on 127.0.0.1 in its own process, objects on the same disk" };
  const missing = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"].filter((name) => !process.env[name]);
  if (missing.length > 0) throw new BenchError(`--s3-endpoint ${options.s3Endpoint}: set ${missing.join(", ")} for it`);
  if (!options.s3Bucket) throw new BenchError(`--s3-endpoint ${options.s3Endpoint}: --s3-bucket names the (existing) bucket to use`);
  return { endpoint: options.s3Endpoint.replace(/\/$/, ""), bucket: options.s3Bucket, pid: undefined, env: {}, external: true, where: `${options.s3Endpoint} (--s3-endpoint), bucket ${options.s3Bucket}`, async stop() {} };
}

/** JSON log lines of trainguard's stderr, with their time in epoch ms. */
function parseLog(text) {
  const events = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      const j = JSON.parse(line);
      events.push({ ...j, t: Date.parse(j.time) });
    } catch {
      // a partial line
    }
  }
  return events;
}

/**
 * `trainguard run` end to end: starts it with `runArgs` around the algorithm, waits until the
 * algorithm runs (and `ready(status)` holds, if given), lets it settle, sends SIGTERM to
 * trainguard and times until trainguard exits. trainguard and the S3 server (`s3Pid`) are
 * sampled for CPU and memory the whole time from SIGTERM to exit. Returns the log events too.
 */
export async function trainguardStop({ mlRoot, runArgs, algorithm, ready, settleMs = 1000, timeoutMs = 600_000, s3Pid, s3Env = S3_ENV, env = {}, logFile }) {
  const argv = [process.execPath, ENTRY, "run", "--ml-root", mlRoot, "--log-level", "debug", ...runArgs, "--", ...algorithm];
  const proc = start(argv, { env: { ...process.env, ...s3Env, ...env } });
  let stderr = "";
  if (logFile) {
    mkdirSync(path.dirname(logFile), { recursive: true });
    writeFileSync(logFile, "");
  }
  proc.child.stderr.on("data", (d) => {
    stderr += d;
    if (logFile) appendFileSync(logFile, d);
  });
  proc.child.stdout.resume();
  const statusFile = path.join(mlRoot, "output", "trainguard", "status.json");
  const readStatus = () => {
    try {
      return JSON.parse(readFileSync(statusFile, "utf8"));
    } catch {
      return undefined;
    }
  };
  const exitedEarly = proc.exited.then((e) => {
    throw new Error(`trainguard exited (${e.code}) before the stop: ${stderr.slice(-2000)}`);
  });
  exitedEarly.catch(() => undefined);
  const startDeadline = Date.now() + timeoutMs;
  for (;;) {
    const st = readStatus();
    if (st?.SecondaryStatus === "Training" && (!ready || ready(st, stderr))) break;
    if (Date.now() > startDeadline) {
      tryKill(proc.child.pid);
      throw new Error(`trainguard did not get ready: ${stderr.slice(-2000)}`);
    }
    await Promise.race([sleep(50), exitedEarly]);
  }
  await Promise.race([sleep(settleMs), exitedEarly]);
  const tgSampler = sampleProc(proc.child.pid);
  const s3Sampler = s3Pid ? sampleProc(s3Pid) : undefined;
  const logMark = stderr.length;
  const sentNs = nowNs();
  const sentAt = Date.now();
  process.kill(proc.child.pid, "SIGTERM");
  const exit = await withTimeout(proc.exited, timeoutMs, "trainguard to exit after SIGTERM");
  const tg = tgSampler.stop();
  const s3p = s3Sampler?.stop();
  const status = readStatus();
  const events = parseLog(stderr.slice(logMark));
  const at = (event, pick = "first") => {
    const hits = events.filter((e) => e.event === event);
    const e = pick === "last" ? hits[hits.length - 1] : hits[0];
    return e ? (e.t - sentAt) / 1000 : undefined;
  };
  return {
    seconds: Number(exit.atNs - sentNs) / 1e9,
    exitCode: exit.code,
    status,
    events,
    at,
    tg,
    s3: s3p,
    stderrTail: stderr.slice(-3000),
  };
}

export function requireTools(...tools) {
  for (const t of tools) {
    try {
      execFileSync("sh", ["-c", `command -v ${t}`], { stdio: "ignore" });
    } catch {
      throw new Error(`${t} not found: apt-get install -y ${t}`);
    }
  }
}

export function toolVersion(cmd) {
  try {
    return execFileSync("sh", ["-c", `${cmd} 2>&1 | head -1`], { encoding: "utf8" }).trim();
  } catch {
    return undefined;
  }
}

export { existsSync };
