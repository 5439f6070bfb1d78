import { chmod, mkdtemp, readdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { CreateTrainingJobCommand, DescribeTrainingJobCommand, SageMakerClient, StopTrainingJobCommand, type DescribeTrainingJobCommandOutput } from "@aws-sdk/client-sagemaker";
import { formatVerifyReport, verifyArchive } from "../../artifacts/index.js";
import { createLogger } from "../../log/index.js";
import { startLocalPlatform, type LocalPlatform } from "../../local/index.js";
import { createS3Client, downloadToFile, openStore, parseStorageUri, withoutSdkNodeNotice } from "../../storage/index.js";

const STOP_TIMEOUT_SECONDS = 20;
const JOB = "trainguard-demo";

/**
 * `trainguard demo` (`npm run demo`): the whole story on this machine, no AWS account needed.
 * `trainguard local` and its embedded S3 start on free ports; a bundled algorithm is created as a
 * training job through @aws-sdk/client-sagemaker, stopped with StopTrainingJob after its second
 * checkpoint, followed from Stopping to Stopped; its model is downloaded from S3 and verified, and
 * the timeline shows what each phase cost of the stop budget.
 */
export async function runDemo(): Promise<number> {
  const work = await mkdtemp(path.join(tmpdir(), "trainguard-demo-"));
  const platform = await startLocalPlatform({ dataDir: work, stopTimeoutSeconds: STOP_TIMEOUT_SECONDS, log: await createLogger({ level: "warn" }) });
  try {
    return await story(platform, work);
  } finally {
    await platform.close();
  }
}

async function story(platform: LocalPlatform, work: string): Promise<number> {
  say(`trainguard local: SageMaker API on ${platform.endpoint}, S3 on ${platform.s3Endpoint}, data in ${work}`);
  say(`  jobs run ${platform.isolation.kind === "pid-namespace" ? "as PID 1 of their own PID namespace" : `in their own process group (${platform.isolation.reason})`}`);
  say(`  the same from a shell: ${platform.exportLine}`);
  const image = await bundledAlgorithm(work);
  const sm = withoutSdkNodeNotice(() => new SageMakerClient({ endpoint: platform.endpoint, region: platform.region, credentials: platform.credentials }));
  const created = Date.now();
  await sm.send(
    new CreateTrainingJobCommand({
      TrainingJobName: JOB,
      RoleArn: "arn:aws:iam::123456789012:role/trainguard-demo",
      AlgorithmSpecification: { TrainingImage: image, TrainingInputMode: "File" },
      Environment: { DEMO_STEP_MS: "500" },
      OutputDataConfig: { S3OutputPath: "s3://sagemaker-local/demo" },
      ResourceConfig: { InstanceType: "ml.m5.large", InstanceCount: 1, VolumeSizeInGB: 1 },
      StoppingCondition: { MaxRuntimeInSeconds: 600 },
    }),
  );
  say(`CreateTrainingJob ${JOB}: TrainingImage ${image}`);
  const checkpoints = path.join(work, "jobs", JOB, "algo-1", "checkpoints");
  while ((await readdir(checkpoints).catch(() => [])).filter((n) => !n.startsWith(".")).length < 2) await sleep(50);
  say(`second checkpoint saved ${seconds(Date.now() - created)} after create: StopTrainingJob`);
  const stopAt = Date.now();
  await sm.send(new StopTrainingJobCommand({ TrainingJobName: JOB }));
  let job: DescribeTrainingJobCommandOutput;
  let seen = "";
  for (;;) {
    job = await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: JOB }));
    if (job.SecondaryStatus !== seen) say(`  DescribeTrainingJob: ${(seen = job.SecondaryStatus ?? "")} (${job.TrainingJobStatus})`);
    if (job.TrainingJobStatus === "Stopped" || job.TrainingJobStatus === "Failed" || job.TrainingJobStatus === "Completed") break;
    await sleep(100);
  }
  const stopMs = Date.now() - stopAt;
  timeline(job, created, stopAt);
  say(`stop to Stopped: ${seconds(stopMs)} of a ${STOP_TIMEOUT_SECONDS} s budget (${percent(stopMs)})`);

  const uri = job.ModelArtifacts?.S3ModelArtifacts;
  let verified = false;
  if (uri !== undefined) {
    const file = path.join(work, "model.tar.gz");
    const location = parseStorageUri(uri, "S3ModelArtifacts");
    const client = createS3Client({ endpoint: platform.s3Endpoint, credentials: platform.credentials, env: {} });
    await downloadToFile(openStore(location, { client, log: await createLogger({ level: "silent" }) }), location.prefix, file);
    const report = await verifyArchive(file);
    verified = report.ok;
    say(`S3ModelArtifacts ${uri}`);
    say(`  downloaded to ${file}; verify: ${formatVerifyReport(report).split("\n")[0]}`);
    say(`  checkpoint in it: ${report.manifest?.checkpoint ?? "none"} (${report.manifest?.reason ?? "?"})`);
    client.destroy();
  }
  sm.destroy();
  const ok = job.TrainingJobStatus === "Stopped" && verified;
  say(ok ? "demo: StopTrainingJob stopped the job, and it still left a valid model" : `demo: unexpected outcome (${job.TrainingJobStatus}: ${job.FailureReason ?? "no model"}); logs in ${path.join(work, "jobs", JOB)}`);
  return ok ? 0 : 1;
}

/** The demo algorithm as a file:// TrainingImage: an executable whose interpreter is this Node. */
async function bundledAlgorithm(work: string): Promise<string> {
  const file = path.join(work, "demo-algorithm.mjs");
  const algorithm = fileURLToPath(new URL("./algorithm.js", import.meta.url));
  await writeFile(file, `#!${process.execPath}\nimport ${JSON.stringify(algorithm)};\n`);
  await chmod(file, 0o755);
  return `file://${file}`;
}

/** Each secondary status with its time, and for the stop phases, their share of the budget. */
function timeline(job: DescribeTrainingJobCommandOutput, created: number, stopAt: number): void {
  say("timeline (from CreateTrainingJob)");
  for (const t of job.SecondaryStatusTransitions ?? []) {
    const start = t.StartTime?.getTime() ?? created;
    const end = t.EndTime?.getTime() ?? start;
    const share = start >= stopAt - 1000 && t.Status !== "Stopped" ? `  ${percent(end - start)} of the stop budget` : "";
    say(`  +${seconds(start - created).padStart(7)}  ${String(t.Status).padEnd(12)} ${seconds(end - start).padStart(7)}${share}  ${t.StatusMessage ?? ""}`);
  }
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
const percent = (ms: number): string => `${((100 * ms) / (STOP_TIMEOUT_SECONDS * 1000)).toFixed(1)}%`;

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}
