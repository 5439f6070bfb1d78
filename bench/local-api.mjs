// trainguard local: the platform's own costs. (1) StopTrainingJob call to the first Describe that
// shows Stopped, for a job whose algorithm saves at once (its checkpoint is packaged, tarred by the
// platform and uploaded to the embedded S3); baseline in the same run: SIGTERM to exit of the same
// algorithm under `trainguard run` alone, with no platform and no upload. (2) DescribeTrainingJob
// latency with 20 jobs running, against the same call with one job running. (3) The RSS of
// `trainguard local serve` (embedded S3 included) with 20 jobs running.
import { chmodSync, existsSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { CreateTrainingJobCommand, DescribeTrainingJobCommand, SageMakerClient, StopTrainingJobCommand } from "@aws-sdk/client-sagemaker";
import { ENTRY } from "./lib/context.mjs";
import { procStatus, sleep, start, tryKill, withTimeout } from "./lib/proc.mjs";
import { fmt, summarize } from "./lib/stats.mjs";

export const meta = { name: "local", aliases: ["local-api"], title: "trainguard local: StopTrainingJob to Stopped, Describe latency, platform RSS" };

const ROLE = "arn:aws:iam::123456789012:role/bench";
export const ALGORITHM = `
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
const dir = process.env.SM_CHECKPOINT_DIR;
let n = 0;
function save() {
  n += 1;
  const tmp = dir + "/.ck" + n, final = dir + "/ck-" + n;
  mkdirSync(tmp, { recursive: true });
  writeFileSync(tmp + "/weights.bin", Buffer.alloc(1 << 20, n));
  writeFileSync(tmp + "/.trainguard-commit", "");
  renameSync(tmp, final);
}
save();
process.on("SIGTERM", () => { save(); process.exit(0); });
setInterval(() => {}, 1000);
`;

export function checkpoints(dir) {
  return existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith("ck-")).length : 0;
}

export async function until(what, probe, timeoutMs = 60_000, intervalMs = 20) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}

export async function startServe(ctx) {
  const data = ctx.tempDir("local-data");
  const serve = start([process.execPath, ENTRY, "local", "serve", "--port", "0", "--data", data, "--stop-timeout", "30"], { env: { ...process.env, TRAINGUARD_LOG_LEVEL: "warn" } });
  const line = await withTimeout(serve.stdout.next((l) => l.startsWith("export ")), 30_000, "the export line of local serve");
  const env = Object.fromEntries(line.replace(/^export /, "").split(" ").map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
  const sm = new SageMakerClient({ endpoint: env.AWS_ENDPOINT_URL_SAGEMAKER, region: env.AWS_REGION, credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY } });
  return { serve, sm, data };
}

export const request = (name, image, instanceCount = 1) => ({
  TrainingJobName: name,
  RoleArn: ROLE,
  AlgorithmSpecification: { TrainingImage: image, TrainingInputMode: "File" },
  OutputDataConfig: { S3OutputPath: "s3://sagemaker-local/bench" },
  ResourceConfig: { InstanceType: "ml.m5.large", InstanceCount: instanceCount, VolumeSizeInGB: 1 },
  StoppingCondition: { MaxRuntimeInSeconds: 3600 },
});

async function stopLatency(sm, data, image, name) {
  await sm.send(new CreateTrainingJobCommand(request(name, image)));
  await until(`${name} to checkpoint`, () => checkpoints(path.join(data, "jobs", name, "algo-1", "checkpoints")) >= 1);
  const t0 = performance.now();
  await sm.send(new StopTrainingJobCommand({ TrainingJobName: name }));
  const callMs = performance.now() - t0;
  await until(`${name} to be Stopped`, async () => (await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: name }))).TrainingJobStatus === "Stopped", 60_000, 5);
  return { stoppedMs: performance.now() - t0, callMs };
}

async function baselineStop(ctx, image) {
  const ml = ctx.tempDir("baseline-ml");
  const proc = start([process.execPath, ENTRY, "run", "--ml-root", ml, "--job-name", "baseline", "--grace", "30", "--", image.replace("file://", "")]);
  proc.child.stdout.resume();
  await until("the baseline to checkpoint", () => checkpoints(path.join(ml, "checkpoints")) >= 1);
  const t0 = performance.now();
  proc.child.kill("SIGTERM");
  await withTimeout(proc.exited, 60_000, "the baseline to exit");
  return performance.now() - t0;
}

async function describeLatencies(sm, name, count) {
  const out = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: name }));
    out.push(performance.now() - t0);
  }
  return out;
}

export async function run(ctx) {
  const jobs = ctx.options.runs ?? 50;
  const batch = ctx.options.batch ?? 5;
  const imageFile = path.join(ctx.tempDir("image"), "saves-at-once.mjs");
  writeFileSync(imageFile, `#!${process.execPath}\n${ALGORITHM}`);
  chmodSync(imageFile, 0o755);
  const image = `file://${imageFile}`;
  const { serve, sm, data } = await startServe(ctx);
  try {
    const stops = [];
    const baseline = [];
    for (let i = 0; i < jobs; i += batch) {
      const names = Array.from({ length: Math.min(batch, jobs - i) }, (_, j) => `bench-stop-${i + j}`);
      stops.push(...(await Promise.all(names.map((n) => stopLatency(sm, data, image, n)))));
      baseline.push(await baselineStop(ctx, image));
      ctx.progress(`local: ${stops.length}/${jobs} jobs stopped`);
    }
    const running = Array.from({ length: 20 }, (_, i) => `bench-running-${i}`);
    await sm.send(new CreateTrainingJobCommand(request(running[0], image)));
    await until("one job running", () => checkpoints(path.join(data, "jobs", running[0], "algo-1", "checkpoints")) >= 1);
    const describeOne = await describeLatencies(sm, running[0], 200);
    await Promise.all(running.slice(1).map((n) => sm.send(new CreateTrainingJobCommand(request(n, image)))));
    await until("20 jobs running", () => running.every((n) => checkpoints(path.join(data, "jobs", n, "algo-1", "checkpoints")) >= 1), 120_000, 100);
    const describeTwenty = await describeLatencies(sm, running[7], 200);
    const rss = procStatus(serve.child.pid);
    await Promise.all(running.map((n) => sm.send(new StopTrainingJobCommand({ TrainingJobName: n }))));
    await until("20 jobs stopped", async () => (await Promise.all(running.map((n) => sm.send(new DescribeTrainingJobCommand({ TrainingJobName: n }))))).every((d) => d.TrainingJobStatus === "Stopped"), 120_000, 200);
    ctx.progressDone();

    const s = summarize(stops.map((x) => x.stoppedMs));
    const call = summarize(stops.map((x) => x.callMs));
    const b = summarize(baseline);
    const d1 = summarize(describeOne);
    const d20 = summarize(describeTwenty);
    return {
      params: { jobs, batch, describeCalls: 200, stopTimeoutSeconds: 30, checkpointBytes: 1 << 20 },
      results: { stopToStoppedMs: s, stopCallMs: call, baselineSigtermToExitMs: b, describeOneRunningMs: d1, describeTwentyRunningMs: d20, serveRssKB: { VmRSS: rss.VmRSS, VmHWM: rss.VmHWM } },
      table: {
        columns: ["measure", "n", "median ms", "p99 ms", "max ms"],
        rows: [
          ["StopTrainingJob call -> Describe shows Stopped", s.n, fmt(s.median, 1), fmt(s.p99, 1), fmt(s.max, 1)],
          ["  of which the StopTrainingJob call itself", call.n, fmt(call.median, 1), fmt(call.p99, 1), fmt(call.max, 1)],
          ["baseline: SIGTERM -> exit of trainguard run alone", b.n, fmt(b.median, 1), fmt(b.p99, 1), fmt(b.max, 1)],
          ["DescribeTrainingJob, 20 jobs running", d20.n, fmt(d20.median, 2), fmt(d20.p99, 2), fmt(d20.max, 2)],
          ["DescribeTrainingJob, 1 job running (baseline)", d1.n, fmt(d1.median, 2), fmt(d1.p99, 2), fmt(d1.max, 2)],
        ],
      },
      notes: [
        `Stops in batches of ${batch} jobs at once; each job's algorithm saves a 1 MiB checkpoint at once on SIGTERM, which trainguard places in model/ and the platform tars and uploads to the embedded S3 before Stopped.`,
        `trainguard local serve RSS with 20 jobs running (embedded S3 included): VmRSS ${fmt(rss.VmRSS / 1024, 1)} MB, peak VmHWM ${fmt(rss.VmHWM / 1024, 1)} MB.`,
      ],
    };
  } finally {
    sm.destroy();
    tryKill(serve.child.pid, "SIGTERM");
    await withTimeout(serve.exited, 10_000, "serve to exit").catch(() => tryKill(serve.child.pid));
  }
}
