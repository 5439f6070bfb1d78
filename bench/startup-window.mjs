// The start-up window: a PID 1 drops SIGTERM until it has installed a handler (the kernel discards
// a signal from outside the namespace that its init does not handle), so a stop that comes while
// the supervisor is still starting is lost, and the job runs on until SIGKILL.
//
// Each trial starts a supervisor as PID 1 of a fresh PID namespace running tgbench's algorithm
// (bench/native/tgbench.c: prints "R" once its own handler is installed, "T <ns>" when SIGTERM
// reaches it), sends SIGTERM to the namespace's init N ms after it exec'd the supervisor, and
// classifies:
// - caught: the algorithm's handler ran (the signal was forwarded), or the supervisor exited with
//   128+15 by itself (trainguard: stopped before the algorithm started);
// - lost: the algorithm is running and, GRACE_MS after both its readiness and the signal, nothing
//   has reached it while the supervisor still runs (it would run until SIGKILL).
// N sweeps a grid of 10 ms steps upward, for each supervisor until CAUGHT_RUN delays in a row were
// caught (or the grid ends); the window is the largest N at which a signal was lost. The
// floor is a Node process whose SIGTERM handler is its first statement
// (bench/lib/handler-first-pid1.cjs), beside tini and `node -e 0`'s own start-up (spawn to exit)
// measured in the same run. N counts from the exec seen in /proc/<pid>/exe (polled every ~1 ms, so
// it may be seen up to a millisecond or two late); for the self-contained build it includes the
// launcher script's own exec of the runtime.
import { readlinkSync, rmSync } from "node:fs";
import path from "node:path";
import { BENCH_DIR, inNamespace, supervisors } from "./lib/context.mjs";
import { childrenOf, runOnce, sleep, start, tryKill, withTimeout, nowNs } from "./lib/proc.mjs";
import { fmt, rounded, summarize } from "./lib/stats.mjs";

export const meta = {
  name: "startup-window",
  aliases: ["window"],
  title: "Start-up window (SIGTERM sent N ms after PID 1's exec: caught or lost)",
};

const STEP_MS = 10;
/** After the algorithm is ready and the signal sent, how long a forwarded signal may take. */
const GRACE_MS = 300;
/** A supervisor's sweep ends after this many delays in a row at which the signal was caught. */
const CAUGHT_RUN = 5;
const TRIAL_TIMEOUT_MS = 20_000;
const NODE_RUNS = 10;

function windowSupervisors() {
  return [
    { id: "node, handler first (floor)", argv: (_mlRoot, command) => [process.execPath, path.join(BENCH_DIR, "lib", "handler-first-pid1.cjs"), ...command] },
    ...supervisors(),
  ];
}

const exeOf = (pid) => {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return undefined;
  }
};

/**
 * The namespace's init and the time it exec'd the supervisor: unshare forks it, and it runs
 * unshare's code until the exec; /proc/<pid>/exe changes then. Polled every millisecond or so.
 */
async function execOf(unsharePid) {
  const deadline = Date.now() + 10_000;
  const unshareExe = exeOf(unsharePid);
  for (;;) {
    const [pid] = childrenOf(unsharePid);
    if (pid !== undefined) {
      const exe = exeOf(pid);
      if (exe !== undefined && exe !== unshareExe) return { init: pid, execNs: nowNs() };
    }
    if (Date.now() > deadline) throw new Error(`unshare ${unsharePid}: no exec in its namespace`);
    await sleep(1);
  }
}

async function trial(ctx, supervisor, tgbench, delayMs) {
  const mlRoot = ctx.tempDir("ml");
  const proc = start(inNamespace(supervisor.argv(mlRoot, [tgbench, "algo"])));
  const ready = proc.stdout.next((l) => l === "R");
  ready.catch(() => undefined);
  let init;
  try {
    const exec = await execOf(proc.child.pid);
    init = exec.init;
    await sleep(Math.max(0, delayMs - Number(nowNs() - exec.execNs) / 1e6));
    const sentAt = nowNs();
    tryKill(init, "SIGTERM");
    const actualMs = Number(sentAt - exec.execNs) / 1e6;
    const outcome = await withTimeout(
      Promise.race([
        proc.stdout.next((l) => l.startsWith("T ")).then(() => "caught", () => new Promise(() => undefined)),
        proc.exited.then((exit) => (exit.code === 143 ? "caught" : `exit ${exit.code ?? exit.signal}`)),
        ready.then(() => sleep(GRACE_MS)).then(() => "lost", () => new Promise(() => undefined)),
      ]),
      TRIAL_TIMEOUT_MS,
      `${supervisor.id} after a SIGTERM at ${delayMs} ms`,
    );
    if (outcome === "caught") await withTimeout(proc.exited, TRIAL_TIMEOUT_MS, `${supervisor.id} to exit`).catch(() => undefined);
    if (outcome !== "caught" && outcome !== "lost") throw new Error(`${outcome}: ${proc.stderrTail().trim().split("\n").slice(-2).join(" | ")}`);
    return { actualMs, lost: outcome === "lost" };
  } finally {
    for (const pid of init !== undefined ? [init] : childrenOf(proc.child.pid)) tryKill(pid);
    tryKill(proc.child.pid);
    await proc.exited;
    rmSync(mlRoot, { recursive: true, force: true });
  }
}

async function nodeStartup(runs) {
  const samples = [];
  for (let i = 0; i < runs; i++) samples.push((await runOnce([process.execPath, "-e", "0"])).wallMs);
  return samples;
}

export async function run(ctx) {
  ctx.requireUnshare();
  const rounds = ctx.options.rounds ?? 2;
  const tgbench = ctx.native();
  const sups = windowSupervisors();
  await nodeStartup(2); // warm-up
  const nodeSamples = await nodeStartup(NODE_RUNS);
  // Wide enough that every supervisor is caught well before the end, whatever the machine's load.
  const maxMs = Math.ceil((4 * summarize(nodeSamples).median + 200) / STEP_MS) * STEP_MS;
  const grid = Array.from({ length: maxMs / STEP_MS + 1 }, (_, i) => i * STEP_MS);
  const trials = new Map(sups.map((s) => [s.id, []]));
  for (const s of sups) await trial(ctx, s, tgbench, maxMs).catch(() => undefined); // warm-up: page cache, dynamic linker
  try {
    for (let r = 0; r < rounds; r++) {
      // Supervisors take turns at each delay, so that machine noise falls on each alike.
      const caughtInARow = new Map(sups.map((s) => [s.id, 0]));
      for (const [k, delayMs] of grid.entries()) {
        const active = sups.filter((s) => caughtInARow.get(s.id) < CAUGHT_RUN);
        if (active.length === 0) break;
        for (const s of k % 2 === 0 ? active : [...active].reverse()) {
          const t = await trial(ctx, s, tgbench, delayMs);
          trials.get(s.id).push({ delayMs, ...t });
          caughtInARow.set(s.id, t.lost ? 0 : caughtInARow.get(s.id) + 1);
        }
        ctx.progress(`startup-window: round ${r + 1}/${rounds}, ${delayMs} ms`);
      }
    }
  } finally {
    ctx.progressDone();
  }
  nodeSamples.push(...(await nodeStartup(NODE_RUNS)));
  const node = rounded(summarize(nodeSamples));
  const results = {};
  for (const s of sups) {
    const list = trials.get(s.id);
    const lost = list.filter((t) => t.lost).map((t) => t.actualMs);
    const caught = list.filter((t) => !t.lost).map((t) => t.actualMs);
    results[s.id] = {
      trials: list.length,
      lost: lost.length,
      windowMs: lost.length ? Number(Math.max(...lost).toFixed(1)) : 0,
      firstCaughtMs: caught.length ? Number(Math.min(...caught).toFixed(1)) : null,
      trialsList: list.map((t) => ({ delayMs: t.delayMs, actualMs: Number(t.actualMs.toFixed(1)), lost: t.lost })),
    };
  }
  const goal = node.median + 20;
  const rows = sups.map((s) => {
    const r = results[s.id];
    return [s.id, fmt(r.windowMs, 1), fmt(r.firstCaughtMs, 1), `${r.lost}/${r.trials}`, fmt(r.windowMs - node.median, 1), r.windowMs <= goal ? "yes" : "no"];
  });
  rows.push(["node -e 0, spawn to exit (median)", fmt(node.median, 1), "", `${node.n} runs`, "", ""]);
  return {
    params: { rounds, stepMs: STEP_MS, maxMs, graceMs: GRACE_MS, nodeRuns: nodeSamples.length },
    results: { nodeStartupMs: node, supervisors: results },
    table: {
      columns: ["PID 1", "window: last lost at ms", "first caught at ms", "lost/trials", "window - node -e 0 ms", "<= node -e 0 + 20 ms"],
      rows,
    },
    notes: [
      `SIGTERM sent to the namespace's init N ms after its exec for N = 0, ${STEP_MS}, ... (at most ${maxMs}) until ${CAUGHT_RUN} delays in a row were caught, ${rounds} rounds, supervisors taking turns; "lost" = the algorithm ran and ${GRACE_MS} ms after the signal nothing had reached it.`,
      `node -e 0 start-up in the same run: median ${fmt(node.median, 1)} ms, p90 ${fmt(node.p90, 1)} ms (${node.n} runs); the goal is a window no longer than ${fmt(goal, 1)} ms.`,
    ],
  };
}
