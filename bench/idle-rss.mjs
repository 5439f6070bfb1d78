// Idle memory: the supervisor's own RSS while it supervises `sleep 30`, read from
// /proc/<pid>/status once the algorithm has run for a settle time (VmRSS now, VmHWM the peak
// since start). Measured for trainguard as PID 1 of a PID namespace (as in a container, where
// it also loads its orphan reaper), trainguard as a plain child, its self-contained build as PID 1, and tini as PID 1; the
// supervisors run side by side with the same settle time. CPU ticks used during the settle
// window show whether "idle" really is idle.
import { rmSync } from "node:fs";
import { fmt, summarize } from "./lib/stats.mjs";
import { childrenOf, cpuTicks, namespaceInit, procStatus, sleep, start, tryKill, withTimeout } from "./lib/proc.mjs";
import { inNamespace, supervisors } from "./lib/context.mjs";

export const meta = {
  name: "rss",
  aliases: ["idle-rss", "memory"],
  title: "Idle RSS of the supervisor (algorithm: sleep 30)",
};

const SETTLE_MS = 2_000;
const FIELDS = ["VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"];

async function measure(ctx, variant) {
  const mlRoot = ctx.tempDir("ml");
  const proc = start(variant.argv(mlRoot));
  let pid;
  try {
    pid = variant.namespace ? await namespaceInit(proc.child.pid) : proc.child.pid;
    // Settle counts from the moment the algorithm exists, not from spawn.
    const deadline = Date.now() + 15_000;
    while (childrenOf(pid).length === 0) {
      if (Date.now() > deadline) throw new Error(`${variant.id}: the algorithm never started`);
      await sleep(10);
    }
    const ticks0 = cpuTicks(pid);
    await sleep(SETTLE_MS);
    const status = procStatus(pid);
    const idleTicks = cpuTicks(pid) - ticks0;
    return { ...Object.fromEntries(FIELDS.map((f) => [f, status[f]])), idleCpuTicks: idleTicks };
  } finally {
    if (pid !== undefined) tryKill(pid, "SIGTERM");
    await withTimeout(proc.exited, 10_000, `${variant.id} to stop`).catch(() => {
      if (pid !== undefined) tryKill(pid);
      tryKill(proc.child.pid);
    });
    rmSync(mlRoot, { recursive: true, force: true });
  }
}

export async function run(ctx) {
  ctx.requireUnshare();
  const reps = ctx.options.rssReps ?? 3;
  const sups = Object.fromEntries(supervisors().map((s) => [s.id, s]));
  const algorithm = ["sleep", "30"];
  const list = [
    { id: "trainguard (PID 1)", namespace: true, argv: (ml) => inNamespace(sups.trainguard.argv(ml, algorithm)) },
    { id: "trainguard (child)", namespace: false, argv: (ml) => sups.trainguard.argv(ml, algorithm) },
    { id: "self-contained (PID 1)", namespace: true, argv: (ml) => inNamespace(sups["trainguard (self-contained)"].argv(ml, algorithm)) },
    { id: "tini (PID 1)", namespace: true, argv: (ml) => inNamespace(sups.tini.argv(ml, algorithm)) },
  ];
  const samples = new Map(list.map((v) => [v.id, []]));
  for (let i = 0; i < reps; i++) {
    const round = await Promise.all(list.map((v) => measure(ctx, v)));
    round.forEach((r, j) => samples.get(list[j].id).push(r));
    ctx.progress(`rss: ${i + 1}/${reps} rounds`);
  }
  ctx.progressDone();
  const results = {};
  for (const v of list) {
    const rs = samples.get(v.id);
    const med = (f) => summarize(rs.map((r) => r[f])).median;
    results[v.id] = {
      namespace: v.namespace,
      medianKB: Object.fromEntries([...FIELDS.filter((f) => f !== "Threads"), "idleCpuTicks"].map((f) => [f, med(f)])),
      threads: med("Threads"),
      samples: rs,
    };
  }
  const mb = (kb) => fmt(kb / 1024, 1);
  const tg = results["trainguard (PID 1)"].medianKB;
  const ti = results["tini (PID 1)"].medianKB;
  return {
    params: { settleMs: SETTLE_MS, reps, algorithm: algorithm.join(" ") },
    results,
    table: {
      columns: ["supervisor", "VmRSS MB", "VmHWM MB", "RssAnon MB", "RssFile MB", "threads", "CPU ticks idle"],
      rows: list.map((v) => {
        const r = results[v.id];
        return [v.id, mb(r.medianKB.VmRSS), mb(r.medianKB.VmHWM), mb(r.medianKB.RssAnon), mb(r.medianKB.RssFile), r.threads, r.medianKB.idleCpuTicks];
      }),
    },
    notes: [
      `Median of ${reps} rounds, read ${SETTLE_MS / 1000} s after the algorithm started. trainguard/tini VmRSS: x${(tg.VmRSS / ti.VmRSS).toFixed(0)}. Target: trainguard RSS < 80 MB -> ${tg.VmHWM < 80 * 1024 ? "met (peak too)" : tg.VmRSS < 80 * 1024 ? "met (settled; peak above)" : "NOT met"}.`,
      `self-contained build (npm run dist) as PID 1: VmRSS ${mb(results["self-contained (PID 1)"].medianKB.VmRSS)} MB, ${mb(results["self-contained (PID 1)"].medianKB.VmRSS - tg.VmRSS)} MB over the npm install on the host's Node.`,
    ],
  };
}
