// Start-up overhead: wall time from spawn to exit of a supervisor running `true`, against tini
// and against `true` alone, for trainguard's npm install and its self-contained build (npm run dist), outside and inside a PID namespace (where the supervisor is PID 1 and
// trainguard also starts its orphan reaper). `node -e 0` is listed as the floor any Node
// supervisor pays. All variants are interleaved round by round so machine noise falls on each alike.
import { rmSync } from "node:fs";
import { fmt, rounded, summarize } from "./lib/stats.mjs";
import { runOnce } from "./lib/proc.mjs";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { ENTRY, RELEASE_TREE, TRUE, TINI, inNamespace, supervisors } from "./lib/context.mjs";

const RUNTIME = path.join(RELEASE_TREE, "runtime", "node");
const selfContainedNode = () => execFileSync(RUNTIME, ["--version"], { encoding: "utf8" }).trim();
let cacheDir;
/** A compile cache directory for the run (filled by the warm-up rounds). */
const compileCache = (ctx) => (cacheDir ??= ctx.tempDir("compile-cache"));

export const meta = {
  name: "startup",
  aliases: ["start-up"],
  title: "Start-up overhead (spawn to exit of `<supervisor> -- true`)",
};

const WARMUP_RUNS = 2;

function variants(ctx) {
  const sups = Object.fromEntries(supervisors().map((s) => [s.id, s]));
  const host = [
    { id: "true", argv: () => [TRUE] },
    { id: "node -e 0", argv: () => [process.execPath, "-e", "0"], reference: true },
    { id: "tini", argv: () => sups.tini.argv(undefined, [TRUE]) },
    { id: "trainguard", argv: (mlRoot) => sups.trainguard.argv(mlRoot, [TRUE]) },
    { id: "trainguard (self-contained)", argv: (mlRoot) => sups["trainguard (self-contained)"].argv(mlRoot, [TRUE]) },
    // The two builds' bundles on the same runtime (the npm install's bin, dist/, with its
    // node_modules, on the self-contained build's node), and the bundle with a warm compile cache.
    { id: "npm install's bin on the self-contained node", argv: (mlRoot) => [RUNTIME, ENTRY, "run", "--ml-root", mlRoot, "--", TRUE], reference: true },
    { id: "bundle + warm NODE_COMPILE_CACHE", argv: (mlRoot) => ["env", `NODE_COMPILE_CACHE=${compileCache(ctx)}`, RUNTIME, path.join(RELEASE_TREE, "lib", "cli", "entry.js"), "run", "--ml-root", mlRoot, "--", TRUE], reference: true },
  ];
  const list = host.map((v) => ({ ...v, namespace: false }));
  if (ctx.options.namespace !== false) {
    try {
      ctx.requireUnshare();
      for (const v of host.filter((x) => !x.reference)) list.push({ id: `${v.id} (PID 1)`, argv: (mlRoot) => inNamespace(v.argv(mlRoot)), namespace: true });
    } catch {
      // no namespaces here: host variants only
    }
  }
  return list;
}

export async function run(ctx) {
  const runs = ctx.options.runs ?? 30;
  const list = variants(ctx);
  const samples = new Map(list.map((v) => [v.id, []]));
  const once = async (v) => {
    const mlRoot = ctx.tempDir("ml");
    try {
      const r = await runOnce(v.argv(mlRoot));
      if (r.code !== 0) throw new Error(`${v.id} exited ${r.code ?? r.signal}: ${r.stderr.trim().split("\n").slice(-2).join(" | ")}`);
      return r.wallMs;
    } finally {
      rmSync(mlRoot, { recursive: true, force: true });
    }
  };
  for (let i = 0; i < WARMUP_RUNS; i++) for (const v of list) await once(v);
  try {
    for (let i = 0; i < runs; i++) {
      const order = i % 2 === 0 ? list : [...list].reverse();
      for (const v of order) samples.get(v.id).push(await once(v));
      ctx.progress(`startup: ${i + 1}/${runs} rounds`);
    }
  } finally {
    ctx.progressDone();
  }
  const results = {};
  for (const v of list) results[v.id] = { namespace: v.namespace, wallMs: rounded(summarize(samples.get(v.id))) };
  const med = (id) => results[id]?.wallMs.median;
  const notes = [
    `${runs} runs of each, interleaved, after ${WARMUP_RUNS} warm-up rounds; wall time measured by the bench from spawn() to the exit event.`,
    `trainguard - tini (median): ${fmt(med("trainguard") - med("tini"), 1)} ms on the host` +
      (results["trainguard (PID 1)"] ? `, ${fmt(med("trainguard (PID 1)") - med("tini (PID 1)"), 1)} ms as PID 1` : "") +
      `; node -e 0 alone costs ${fmt(med("node -e 0") - med("true"), 1)} ms over true.`,
    `self-contained (bundled, Node ${selfContainedNode()}) - npm install (median): ${fmt(med("trainguard (self-contained)") - med("trainguard"), 1)} ms on the host` +
      (results["trainguard (self-contained) (PID 1)"] ? `, ${fmt(med("trainguard (self-contained) (PID 1)") - med("trainguard (PID 1)"), 1)} ms as PID 1.` : "."),
    `On the same runtime, the self-contained build starts ${fmt(med("npm install's bin on the self-contained node") - med("trainguard (self-contained)"), 1)} ms sooner than the npm install's bin (median); a warm V8 compile cache saves ${fmt(med("trainguard (self-contained)") - med("bundle + warm NODE_COMPILE_CACHE"), 1)} ms more.`,
  ];
  return {
    params: { runs, warmupRuns: WARMUP_RUNS, algorithm: TRUE, tini: TINI },
    results,
    table: {
      columns: ["command", "median ms", "p90 ms", "min ms", "max ms"],
      rows: list.map((v) => {
        const s = results[v.id].wallMs;
        return [v.id, fmt(s.median, 1), fmt(s.p90, 1), fmt(s.min, 1), fmt(s.max, 1)];
      }),
    },
    notes,
  };
}
