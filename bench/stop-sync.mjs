// The stop path with checkpoint sync (issue 4): ten checkpoints, nine already remote. Each
// checkpoint is 1 GiB of incompressible data plus 1,000 small files. Checkpoints 1-9 share their
// content (hard links to one set of files); checkpoint 10 is all new content (another random GiB
// and another 1,000 small files), so nothing of it can be copied server-side from the others.
//
// Setup, untimed, once per run: trainguard itself makes checkpoints 1-9 remote (a run with
// --checkpoint-uri --keep 10 whose algorithm waits until the sync reports no lag).
// Each round then:
//   trainguard   `trainguard run --checkpoint-dir D --checkpoint-uri s3://bench/sync --keep 10`
//                with an algorithm whose SIGTERM handler writes checkpoint 10's commit marker
//                (its data is already on disk: the final save that a stop triggers) and exits.
//                Timed from SIGTERM to trainguard's exit; status.json must show the flush ok for
//                ckpt-10. The stop path also packages ckpt-10 into the local model.tar.gz.
//                (No --output here: that would upload a second GiB, the archive.)
//   alone        uploading checkpoint 10 alone, into an empty prefix, with trainguard's putStream
//                (markers last): 4 files at a time, largest first (a good plain uploader: the
//                baseline of the target), and 2 files at a time in path order (the schedule the
//                sync itself uses, without any of its bookkeeping).
//   files        the trainguard stop again with --model-layout files (recorded, may fail).
import { readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import path from "node:path";
import { BenchData, MARKER } from "./lib/data.mjs";
import { ALGO, LOG_DIR, S3_ENV, clearOutput, mb, median, s3, sampleProc, startS3Server, trainguardStop } from "./lib/harness.mjs";
import { runOnce } from "./lib/proc.mjs";
import { ENTRY } from "./lib/context.mjs";
import { stopStages } from "./stop-path.mjs";
import { fmt } from "./lib/stats.mjs";

export const meta = {
  name: "stop-sync",
  aliases: ["sync"],
  title: "Stop path with checkpoint sync: 10 checkpoints of 1 GiB + 1,000 files, 9 already remote, vs uploading the last one alone",
  data: true,
};

const KEEP = 10;

export async function run(ctx) {
  const rounds = ctx.options.rounds ?? 2;
  const data = new BenchData(ctx.options.dataDir, (m) => ctx.progress(m));
  const r0 = data.randomFile(0);
  const r1 = data.randomFile(1);
  const parent = path.join(data.dir, "ck", "sync");
  for (let i = 1; i <= 9; i++) {
    const { stepDir } = data.checkpoint("sync", { parent, step: `ckpt-${String(i).padStart(2, "0")}`, big: [r0], small: "A" });
    // Commit order = marker mtime: one minute apart, long ago.
    const t = new Date(Date.UTC(2026, 0, 1, 0, i));
    utimesSync(path.join(stepDir, MARKER), t, t);
  }
  const last = data.checkpoint("sync-last", { parent, step: "ckpt-10", big: [r1], small: "B", commit: false });
  const marker10 = path.join(last.stepDir, MARKER);
  rmSync(marker10, { force: true });
  for (const name of readdirSync(parent)) if (name.startsWith(".trainguard-")) rmSync(path.join(parent, name), { recursive: true, force: true });
  ctx.progress("stop-sync: reading the data once into the page cache");
  data.warm(r0, r1, path.join(data.dir, "small"));

  const server = await startS3Server(path.join(data.dir, "s3"));
  const base = { endpoint: server.endpoint, bucket: server.bucket };
  const uri = `s3://${server.bucket}/sync`;
  const out = data.scratch("stop-sync");
  const common = ["--checkpoint-dir", parent, "--checkpoint-uri", uri, "--keep", String(KEEP), "--s3-endpoint", server.endpoint];
  const samples = { trainguard: [], "alone-largest": [], "alone-path": [], "trainguard-files": [] };
  let seed;
  try {
    // Setup: checkpoints 1-9 made remote by trainguard's own background sync.
    ctx.progress("stop-sync: setup: syncing checkpoints 1-9 (untimed)");
    const seedMl = path.join(out, "seed");
    const statusFile = path.join(seedMl, "output", "trainguard", "status.json");
    const t0 = Date.now();
    const r = await runOnce([process.execPath, ENTRY, "run", "--ml-root", seedMl, ...common, "--job-name", "seed", "--", process.execPath, ALGO, "wait-sync", statusFile], {
      env: { ...process.env, ...S3_ENV },
    });
    if (r.code !== 0) throw new Error(`setup run exited ${r.code}: ${r.stderr.slice(-2000)}`);
    const remote = await s3({ ...base, op: "list", prefix: "sync" });
    const complete = Object.entries(remote.checkpoints).filter(([, c]) => c.marker).map(([n]) => n);
    if (complete.length !== 9 || complete.includes("ckpt-10")) throw new Error(`setup left ${JSON.stringify(complete)} remote, expected ckpt-01..ckpt-09`);
    seed = { seconds: (Date.now() - t0) / 1000, objects: remote.objects, bytes: remote.bytes, complete };
    clearOutput(seedMl);

    const trainguardRound = async (extraArgs, label, mustFlush = true) => {
      rmSync(marker10, { force: true });
      await s3({ ...base, op: "delete", prefix: "sync/ckpt-10" });
      const mlRoot = path.join(out, "ml");
      const run = await trainguardStop({
        mlRoot,
        runArgs: [...common, "--job-name", "bench", ...extraArgs],
        algorithm: [process.execPath, ALGO, "stop", marker10],
        // The sync has read the remote state and found nothing to do.
        ready: (st) => st.checkpointSync?.lag?.newestRemote === "ckpt-09" && st.checkpointSync.lag.checkpoints === 0,
        settleMs: 2000,
        s3Pid: server.pid,
        logFile: path.join(LOG_DIR, `${label}.log`),
      });
      const flush = run.status?.checkpointSync?.flush;
      const flushed = run.exitCode === 0 && flush?.ok === true && flush.checkpoint === "ckpt-10";
      if (mustFlush && !flushed) throw new Error(`flush did not make ckpt-10 remote (exit ${run.exitCode}): ${JSON.stringify(flush)} ${run.stderrTail}`);
      const isBig = (e) => /ckpt-10\/model-\d+\.bin$/.test(e.uri ?? "");
      const bigStart = run.events.find((e) => e.event === "storage.upload.start" && isBig(e));
      const bigDone = run.events.find((e) => e.event === "storage.upload.done" && isBig(e));
      const sentAt = run.events.find((e) => e.event === "stop.requested")?.t;
      clearOutput(mlRoot);
      rmSync(marker10, { force: true });
      return {
        seconds: run.seconds,
        flushed,
        flushCode: flush?.code,
        flushReason: flush?.reason,
        flushBytes: flush?.bytes,
        flushFiles: flush?.files,
        flushCopiedFiles: flush?.copiedFiles,
        flushMs: flush?.ms,
        bigFileStartedAt: bigStart && sentAt ? (bigStart.t - sentAt) / 1000 : undefined,
        bigFileUploadedAt: bigDone && sentAt ? (bigDone.t - sentAt) / 1000 : undefined,
        bigFileUploadMs: bigDone?.ms,
        resumedFrom: run.status.resumedFrom,
        stages: stopStages(run),
        cpuSeconds: run.tg.cpuSeconds,
        s3CpuSeconds: run.s3?.cpuSeconds,
        vmHWMMB: run.tg.vmHWMkB / 1024,
      };
    };
    const variants = [
      { id: "trainguard", go: (round) => trainguardRound([], `stop-sync-r${round}`) },
      ...[
        { id: "alone-largest", concurrency: 4, order: "largest" },
        { id: "alone-path", concurrency: 2, order: "path" },
      ].map((a) => ({
        id: a.id,
        async go(round) {
          // The same files, marker included (last), into an empty prefix.
          writeFileSync(marker10, "{}\n");
          const s3s = sampleProc(server.pid);
          const up = await s3({ ...base, op: "files", prefix: `${a.id}-${round}/ckpt-10`, dir: last.stepDir, concurrency: a.concurrency, order: a.order });
          const s3p = s3s.stop();
          rmSync(marker10, { force: true });
          await s3({ ...base, op: "delete", prefix: `${a.id}-${round}` });
          return { seconds: up.seconds, bytes: up.bytes, files: up.files, bigFileStartedAt: up.bigFileStartSeconds, bigFileUploadedAt: up.bigFileSeconds, s3CpuSeconds: s3p.cpuSeconds, vmHWMMB: up.vmHWMkB / 1024 };
        },
      })),
      // The same stop with --model-layout files (the model dir gets hard links instead of an
      // archive, as for SageMaker). Recorded, not required to succeed: linking changes the files'
      // ctime, which the flush takes for a change of the checkpoint (see BENCHMARKS.md).
      { id: "trainguard-files", go: (round) => trainguardRound(["--model-layout", "files"], `stop-sync-files-r${round}`, false) },
    ];
    for (let round = 0; round < rounds; round++) {
      const order = variants.map((_, i) => variants[(i + round) % variants.length]);
      for (const v of order) {
        ctx.progress(`stop-sync: round ${round + 1}/${rounds}: ${v.id}`);
        samples[v.id].push(await v.go(round));
      }
    }
  } finally {
    await server.stop();
    clearOutput(out);
    rmSync(marker10, { force: true });
  }
  ctx.progressDone();
  const med = (id, f = (x) => x.seconds) => median(samples[id].map(f));
  const tg = med("trainguard");
  const alone = med("alone-largest");
  const sameSchedule = med("alone-path");
  const stagesOf = (id) => Object.fromEntries(Object.keys(samples[id][0].stages).map((k) => [k, med(id, (x) => x.stages[k])]));
  const stages = stagesOf("trainguard");
  const flushBytes = med("trainguard", (x) => x.flushBytes);
  const aloneBytes = samples["alone-largest"][0].bytes;
  const ratio = tg / alone;
  const targets = {
    within1_3xOfUploadingLastAlone: { baseline: "alone, 4 files at a time, largest first", value: ratio, target: 1.3, met: ratio <= 1.3 },
    vsSameScheduleAlone: { baseline: "alone, 2 files at a time, path order (the sync's own schedule)", value: tg / sameSchedule, target: 1.3, met: tg / sameSchedule <= 1.3 },
  };
  const hwm = (id) => fmt(Math.max(...samples[id].map((x) => x.vmHWMMB)), 0);
  const flushOk = (id) => `${samples[id].filter((x) => x.flushed !== false).length}/${samples[id].length}`;
  const row = (label, id, bytes) => {
    const sec = med(id);
    return [label, fmt(sec, 1), fmt(mb(bytes), 0), fmt(mb(bytes) / sec, 0), `${fmt(sec / alone, 2)}x`, fmt(med(id, (x) => x.bigFileStartedAt), 1), fmt(med(id, (x) => x.bigFileUploadedAt), 1), fmt(med(id, (x) => x.s3CpuSeconds), 1), hwm(id), flushOk(id)];
  };
  const filesRuns = samples["trainguard-files"];
  return {
    params: { rounds, keep: KEEP, checkpointBytes: aloneBytes, data: `${parent}: ckpt-01..09 (hard links to one set of files), ckpt-10 new content`, seed },
    results: {
      trainguard: { medianSeconds: tg, flushBytes, stages, samples: samples.trainguard },
      aloneLargestFirst4: { medianSeconds: alone, bytes: aloneBytes, samples: samples["alone-largest"] },
      alonePathOrder2: { medianSeconds: sameSchedule, samples: samples["alone-path"] },
      trainguardModelLayoutFiles: { medianSeconds: med("trainguard-files"), flushed: filesRuns.map((x) => x.flushed), flushCodes: filesRuns.map((x) => x.flushCode), reasons: filesRuns.map((x) => x.flushReason), samples: filesRuns },
    },
    targets,
    table: {
      columns: ["variant", "median s", "bytes sent MB", "MB/s", "time / alone", "1 GiB file started at s", "1 GiB file stored at s", "s3rver CPU s", "VmHWM MB", "ckpt-10 remote"],
      rows: [
        row("trainguard stop path, sync (9 of 10 remote)", "trainguard", flushBytes),
        row("upload ckpt-10 alone: 4 files at a time, largest first", "alone-largest", aloneBytes),
        row("upload ckpt-10 alone: 2 files at a time, path order (the sync's schedule)", "alone-path", aloneBytes),
        row("trainguard stop path, sync, --model-layout files", "trainguard-files", med("trainguard-files", (x) => x.flushBytes ?? 0)),
      ],
    },
    notes: [
      `setup (untimed): ${fmt(seed.seconds, 0)} s to make ckpt-01..09 remote (${seed.objects} objects, ${fmt(mb(seed.bytes), 0)} MB).`,
      `trainguard after SIGTERM (s): algorithm exited ${fmt(stages.algorithmExited, 2)}, flush started ${fmt(stages.flushStarted, 2)}, local archive committed ${fmt(stages.localArchiveCommitted, 1)}, 1 GiB file started ${fmt(med("trainguard", (x) => x.bigFileStartedAt), 1)}, flush done ${fmt(stages.flushDone, 1)}, exit ${fmt(stages.exit, 1)}; flush sent ${samples.trainguard[0].flushFiles} files, ${samples.trainguard[0].flushCopiedFiles} copied server-side; trainguard CPU ${fmt(med("trainguard", (x) => x.cpuSeconds), 1)} s.`,
      `--model-layout files: flush ${filesRuns.map((x) => (x.flushed ? "ok" : `${x.flushCode}: ${x.flushReason}`)).join("; ")}`,
      `target: within 1.3x of uploading the last checkpoint alone (largest first, 4 at a time): ${fmt(ratio, 2)}x ${targets.within1_3xOfUploadingLastAlone.met ? "MET" : "MISSED"}; vs the same files on the sync's own schedule: ${fmt(tg / sameSchedule, 2)}x`,
    ],
  };
}
