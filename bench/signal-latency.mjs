// Signal forwarding latency: SIGTERM sent to the supervisor running as PID 1 of a PID namespace
// (as `docker kill -s TERM` does) until the algorithm's SIGTERM handler runs.
//
// The algorithm is tgbench (bench/native/tgbench.c): its handler reads CLOCK_MONOTONIC and prints
// it. The sender is tgbench too (a long-lived process that reads CLOCK_MONOTONIC and calls kill()
// back to back), so both timestamps come from the same clock with no Node in between.
//
// Each trial needs a fresh supervisor (the first SIGTERM ends the job). A real stop reaches a
// supervisor that has sat idle for hours, and an idle Node process answers measurably slower than
// one that has just started (on the development machine, alternating in one run: median ~3 ms
// after 50 ms idle, ~7 ms after 2 s; tini unchanged). So supervisors are started in batches, left idle for --settle-ms
// after the whole batch is ready, then signalled one at a time, the supervisors taking turns (trainguard's npm install and its self-contained build, tini, and a bare Node
// forwarder that shows Node's own share),
// each only after the previous one has exited: nothing else of ours runs while a signal is in flight.
import { rmSync } from "node:fs";
import { fmt, rounded, summarize } from "./lib/stats.mjs";
import { LineReader, childrenOf, namespaceInit, nowNs, sleep, start, tryKill, withTimeout } from "./lib/proc.mjs";
import { bareNodeSupervisor, inNamespace, supervisors } from "./lib/context.mjs";
import { spawn } from "node:child_process";

export const meta = {
  name: "signal",
  aliases: ["signal-latency", "latency"],
  title: "Signal forwarding latency (SIGTERM to PID 1 until the algorithm's handler runs)",
};

const READY_TIMEOUT_MS = 15_000;
const HANDLER_TIMEOUT_MS = 5_000;
const EXIT_TIMEOUT_MS = 10_000;
/** Pause after a trial's supervisor has exited before the next signal. */
const GAP_MS = 20;

/** The tgbench sender: one kill() per request, timestamped right before the call. */
function startSender(tgbench) {
  const child = spawn(tgbench, ["send"], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = new LineReader(child.stdout);
  const request = async (line) => {
    child.stdin.write(`${line}\n`);
    const reply = await withTimeout(lines.next(), 5_000, "the sender");
    const [ns, errno] = reply.split(" ");
    return { ns: BigInt(ns), errno: Number(errno) };
  };
  return {
    /** Monotonic ns at which kill(pid, SIGTERM) was called. */
    async send(pid) {
      const { ns, errno } = await request(String(pid));
      if (errno !== 0) throw new Error(`kill(${pid}, SIGTERM) failed: errno ${errno}`);
      return ns;
    },
    /** The sender's clock minus Node's, in ms: ~0 when both read CLOCK_MONOTONIC. */
    async clockSkewMs() {
      const before = nowNs();
      const { ns } = await request("now");
      const after = nowNs();
      return Number(ns - (before + after) / 2n) / 1e6;
    },
    close() {
      child.stdin.end();
    },
  };
}

/** Start one supervisor with the algorithm and wait until the algorithm's handler is installed. */
async function launch(ctx, supervisor, tgbench) {
  const mlRoot = ctx.tempDir("ml");
  const proc = start(inNamespace(supervisor.argv(mlRoot, [tgbench, "algo"])));
  const trial = { supervisor, mlRoot, proc, init: undefined, readyNs: undefined, error: undefined };
  try {
    await withTimeout(proc.stdout.next((l) => l === "R"), READY_TIMEOUT_MS, `${supervisor.id}'s algorithm to be ready`);
    trial.readyNs = nowNs();
    trial.init = await namespaceInit(proc.child.pid);
  } catch (err) {
    trial.error = err;
  }
  return trial;
}

/** Signal the namespace's PID 1 and time the algorithm's handler; then wait for the exit. */
async function fire(trial, sender) {
  const { proc, supervisor } = trial;
  try {
    if (trial.error) throw trial.error;
    const sentNs = await sender.send(trial.init);
    const line = await withTimeout(proc.stdout.next((l) => l.startsWith("T ")), HANDLER_TIMEOUT_MS, "the algorithm's SIGTERM handler");
    const handledNs = BigInt(line.slice(2));
    const exit = await withTimeout(proc.exited, EXIT_TIMEOUT_MS, `${supervisor.id} to exit`);
    return {
      latencyMs: Number(handledNs - sentNs) / 1e6,
      stopToExitMs: Number(exit.atNs - sentNs) / 1e6,
      idleMs: Number(sentNs - trial.readyNs) / 1e6,
      exitCode: exit.code,
    };
  } catch (err) {
    return { error: `${err.message}${stderrHint(proc)}` };
  } finally {
    await abandon(trial);
  }
}

function stderrHint(proc) {
  const tail = proc.stderrTail().trim().split("\n").slice(-3).join(" | ");
  return tail ? ` (stderr: ${tail})` : "";
}

/** Make sure the trial's namespace is gone (SIGKILL to a namespace's init ends all of it). */
async function abandon(trial) {
  for (const pid of trial.init !== undefined ? [trial.init] : childrenOf(trial.proc.child.pid)) tryKill(pid);
  tryKill(trial.proc.child.pid);
  await trial.proc.exited;
  rmSync(trial.mlRoot, { recursive: true, force: true });
}

/**
 * One batch: `pairs` supervisors of each kind started together, idle for settleMs once all are
 * ready, then signalled alternately (which kind goes first alternates between batches).
 */
async function runBatch(ctx, sups, pairs, tgbench, sender, settleMs, flip) {
  const launched = await Promise.all(Array.from({ length: pairs }, () => sups.map((s) => launch(ctx, s, tgbench))).flat());
  const outcomes = [];
  try {
    await sleep(settleMs);
    const order = flip ? [...sups].reverse() : sups;
    for (let j = 0; j < pairs; j++) {
      for (const s of order) {
        const trial = launched.find((t) => t.supervisor === s && !t.done);
        trial.done = true;
        outcomes.push({ id: s.id, ...(await fire(trial, sender)) });
        await sleep(GAP_MS);
      }
    }
  } finally {
    await Promise.all(launched.filter((t) => !t.done).map(abandon));
  }
  return outcomes;
}

export async function run(ctx) {
  ctx.requireUnshare();
  const trials = ctx.options.trials ?? 200;
  const settleMs = ctx.options.settleMs ?? 1000;
  const batchPairs = Math.min(ctx.options.batch ?? 10, trials);
  const tgbench = ctx.native();
  const sender = startSender(tgbench);
  const sups = [...supervisors(), bareNodeSupervisor()];
  const samples = Object.fromEntries(sups.map((s) => [s.id, { latency: [], stopToExit: [], idle: [], exitCodes: {}, errors: [] }]));
  const startedAt = Date.now();
  try {
    const skew = await sender.clockSkewMs();
    if (Math.abs(skew) > 50) throw new Error(`tgbench and Node disagree on CLOCK_MONOTONIC by ${skew} ms`);
    // One unrecorded pair: page cache and dynamic linker warm, as on a container's host.
    await runBatch(ctx, sups, 1, tgbench, sender, 100, false);
    let done = 0;
    for (let batch = 0; done < trials; batch++) {
      const pairs = Math.min(batchPairs, trials - done);
      for (const r of await runBatch(ctx, sups, pairs, tgbench, sender, settleMs, batch % 2 === 1)) {
        const bucket = samples[r.id];
        if (r.error) {
          bucket.errors.push(r.error);
          if (bucket.errors.length > Math.max(5, trials / 10)) throw new Error(`${r.id}: too many failed trials; last: ${r.error}`);
          continue;
        }
        bucket.latency.push(r.latencyMs);
        bucket.stopToExit.push(r.stopToExitMs);
        bucket.idle.push(r.idleMs);
        bucket.exitCodes[r.exitCode] = (bucket.exitCodes[r.exitCode] ?? 0) + 1;
      }
      done += pairs;
      ctx.progress(`signal: ${done}/${trials} trials per supervisor`);
    }
  } finally {
    ctx.progressDone();
    sender.close();
  }

  const results = {};
  for (const s of sups) {
    const b = samples[s.id];
    results[s.id] = {
      latencyMs: rounded(summarize(b.latency)),
      stopToExitMs: rounded(summarize(b.stopToExit)),
      idleBeforeSignalMs: rounded(summarize(b.idle), 0),
      exitCodes: b.exitCodes,
      failedTrials: b.errors.length,
      errors: b.errors.slice(0, 5),
      samplesMs: b.latency.map((v) => Number(v.toFixed(3))),
    };
  }
  const tg = results.trainguard.latencyMs;
  const ti = results.tini.latencyMs;
  const sc = results["trainguard (self-contained)"].latencyMs;
  return {
    params: {
      trials,
      settleMs,
      batchPairs,
      namespace: "unshare --pid --fork --mount-proc",
      signal: "SIGTERM",
      algorithm: "tgbench algo (C)",
      durationS: Math.round((Date.now() - startedAt) / 1000),
    },
    results,
    ratios: { medianTrainguardOverTini: Number((tg.median / ti.median).toFixed(1)), p99TrainguardOverTini: Number((tg.p99 / ti.p99).toFixed(1)) },
    table: {
      columns: ["supervisor", "n", "median ms", "p90 ms", "p99 ms", "max ms", "stop→exit median ms", "failed"],
      rows: sups.map((s) => {
        const r = results[s.id];
        return [s.id, r.latencyMs.n, fmt(r.latencyMs.median, 2), fmt(r.latencyMs.p90, 2), fmt(r.latencyMs.p99, 2), fmt(r.latencyMs.max, 2), fmt(r.stopToExitMs.median, 1), r.failedTrials];
      }),
    },
    notes: [
      `${trials} trials per supervisor, fresh supervisor per trial as PID 1 of its own PID namespace, signalled after >= ${settleMs} ms idle (median ${fmt(results.trainguard.idleBeforeSignalMs.median, 0)} ms), supervisors taking turns.`,
      `bare node (spawn + process.on(SIGTERM) + process.kill, nothing else) is the floor for a supervisor written in Node: median ${fmt(results["bare node"].latencyMs.median, 2)} ms, p99 ${fmt(results["bare node"].latencyMs.p99, 2)} ms.`,
      `trainguard/tini: median x${(tg.median / ti.median).toFixed(1)}, p99 x${(tg.p99 / ti.p99).toFixed(1)}. Target: trainguard p99 < 10 ms -> ${tg.p99 < 10 ? "met" : "NOT met"}.`,
      `self-contained build (npm run dist): median ${fmt(sc.median, 2)} ms, p99 ${fmt(sc.p99, 2)} ms. Target p99 < 10 ms -> ${sc.p99 < 10 ? "met" : "NOT met"}.`,
    ],
  };
}
