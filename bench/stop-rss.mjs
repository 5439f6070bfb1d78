// Peak memory of trainguard on the stop path with a 4 GiB checkpoint (issue 4): four 1 GiB
// incompressible files (hard links to one random file: 1 GiB of page cache serves 4 GiB of
// reads) plus 1,000 small files, packaged and uploaded to the embedded S3 (s3rver, own process)
// in one read. trainguard's VmRSS is sampled from /proc every 100 ms from SIGTERM to exit, and
// its VmHWM (the kernel's peak over the process's whole life) read at the end.
import path from "node:path";
import { BenchData } from "./lib/data.mjs";
import { ALGO, LOG_DIR, clearOutput, mb, quarters, s3, startS3Server, trainguardStop } from "./lib/harness.mjs";
import { stopStages } from "./stop-path.mjs";
import { fmt } from "./lib/stats.mjs";

export const meta = { name: "stop-rss", aliases: ["stop-memory"], title: "Peak RSS of trainguard on the stop path with a 4 GiB checkpoint (package + upload to s3rver)", data: true };

const LIMIT_MB = 250;
/** Enough for 4 GiB to s3rver on a busy machine (~20-170 MB/s, plus its assembly of the object at completion). */
const GRACE = 600;

export async function run(ctx) {
  const data = new BenchData(ctx.options.dataDir, (m) => ctx.progress(m));
  const r0 = data.randomFile(0);
  const { ckRoot, stepDir } = data.checkpoint("c4g", { big: [r0, r0, r0, r0], small: "A" });
  data.warm(stepDir);
  const server = await startS3Server(path.join(data.dir, "s3"));
  const out = data.scratch("stop-rss");
  const mlRoot = path.join(out, "ml");
  let run;
  try {
    ctx.progress("stop-rss: trainguard stop path, 4 GiB");
    run = await trainguardStop({
      mlRoot,
      runArgs: ["--checkpoint-dir", ckRoot, "--output", `s3://${server.bucket}/rss`, "--s3-endpoint", server.endpoint, "--job-name", "bench", "--grace", String(GRACE)],
      algorithm: [process.execPath, ALGO, "stop"],
      s3Pid: server.pid,
      timeoutMs: 1_200_000,
      logFile: path.join(LOG_DIR, "stop-rss.log"),
    });
    // The RSS figure stands whatever happened to the upload; what happened is reported beside it.
    const key = `rss/bench/output/model.tar.gz`;
    const head = await s3({ endpoint: server.endpoint, bucket: server.bucket, op: "head", key });
    run.objectBytes = head.size;
  } finally {
    await server.stop();
    clearOutput(out);
  }
  ctx.progressDone();
  const q = quarters(run.tg.series).map((kb) => kb / 1024);
  const artifact = run.status?.artifact ?? {};
  const failure = run.status?.failureReason ?? null;
  const retries = run.events.filter((e) => e.event === "storage.retry");
  const result = {
    seconds: run.seconds,
    exitCode: run.exitCode,
    archiveBytes: artifact.bytes,
    compression: artifact.compression,
    uploadedTo: artifact.uploadedTo ?? null,
    objectBytesFound: run.objectBytes,
    failureReason: failure,
    retries: retries.length,
    firstRetry: retries[0] ? { what: retries[0].what, error: retries[0].error, at: (retries[0].t - run.events[0].t) / 1000 } : undefined,
    vmHWMMB: run.tg.vmHWMkB / 1024,
    sampledPeakRSSMB: run.tg.peakRSSkB / 1024,
    quarterPeaksMB: q,
    cpuSeconds: run.tg.cpuSeconds,
    s3CpuSeconds: run.s3?.cpuSeconds,
    stages: stopStages(run),
    underLimit: run.tg.vmHWMkB / 1024 < LIMIT_MB,
    rssSeries: run.tg.series.filter((_, i) => i % 10 === 0),
  };
  const uploaded = result.uploadedTo ? "yes" : `NO (${result.objectBytesFound ? `yet ${result.objectBytesFound} bytes are under the key` : "no object"})`;
  return {
    params: { data: `${stepDir}: 4 x 1 GiB (hard links to one random file) + 1,000 small files`, limitMB: LIMIT_MB, grace: GRACE },
    results: { trainguard: result },
    table: {
      columns: ["variant", "archive MB", "SIGTERM to exit s", "uploaded", "peak RSS per quarter MB", "VmHWM MB", `< ${LIMIT_MB} MB`],
      rows: [["trainguard stop path, --output s3", fmt(mb(result.archiveBytes ?? NaN), 0), fmt(result.seconds, 1), uploaded, q.map((x) => fmt(x, 0)).join(" / "), fmt(result.vmHWMMB, 0), result.underLimit ? "yes" : "NO"]],
    },
    notes: [
      `--grace ${GRACE}: on this shared machine 4 GiB to s3rver took from under a minute (idle) to several minutes (busy); at the default 120 s a slow run is aborted at the deadline, by design.`,
      `trainguard CPU ${fmt(result.cpuSeconds, 1)} s, s3rver CPU ${fmt(result.s3CpuSeconds, 1)} s; local archive committed at ${fmt(result.stages.localArchiveCommitted, 1)} s, last part stored at ${fmt(result.stages.lastPartStored, 1)} s, object complete at ${fmt(result.stages.objectComplete, 1)} s.`,
      ...(result.retries > 0 ? [`${result.retries} retried S3 requests; the first: ${result.firstRetry.what} ${result.firstRetry.error}. Failure reason: ${failure}`] : []),
    ],
  };
}
