import { readFile } from "node:fs/promises";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { CreateTrainingJobCommand, StopTrainingJobCommand, type SageMakerClient } from "@aws-sdk/client-sagemaker";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyArchive } from "../../src/artifacts/index.js";
import { readStatus } from "../helpers/job.js";
import { waitFor } from "../helpers/wait.js";
import { e2eSupport } from "../helpers/e2e.js";
import { algorithmImage, checkpointsOf, download, jobRequest, s3, sageMaker, startServe, tarEntry, uniqueName, waitForJob, type Serve } from "./helpers.js";

const STOP_TIMEOUT = 4;
let serve: Serve;
let sm: SageMakerClient;
let image: string;

beforeAll(async () => {
  serve = await startServe({ stopTimeout: STOP_TIMEOUT });
  sm = sageMaker(serve);
  image = await algorithmImage();
});
afterAll(async () => {
  sm?.destroy();
  await serve?.stop();
});

async function expectVerifiedModel(uri: string | undefined, job: string): Promise<void> {
  expect(uri).toBe(`s3://sagemaker-local/jobs/${job}/output/model.tar.gz`);
  const report = await verifyArchive(await download(serve, uri as string));
  expect(report.problems).toEqual([]);
  expect(report.ok).toBe(true);
}

describe("jobs on the process backend", () => {
  it(`a job that ignores SIGTERM is cut off within --stop-timeout (${STOP_TIMEOUT} s) and still yields the checkpoint trainguard saved`, async () => {
    const name = uniqueName("deaf");
    await sm.send(new CreateTrainingJobCommand(jobRequest(name, image, "deaf")));
    await waitFor("two checkpoints", async () => (await checkpointsOf(serve, name)).length >= 2, { timeoutMs: 30_000, intervalMs: 50 });
    const stoppedAt = Date.now();
    await sm.send(new StopTrainingJobCommand({ TrainingJobName: name }));
    const done = await waitForJob(sm, name);
    const stopping = done.SecondaryStatusTransitions!.find((t) => t.Status === "Stopping")!;
    const uploading = done.SecondaryStatusTransitions!.find((t) => t.Status === "Uploading")!;
    expect(done).toMatchObject({ TrainingJobStatus: "Stopped", SecondaryStatus: "Stopped" });
    // trainguard waited for the algorithm, SIGKILLed it, packaged: all before the platform's SIGKILL.
    expect(uploading.StartTime!.getTime() - stopping.StartTime!.getTime()).toBeGreaterThan(1000);
    expect(uploading.StartTime!.getTime() - stoppedAt).toBeLessThan(STOP_TIMEOUT * 1000 + 1000);
    await expectVerifiedModel(done.ModelArtifacts?.S3ModelArtifacts, name);
    const log = await readFile(`${serve.dataDir}/jobs/${name}/algo-1.log`, "utf8");
    expect(log).toContain("algo: SIGTERM ignored");
  });

  it("a stop as soon as the job is Training reaches trainguard (the platform waits for its handlers, which a PID 1 needs) and the job ends Stopped", async () => {
    const name = uniqueName("stop-at-once");
    await sm.send(new CreateTrainingJobCommand(jobRequest(name, image, "train")));
    await waitForJob(sm, name, (d) => d.SecondaryStatus === "Training");
    await sm.send(new StopTrainingJobCommand({ TrainingJobName: name }));
    expect(await waitForJob(sm, name)).toMatchObject({ TrainingJobStatus: "Stopped" });
    // trainguard itself recorded the stop: it was not the platform's SIGKILL that ended the job.
    const status = readStatus(`${serve.dataDir}/jobs/${name}/algo-1`);
    expect(status.TrainingJobStatus).toBe("Stopped");
  });

  it("MaxRuntimeInSeconds: SIGTERM at the limit, Stopped with secondary status MaxRuntimeExceeded, the model saved", async () => {
    const name = uniqueName("max-runtime");
    await sm.send(new CreateTrainingJobCommand(jobRequest(name, image, "train", { StoppingCondition: { MaxRuntimeInSeconds: 2 } })));
    const done = await waitForJob(sm, name);
    expect(done).toMatchObject({ TrainingJobStatus: "Stopped", SecondaryStatus: "MaxRuntimeExceeded" });
    expect(done.SecondaryStatusTransitions!.map((t) => t.Status)).toEqual(["Starting", "Training", "Stopping", "Uploading", "MaxRuntimeExceeded"]);
    const training = done.SecondaryStatusTransitions![1]!;
    expect(training.EndTime!.getTime() - training.StartTime!.getTime()).toBeGreaterThanOrEqual(1900);
    await expectVerifiedModel(done.ModelArtifacts?.S3ModelArtifacts, name);
  });

  it("a failing job: Failed, FailureReason is the first 1024 characters of its failure file", async () => {
    const name = uniqueName("fail");
    await sm.send(new CreateTrainingJobCommand(jobRequest(name, image, "fail")));
    const done = await waitForJob(sm, name);
    expect(done).toMatchObject({ TrainingJobStatus: "Failed", SecondaryStatus: "Failed" });
    expect(done.FailureReason).toMatch(/^algo: bad data at row 7\nx+$/);
    expect(done.FailureReason).toHaveLength(1024);
  });

  it("downloads S3 channels into input/data/<channel> (Downloading), and uploads model and output/data uncompressed with CompressionType NONE", async () => {
    const client = s3(serve);
    const prefix = uniqueName("data");
    for (const key of [`${prefix}/train/a.csv`, `${prefix}/train/sub/b.csv`, `${prefix}/test/c.csv`]) {
      await client.send(new PutObjectCommand({ Bucket: "sagemaker-local", Key: key, Body: Buffer.from(`rows of ${key}\n`) }));
    }
    const name = uniqueName("channels");
    const channel = (c: string) => ({ ChannelName: c, DataSource: { S3DataSource: { S3DataType: "S3Prefix" as const, S3Uri: `s3://sagemaker-local/${prefix}/${c}` } } });
    await sm.send(new CreateTrainingJobCommand(jobRequest(name, image, "channels", { InputDataConfig: [channel("train"), channel("test")], OutputDataConfig: { S3OutputPath: "s3://sagemaker-local/jobs", CompressionType: "NONE" } })));
    const done = await waitForJob(sm, name);
    expect(done).toMatchObject({ TrainingJobStatus: "Completed", SecondaryStatus: "Completed" });
    expect(done.SecondaryStatusTransitions!.map((t) => t.Status)).toEqual(["Starting", "Downloading", "Training", "Uploading", "Completed"]);
    const model = await download(serve, done.ModelArtifacts!.S3ModelArtifacts!);
    expect((await readFile(model)).subarray(0, 2).equals(Buffer.from([0x1f, 0x8b]))).toBe(false);
    expect(JSON.parse((await tarEntry(model, "channels.json")) ?? "null")).toEqual({ test: ["c.csv"], train: ["a.csv", "sub/b.csv"] });
  });

  it("tars output/data into output.tar.gz beside the model", async () => {
    const name = uniqueName("complete");
    await sm.send(new CreateTrainingJobCommand(jobRequest(name, image, "complete")));
    const done = await waitForJob(sm, name);
    expect(done.TrainingJobStatus).toBe("Completed");
    expect(await tarEntry(await download(serve, done.ModelArtifacts!.S3ModelArtifacts!), "model.txt")).toBe("trained\n");
    expect(JSON.parse((await tarEntry(await download(serve, `s3://sagemaker-local/jobs/${name}/output/output.tar.gz`), "metrics.json")) ?? "null")).toEqual({ loss: 0.1 });
    // Under root, trainguard was PID 1 of the job's own PID namespace: the algorithm's pid counts
    // from there (after trainguard's own threads), far below any pid of the busy host.
    const status = readStatus(`${serve.dataDir}/jobs/${name}/algo-1`);
    if (e2eSupport.ok) expect(status.pid).toBeLessThan(64);
    else expect(serve.stderr()).toContain("jobs run in their own process group, not a PID namespace");
  });

  it("10 jobs at once, all stopped at once: all Stopped, every artifact verifies", async () => {
    const names = Array.from({ length: 10 }, (_, i) => uniqueName(`many-${i}`));
    await Promise.all(names.map((n) => sm.send(new CreateTrainingJobCommand(jobRequest(n, image, "train", { HyperParameters: { step_ms: "400" } })))));
    await waitFor("a checkpoint in every job", async () => (await Promise.all(names.map((n) => checkpointsOf(serve, n)))).every((c) => c.length >= 1), { timeoutMs: 60_000, intervalMs: 200 });
    await Promise.all(names.map((n) => sm.send(new StopTrainingJobCommand({ TrainingJobName: n }))));
    const done = await Promise.all(names.map((n) => waitForJob(sm, n)));
    expect(done.map((d) => d.TrainingJobStatus)).toEqual(names.map(() => "Stopped"));
    for (const d of done) await expectVerifiedModel(d.ModelArtifacts?.S3ModelArtifacts, d.TrainingJobName!);
  }, 120_000);
});
