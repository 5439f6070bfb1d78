import { readFile } from "node:fs/promises";
import path from "node:path";
import { CreateTrainingJobCommand, StopTrainingJobCommand } from "@aws-sdk/client-sagemaker";
import { afterAll, describe, expect, it } from "vitest";
import { verifyArchive } from "../../src/artifacts/index.js";
import { waitFor } from "../helpers/wait.js";
import { describeWithDocker, dockerOk, gone, hostFile, jobRecord, PYTHON_IMAGE, SHELL_IMAGE } from "./docker-helpers.js";
import { checkpointsOf, describeJob, download, jobRequest, sageMaker, startServe, uniqueName, waitForJob, type Serve } from "./helpers.js";

const serves: Serve[] = [];
afterAll(async () => {
  for (const s of serves) await s.stop();
});

const dockerJob = (name: string, image: string, hps: Record<string, string>, entrypoint?: string[]) =>
  jobRequest(name, image, "train", {
    AlgorithmSpecification: { TrainingImage: image, TrainingInputMode: "File", ...(entrypoint ? { ContainerEntrypoint: entrypoint } : {}) },
    HyperParameters: hps,
  });

await describeWithDocker("trainguard local: docker containers across a restart of serve, and the stop timeout", [PYTHON_IMAGE, SHELL_IMAGE], () => {
  it("containers run on while serve is down; the next serve finds them by label, follows the running one to its stop and records the end of the one that completed meanwhile", async () => {
    const first = await startServe({ stopTimeout: 20 });
    serves.push(first);
    const sm1 = sageMaker(first);
    const running = uniqueName("docker-restart-running");
    const completes = uniqueName("docker-restart-completes");
    await sm1.send(new CreateTrainingJobCommand(dockerJob(running, PYTHON_IMAGE, { steps: "10000", step_seconds: "0.5" })));
    await sm1.send(new CreateTrainingJobCommand(dockerJob(completes, PYTHON_IMAGE, { steps: "6", step_seconds: "0.5" })));
    await waitFor("a checkpoint in each job", async () => (await checkpointsOf(first, running)).length >= 1 && (await checkpointsOf(first, completes)).length >= 1, { timeoutMs: 60_000, intervalMs: 100 });
    const ids = { running: (await jobRecord(first, running)).hosts![0]!.container!, completes: (await jobRecord(first, completes)).hosts![0]!.container! };
    sm1.destroy();
    expect(await first.stop()).toBe(0);

    // serve is down: one container goes on, the other completes on its own.
    expect(await dockerOk(["wait", ids.completes])).toBe("0");
    expect(await dockerOk(["inspect", "--format", "{{.State.Running}} {{index .Config.Labels \"trainguard.job\"}}", ids.running])).toBe(`true ${running}`);

    const second = await startServe({ dataDir: first.dataDir, stopTimeout: 20 });
    serves.push(second);
    const sm2 = sageMaker(second);
    const completed = await waitForJob(sm2, completes, undefined, 30_000);
    expect(completed).toMatchObject({ TrainingJobStatus: "Completed", SecondaryStatus: "Completed" });
    expect((await jobRecord(second, completes)).hosts![0]).toMatchObject({ container: ids.completes, exitCode: 0 });
    expect(JSON.parse(await hostFile(second, completes, "algo-1", "model/model.json"))).toMatchObject({ steps: 6 });

    expect(await describeJob(sm2, running)).toMatchObject({ TrainingJobStatus: "InProgress", SecondaryStatus: "Training" });
    await sm2.send(new StopTrainingJobCommand({ TrainingJobName: running }));
    const stopped = await waitForJob(sm2, running, undefined, 60_000);
    expect(stopped).toMatchObject({ TrainingJobStatus: "Stopped", SecondaryStatus: "Stopped" });
    expect((await jobRecord(second, running)).hosts![0]).toMatchObject({ container: ids.running, exitCode: 0, sigtermAt: expect.any(Number) });
    expect((await verifyArchive(await download(second, stopped.ModelArtifacts!.S3ModelArtifacts!))).problems).toEqual([]);
    // The log writer ran on through the restart: the training before it and the stop after it.
    const log = await readFile(path.join(second.dataDir, "jobs", running, "algo-1.log"), "utf8");
    expect(log).toMatch(/algo-1 stdout\| step=1 /);
    expect(log).toContain("SIGTERM received");
    await gone(running);
    await gone(completes);
    sm2.destroy();
  }, 150_000);

  describe.concurrent("an image that ignores SIGTERM, with --stop-timeout 5", () => {
    let serve: Serve;
    const ready = (async () => {
      serve = await startServe({ stopTimeout: 5 });
      serves.push(serve);
      return serve;
    })();

    it("trainguard in it SIGKILLs the algorithm within the stop timeout and keeps its newest complete checkpoint: Stopped, the model verifies", async () => {
      const s = await ready;
      const sm = sageMaker(s);
      const name = uniqueName("docker-deaf");
      await sm.send(new CreateTrainingJobCommand(dockerJob(name, SHELL_IMAGE, { steps: "100000", checkpoint_interval: "0.5" })));
      await waitFor("two checkpoints", async () => (await checkpointsOf(s, name)).length >= 2, { timeoutMs: 60_000, intervalMs: 100 });
      const stopAt = Date.now();
      await sm.send(new StopTrainingJobCommand({ TrainingJobName: name }));
      const done = await waitForJob(sm, name, undefined, 30_000);
      expect(done).toMatchObject({ TrainingJobStatus: "Stopped", SecondaryStatus: "Stopped" });
      // trainguard (TRAINGUARD_GRACE = the stop timeout) escalated before the platform's SIGKILL: its exit code mirrors the killed algorithm.
      expect(JSON.parse(await hostFile(s, name, "algo-1", "output/trainguard/status.json"))).toMatchObject({ TrainingJobStatus: "Stopped", escalated: true, signal: "SIGKILL", trainguardExitCode: 137 });
      expect((await jobRecord(s, name)).hosts![0]).toMatchObject({ exitCode: 137 });
      expect((await jobRecord(s, name)).trainingEndTime! - stopAt).toBeLessThan(5_000 + 1_000);
      const report = await verifyArchive(await download(s, done.ModelArtifacts!.S3ModelArtifacts!));
      expect(report.problems).toEqual([]);
      expect(report.manifest?.checkpoint).toMatch(/^step-\d+$/);
      await gone(name);
      sm.destroy();
    }, 120_000);

    it("a PID 1 that ignores it (ContainerEntrypoint: the shell script itself, no trainguard) is SIGKILLed by the platform at the stop timeout: Stopped", async () => {
      const s = await ready;
      const sm = sageMaker(s);
      const name = uniqueName("docker-deaf-pid1");
      // Without trainguard nothing turns hyperparameters into SM_HP_*: the script reads STEPS.
      await sm.send(new CreateTrainingJobCommand({ ...dockerJob(name, SHELL_IMAGE, {}, ["/bin/sh", "/opt/program/train.sh"]), Environment: { STEPS: "100000" } }));
      const record = await waitFor("the container", async () => (await jobRecord(s, name).catch(() => undefined))?.hosts?.[0]?.container, { timeoutMs: 30_000, intervalMs: 100 });
      // Past the first seconds in which a stop waits for trainguard to listen: this image never will.
      const startedAt = Date.parse(await dockerOk(["inspect", "--format", "{{.State.StartedAt}}", record]));
      await new Promise((r) => setTimeout(r, Math.max(0, startedAt + 5_500 - Date.now())));
      expect(await dockerOk(["inspect", "--format", "{{.Path}} {{json .Args}}", record])).toBe('/bin/sh ["/opt/program/train.sh"]');
      await sm.send(new StopTrainingJobCommand({ TrainingJobName: name }));
      const done = await waitForJob(sm, name, undefined, 30_000);
      expect(done).toMatchObject({ TrainingJobStatus: "Stopped", SecondaryStatus: "Stopped" });
      const job = await jobRecord(s, name);
      expect(job.hosts![0]).toMatchObject({ exitCode: 137, sigtermAt: expect.any(Number) });
      // SIGTERM at once, SIGKILL the stop timeout after the stop: as `docker stop -t 5`.
      const stopAt = job.stopRequestedAt!;
      expect(job.hosts![0]!.sigtermAt! - stopAt).toBeLessThan(2_000);
      // When `docker wait` answered: the container's end, a little after.
      const finishedAt = job.trainingEndTime!;
      expect(finishedAt - stopAt).toBeGreaterThanOrEqual(5_000 - 50);
      expect(finishedAt - stopAt).toBeLessThan(5_000 + 3_000);
      expect((await checkpointsOf(s, name)).length).toBeGreaterThan(0);
      await gone(name);
      sm.destroy();
    }, 120_000);
  });
});
