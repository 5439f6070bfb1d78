// What keeping the last intact version of a flat checkpoint file costs a training loop. The
// loop is examples/pytorch-train in overwrite mode (real torch.save over one model.pt every
// SAVE_EVERY steps, single-threaded torch), run to completion under `trainguard run` with
// --keep-intact auto and with --keep-intact off, and bare (no supervisor) as the baseline; the
// three take turns, ROUNDS times. Figures: wall time of the whole run, and the copies trainguard
// kept (debug log `intact.kept`; a copy is dropped when the file is rewritten while it is copied).
import { spawn } from "node:child_process";
import path from "node:path";
import { ENTRY, REPO_ROOT, BenchError } from "./lib/context.mjs";
import { fmt, summarize } from "./lib/stats.mjs";

export const meta = {
  name: "intact",
  aliases: ["intact-copy", "keep-intact"],
  title: "Cost of --keep-intact to a PyTorch loop that torch.saves over model.pt",
};

const PYTHON = "/usr/bin/python3";
const TRAIN = path.join(REPO_ROOT, "examples", "pytorch-train", "train.py");

function runOnce(argv, env) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(argv[0], argv.slice(1), { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    child.once("error", reject);
    child.once("exit", (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (code !== 0) reject(new BenchError(`${argv.join(" ")} exited ${code}: ${stderr.slice(-500)}`));
      else {
        const copies = [...stderr.matchAll(/"event":"intact\.kept"[^}]*"bytes":(\d+),"ms":(\d+)/g)].map((m) => ({ bytes: Number(m[1]), ms: Number(m[2]) }));
        resolve({ ms, kept: copies.length, copyMs: copies.reduce((n, c) => n + c.ms, 0), copyBytes: copies[0]?.bytes ?? 0 });
      }
    });
  });
}

export async function run(ctx) {
  const rounds = ctx.options.rounds ?? 3;
  const hidden = Number(process.env.BENCH_INTACT_HIDDEN ?? 2048);
  const params = { steps: 100, saveEvery: 5, hidden, rounds };
  const env = { MODE: "overwrite", STEPS: String(params.steps), SAVE_EVERY: String(params.saveEvery), HIDDEN: String(hidden), TRAINGUARD_LOG_LEVEL: "debug" };
  const variants = [
    { id: "bare python (baseline)", argv: () => [PYTHON, TRAIN] },
    { id: "trainguard --keep-intact off", argv: (ml) => [process.execPath, ENTRY, "run", "--ml-root", ml, "--keep-intact", "off", "--", PYTHON, TRAIN] },
    { id: "trainguard --keep-intact auto", argv: (ml) => [process.execPath, ENTRY, "run", "--ml-root", ml, "--keep-intact", "auto", "--", PYTHON, TRAIN] },
  ];
  const samples = new Map(variants.map((v) => [v.id, []]));
  for (let r = 0; r < rounds; r++) {
    for (const v of variants) {
      const ml = ctx.tempDir("ml");
      const runEnv = { ...env, SM_CHECKPOINT_DIR: path.join(ml, "checkpoints"), SM_MODEL_DIR: path.join(ml, "model") };
      samples.get(v.id).push(await runOnce(v.argv(ml), runEnv));
      ctx.progress(`intact: round ${r + 1}/${rounds}, ${v.id}`);
    }
  }
  ctx.progressDone();
  const results = {};
  for (const v of variants) {
    const s = samples.get(v.id);
    results[v.id] = { ms: summarize(s.map((x) => x.ms)), kept: summarize(s.map((x) => x.kept)), copyMs: summarize(s.map((x) => x.copyMs ?? 0)), samples: s };
  }
  const off = results["trainguard --keep-intact off"].ms.median;
  const auto = results["trainguard --keep-intact auto"].ms.median;
  return {
    params,
    results,
    table: {
      columns: ["run", "median s", "min s", "max s", "copies kept (median)", "copying, s per run (median)"],
      rows: variants.map((v) => {
        const r = results[v.id];
        const auto = v.id.includes("auto");
        return [v.id, fmt(r.ms.median / 1000, 2), fmt(r.ms.min / 1000, 2), fmt(r.ms.max / 1000, 2), auto ? r.kept.median : "-", auto ? fmt(r.copyMs.median / 1000, 2) : "-"];
      }),
    },
    notes: [
      `--keep-intact auto vs off: ${fmt(((auto - off) / off) * 100, 1)}% wall time (${params.steps} steps, ${params.steps / params.saveEvery} saves of ${fmt((samples.get(variants[2].id)[0]?.copyBytes ?? 0) / 1e6, 1)} MB, hidden ${hidden}).`,
      "copying: the time copies were in flight in the background, summed over the run (the training process never waits for them).",
    ],
  };
}
