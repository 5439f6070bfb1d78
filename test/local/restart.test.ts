import { existsSync } from "node:fs";
import { readFile, readlink, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { CreateTrainingJobCommand, ListTrainingJobsCommand, StopTrainingJobCommand } from "@aws-sdk/client-sagemaker";
import { afterAll, describe, expect, it } from "vitest";
import { verifyArchive } from "../../src/artifacts/index.js";
import { waitFor } from "../helpers/wait.js";
import { algorithmImage, checkpointsOf, describeJob, download, jobRequest, sageMaker, startServe, uniqueName, waitForJob, type Serve } from "./helpers.js";

const serves: Serve[] = [];
afterAll(async () => {
  for (const s of serves) await s.stop();
});

describe("a restart of serve while jobs run", () => {
  it("loses no job and leaves none stuck: running ones are followed again, ended ones finished from their status.json", async () => {
    const image = await algorithmImage();
    const first = await startServe({ stopTimeout: 5 });
    serves.push(first);
    const sm1 = sageMaker(first);
    const names = { running: uniqueName("restart-running"), completes: uniqueName("restart-completes"), stopping: uniqueName("restart-stopping") };
    await sm1.send(new CreateTrainingJobCommand(jobRequest(names.running, image, "train")));
    await sm1.send(new CreateTrainingJobCommand(jobRequest(names.completes, image, "train", { HyperParameters: { step_ms: "150", steps: "12" } })));
    await sm1.send(new CreateTrainingJobCommand(jobRequest(names.stopping, image, "deaf")));
    await waitFor("a checkpoint in every job", async () => (await Promise.all(Object.values(names).map((n) => checkpointsOf(first, n)))).every((c) => c.length >= 1), { timeoutMs: 30_000, intervalMs: 50 });
    // Stop one, then take serve down while it is Stopping: its SIGKILL deadline must survive too.
    await sm1.send(new StopTrainingJobCommand({ TrainingJobName: names.stopping }));
    sm1.destroy();
    expect(await first.stop()).toBe(0);

    // While serve is down, the jobs run on and one of them completes.
    await new Promise((r) => setTimeout(r, 2_500));
    const second = await startServe({ dataDir: first.dataDir, stopTimeout: 5 });
    serves.push(second);
    const sm2 = sageMaker(second);
    const listed = (await sm2.send(new ListTrainingJobsCommand({ MaxResults: 100 }))).TrainingJobSummaries!.map((s) => s.TrainingJobName);
    expect(listed.sort()).toEqual(Object.values(names).sort());
    expect((await describeJob(sm2, names.running)).TrainingJobStatus).toBe("InProgress");

    await sm2.send(new StopTrainingJobCommand({ TrainingJobName: names.running }));
    const running = await waitForJob(sm2, names.running);
    expect(running).toMatchObject({ TrainingJobStatus: "Stopped", SecondaryStatus: "Stopped" });
    expect((await verifyArchive(await download(second, running.ModelArtifacts!.S3ModelArtifacts!))).problems).toEqual([]);
    expect(await waitForJob(sm2, names.completes)).toMatchObject({ TrainingJobStatus: "Completed", SecondaryStatus: "Completed" });
    const stopping = await waitForJob(sm2, names.stopping);
    expect(stopping).toMatchObject({ TrainingJobStatus: "Stopped" });
    expect((await verifyArchive(await download(second, stopping.ModelArtifacts!.S3ModelArtifacts!))).problems).toEqual([]);
    sm2.destroy();
  }, 120_000);

  it("takes over a data dir of the single-host layout (one process, ml-root ml/): its job is finished as host algo-1", async () => {
    const image = await algorithmImage();
    const first = await startServe({ stopTimeout: 5 });
    serves.push(first);
    const sm1 = sageMaker(first);
    const name = uniqueName("restart-legacy");
    await sm1.send(new CreateTrainingJobCommand(jobRequest(name, image, "train", { HyperParameters: { step_ms: "100", steps: "10" } })));
    await waitFor("a checkpoint", async () => (await checkpointsOf(first, name)).length >= 1, { timeoutMs: 30_000, intervalMs: 50 });
    sm1.destroy();
    expect(await first.stop()).toBe(0);
    const dir = path.join(first.dataDir, "jobs", name);
    // Written as the single-host platform wrote it, once its process has ended (it writes to its ml-root until then).
    const record = JSON.parse(await readFile(path.join(dir, "job.json"), "utf8")) as { status: string; hosts?: { process: { pid: number } }[]; process?: unknown };
    expect(record.status).toBe("InProgress");
    const pid = record.hosts?.[0]?.process.pid;
    expect(pid).toEqual(expect.any(Number));
    await waitFor("the job's process to end", () => !existsSync(`/proc/${pid}`), { timeoutMs: 30_000, intervalMs: 50 });
    record.process = record.hosts?.[0]?.process;
    delete record.hosts;
    await writeFile(path.join(dir, "job.json"), JSON.stringify(record));
    await rename(path.join(dir, "algo-1"), path.join(dir, "ml"));

    const second = await startServe({ dataDir: first.dataDir, stopTimeout: 5 });
    serves.push(second);
    const sm2 = sageMaker(second);
    const done = await waitForJob(sm2, name);
    expect(done).toMatchObject({ TrainingJobStatus: "Completed" });
    expect(await readlink(path.join(dir, "algo-1"))).toBe("ml");
    sm2.destroy();
  }, 60_000);
});
