// Packaging compressible data (issue 3): ~512 MiB of training-log text in 4 files. trainguard
// `auto` against `tar -cf - | pigz -1` (time and ratio) and `tar -cf - | gzip -1` (ratio), in the
// same run, rotating order, all from the page cache (read once before the first round).
//
// `auto` has two rows: packageCheckpoint with no deadline (what the target is about; it
// then picks level 1 for data that compresses), and with a 120 s deadline, which is what the stop
// path passes with the default --grace 120: auto may then pick level 6 when its estimate fits in
// half the time left.
import { BenchData } from "./lib/data.mjs";
import { mb, median, requireTools, toolVersion } from "./lib/harness.mjs";
import { fmt } from "./lib/stats.mjs";
import { runRounds } from "./packaging.mjs";

export const meta = {
  name: "packaging-text",
  aliases: ["pack-text"],
  title: "Packaging 512 MiB of log text: trainguard auto vs tar | pigz -1 and tar | gzip -1",
  data: true,
};

export async function run(ctx) {
  requireTools("tar", "gzip", "pigz");
  const rounds = ctx.options.rounds ?? 2;
  const data = new BenchData(ctx.options.dataDir, (m) => ctx.progress(m));
  const { ckRoot, stepDir } = data.logs();
  ctx.progress("packaging-text: reading the data once into the page cache");
  data.warm(stepDir);
  const variants = [
    { id: "trainguard auto", mode: "auto" },
    { id: "trainguard auto, 120 s deadline", mode: "auto", deadlineInMs: 120_000 },
    { id: "tar -cf - | pigz -1", script: `tar -cf - -C "$CK" step-1 | pigz -1 > "$OUT/x.tar.gz"`, file: "x.tar.gz", level: "gzip (1), pigz" },
    { id: "tar -cf - | gzip -1", script: `tar -cf - -C "$CK" step-1 | gzip -1 > "$OUT/x.tar.gz"`, file: "x.tar.gz", level: "gzip (1)" },
  ];
  const samples = await runRounds(ctx, { variants, ckRoot, out: data.scratch("packaging-text"), rounds, label: "packaging-text" });
  ctx.progressDone();
  const inputBytes = samples.get("trainguard auto")[0].inputBytes;
  const med = (id, f = (s) => s.seconds) => median(samples.get(id).map(f));
  const pigz = med("tar -cf - | pigz -1");
  const gzip1Ratio = med("tar -cf - | gzip -1", (s) => s.outBytes) / inputBytes;
  const results = {};
  const rows = [];
  for (const v of variants) {
    const s = samples.get(v.id);
    const sec = med(v.id);
    const ratio = med(v.id, (x) => x.outBytes) / inputBytes;
    const r = {
      level: s[0].level ?? v.level,
      medianSeconds: sec,
      mbPerSecond: mb(inputBytes) / sec,
      ratio,
      timeVsPigz1: sec / pigz,
      ratioVsGzip1: ratio / gzip1Ratio,
      vmHWMMB: v.mode ? Math.max(...s.map((x) => x.vmHWMkB)) / 1024 : undefined,
      cpuSeconds: v.mode ? median(s.map((x) => x.cpuSeconds)) : undefined,
      samples: s,
    };
    results[v.id] = r;
    rows.push([v.id, r.level, fmt(sec, 1), fmt(r.mbPerSecond, 0), fmt(ratio, 4), `${fmt(r.timeVsPigz1, 2)}x`, fmt(r.ratioVsGzip1, 3), r.vmHWMMB === undefined ? "-" : fmt(r.vmHWMMB, 0), r.cpuSeconds === undefined ? "-" : fmt(r.cpuSeconds, 1)]);
  }
  const auto = results["trainguard auto"];
  const targets = {
    autoWithin1_5xPigz1Time: { value: auto.timeVsPigz1, target: 1.5, met: auto.timeVsPigz1 <= 1.5 },
    autoRatioNoWorseThanGzip1: { value: auto.ratio, gzip1: gzip1Ratio, met: auto.ratio <= gzip1Ratio },
  };
  return {
    params: { rounds, inputBytes, data: `${stepDir}: 4 files of 128 MiB of log lines (seeded generator) + marker`, pageCache: "warm", pigz: toolVersion("pigz --version"), gzip: toolVersion("gzip --version") },
    results,
    targets,
    table: { columns: ["variant", "compression", "median s", "MB/s", "size ratio", "time / pigz -1", "ratio / gzip -1", "VmHWM MB", "CPU s"], rows },
    notes: [
      `input ${fmt(mb(inputBytes), 0)} MB; ${rounds} round(s), median shown; size ratio = archive bytes / file bytes.`,
      `targets: auto within 1.5x of pigz -1's time: ${fmt(auto.timeVsPigz1, 2)}x ${targets.autoWithin1_5xPigz1Time.met ? "MET" : "MISSED"}; ratio no worse than gzip -1: ${fmt(auto.ratio, 4)} vs ${fmt(gzip1Ratio, 4)} ${targets.autoRatioNoWorseThanGzip1.met ? "MET" : "MISSED"}`,
    ],
  };
}
