import { readFile } from "node:fs/promises";
import { CreateTrainingJobCommand, StopTrainingJobCommand, type SageMakerClient } from "@aws-sdk/client-sagemaker";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyArchive } from "../../src/artifacts/index.js";
import type { JobRecord } from "../../src/local/job-record.js";
import { waitFor } from "../helpers/wait.js";
import { algorithmImage, checkpointsOf, download, jobRequest, sageMaker, startServe, tarEntry, uniqueName, waitForJob, type Serve } from "./helpers.js";

let serve: Serve;
let sm: SageMakerClient;
let image: string;

beforeAll(async () => {
  serve = await startServe({ stopTimeout: 10 });
  sm = sageMaker(serve);
  image = await algorithmImage();
});
afterAll(async () => {
  sm?.destroy();
  await serve?.stop();
});

const twoHosts = (name: string, mode: string, hps: Record<string, string> = {}) =>
  jobRequest(name, image, mode, { ResourceConfig: { InstanceType: "ml.m5.large", InstanceCount: 2, VolumeSizeInGB: 1 }, HyperParameters: { step_ms: "150", ...hps } });

const record = async (name: string): Promise<JobRecord> => JSON.parse(await readFile(`${serve.dataDir}/jobs/${name}/job.json`, "utf8")) as JobRecord;
const hostFile = (name: string, host: string, rel: string) => readFile(`${serve.dataDir}/jobs/${name}/${host}/${rel}`, "utf8");

describe("jobs of two hosts on the process backend", () => {
  it("each host has its own ml-root naming itself; a stop reaches both at once, and the merged model (the leader's checkpoint) verifies", async () => {
    const name = uniqueName("two-stop");
    await sm.send(new CreateTrainingJobCommand(twoHosts(name, "train")));
    await waitFor("a checkpoint on each host", async () => (await checkpointsOf(serve, name, "algo-1")).length >= 1 && (await checkpointsOf(serve, name, "algo-2")).length >= 1, { timeoutMs: 30_000, intervalMs: 50 });
    for (const host of ["algo-1", "algo-2"]) {
      expect(JSON.parse(await hostFile(name, host, "input/config/resourceconfig.json"))).toMatchObject({ current_host: host, hosts: ["algo-1", "algo-2"], network_interface_name: "lo" });
    }
    await sm.send(new StopTrainingJobCommand({ TrainingJobName: name }));
    const done = await waitForJob(sm, name);
    expect(done).toMatchObject({ TrainingJobStatus: "Stopped", SecondaryStatus: "Stopped" });

    const sent = (await record(name)).hosts!.map((h) => h.sigtermAt);
    expect(sent.every((t) => typeof t === "number")).toBe(true);
    const spread = Math.max(...(sent as number[])) - Math.min(...(sent as number[]));
    console.log(`SIGTERM spread between the two hosts: ${spread.toFixed(3)} ms`);
    // Each host's trainguard recorded the stop itself: the platform's SIGTERM reached it.
    for (const host of ["algo-1", "algo-2"]) expect(JSON.parse(await hostFile(name, host, "output/trainguard/status.json"))).toMatchObject({ TrainingJobStatus: "Stopped" });

    const file = await download(serve, done.ModelArtifacts!.S3ModelArtifacts!);
    const report = await verifyArchive(file);
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    // Only the leader's checkpoint: algo-2's (placed in its own model dir) is left out of the merge.
    expect(JSON.parse((await tarEntry(file, "state.json")) as string)).toEqual(JSON.parse(await hostFile(name, "algo-1", "model/state.json")));
  });

  it("merges the hosts' model dirs into one model.tar.gz: each host's own files, and a file both wrote the same once", async () => {
    const name = uniqueName("two-merge");
    await sm.send(new CreateTrainingJobCommand(twoHosts(name, "hosts")));
    const done = await waitForJob(sm, name);
    expect(done).toMatchObject({ TrainingJobStatus: "Completed" });
    const file = await download(serve, done.ModelArtifacts!.S3ModelArtifacts!);
    expect(await tarEntry(file, "model.txt")).toBe("trained\n");
    expect(await tarEntry(file, "algo-1.txt")).toBe("algo-1\n");
    expect(await tarEntry(file, "algo-2.txt")).toBe("algo-2\n");
  });

  it("fails a job whose hosts wrote the same file with different contents, naming the file and the hosts", async () => {
    const name = uniqueName("two-clash");
    await sm.send(new CreateTrainingJobCommand(twoHosts(name, "hosts", { clash: "1" })));
    const done = await waitForJob(sm, name);
    expect(done).toMatchObject({ TrainingJobStatus: "Failed", SecondaryStatus: "Failed" });
    expect(done.FailureReason).toContain("model.txt was written by algo-1 and algo-2 with different contents");
  });

  it("fails the job when one host fails, naming it, and stops the other host", async () => {
    const name = uniqueName("two-fail");
    await sm.send(new CreateTrainingJobCommand(twoHosts(name, "hosts", { fail_host: "algo-2", train_host: "algo-1" })));
    const done = await waitForJob(sm, name);
    expect(done).toMatchObject({ TrainingJobStatus: "Failed", SecondaryStatus: "Failed" });
    expect(done.FailureReason).toMatch(/^algo-2: algo: bad data at row 7/);
    const job = await record(name);
    expect(job.failedHost).toBe("algo-2");
    expect(job.hosts?.find((h) => h.name === "algo-1")?.sigtermAt).toEqual(expect.any(Number));
    expect(JSON.parse(await hostFile(name, "algo-1", "output/trainguard/status.json"))).toMatchObject({ TrainingJobStatus: "Stopped" });
  });
});
