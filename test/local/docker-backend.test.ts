import { readFile } from "node:fs/promises";
import path from "node:path";
import { CreateTrainingJobCommand, StopTrainingJobCommand, type SageMakerClient } from "@aws-sdk/client-sagemaker";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyArchive } from "../../src/artifacts/index.js";
import { waitFor } from "../helpers/wait.js";
import { describeWithDocker, dockerOk, gone, hostFile, jobRecord, leftovers, NODE_IMAGE, PYTHON_IMAGE, PYTORCH_IMAGE } from "./docker-helpers.js";
import { checkpointsOf, describeJob, download, jobRequest, sageMaker, startServe, uniqueName, waitForJob, type Serve } from "./helpers.js";

let serve: Serve;
let sm: SageMakerClient;

const PYTHON_BULLSEYE_IMAGE = "trainguard-example-python:bullseye";
/** Each example image and hyperparameters under which it checkpoints quickly and trains until stopped. */
const EXAMPLES: readonly { image: string; hps: Record<string, string>; said: string }[] = [
  { image: PYTHON_IMAGE, hps: { steps: "10000", step_seconds: "0.5" }, said: "SIGTERM received" },
  { image: PYTHON_BULLSEYE_IMAGE, hps: { steps: "10000", step_seconds: "0.5" }, said: "SIGTERM received" },
  { image: NODE_IMAGE, hps: { samples: "20000", epochs: "1000" }, said: "stop:" },
  { image: PYTORCH_IMAGE, hps: { steps: "100000", step_seconds: "0.05" }, said: "SIGTERM received" },
];

const dockerJob = (name: string, image: string, hps: Record<string, string>, instances = 1) =>
  jobRequest(name, image, "train", {
    AlgorithmSpecification: { TrainingImage: image, TrainingInputMode: "File" },
    HyperParameters: hps,
    ResourceConfig: { InstanceType: "ml.m5.large", InstanceCount: instances, VolumeSizeInGB: 1 },
  });

await describeWithDocker("trainguard local: the docker backend", [...EXAMPLES.map((e) => e.image)], () => {
  beforeAll(async () => {
    serve = await startServe({ stopTimeout: 30 });
    sm = sageMaker(serve);
  });
  afterAll(async () => {
    sm?.destroy();
    await serve?.stop();
  });

  describe.concurrent("each example image: create, describe, stop through the SageMaker client", () => {
    for (const example of EXAMPLES) {
      it(`${example.image}: runs as algo-1 with its ml-root at /opt/ml, Stopped on StopTrainingJob, its model verifies, container and network removed`, async () => {
        const name = uniqueName("docker-example");
        await sm.send(new CreateTrainingJobCommand(dockerJob(name, example.image, example.hps)));
        await waitFor("a complete checkpoint", async () => (await checkpointsOf(serve, name)).length >= 1, { timeoutMs: 60_000, intervalMs: 100 });
        expect(await describeJob(sm, name)).toMatchObject({ TrainingJobStatus: "InProgress", SecondaryStatus: "Training", AlgorithmSpecification: { TrainingImage: example.image } });
        const container = (await jobRecord(serve, name)).hosts?.[0]?.container as string;
        // `docker run <image> train`, the host's name as the container's, the job's name in its environment.
        expect(await dockerOk(["inspect", "--format", "{{json .Config.Cmd}} {{.Config.Hostname}} {{index .Config.Labels \"trainguard.host\"}}", container])).toBe('["train"] algo-1 algo-1');
        expect(await dockerOk(["exec", container, "printenv", "TRAINING_JOB_NAME"])).toBe(name);

        await sm.send(new StopTrainingJobCommand({ TrainingJobName: name }));
        const done = await waitForJob(sm, name, undefined, 90_000);
        expect(done).toMatchObject({ TrainingJobStatus: "Stopped", SecondaryStatus: "Stopped" });
        expect(done.SecondaryStatusTransitions?.map((t) => t.Status)).toEqual(["Starting", "Training", "Stopping", "Uploading", "Stopped"]);
        const report = await verifyArchive(await download(serve, done.ModelArtifacts!.S3ModelArtifacts!));
        expect(report.problems).toEqual([]);
        expect(report.manifest).toMatchObject({ job: name, layout: "files" });
        expect(JSON.parse(await hostFile(serve, name, "algo-1", "output/trainguard/status.json"))).toMatchObject({ TrainingJobName: name, TrainingJobStatus: "Stopped" });
        // The container's output, in the host log format, as it arrived.
        const log = await readFile(path.join(serve.dataDir, "jobs", name, "algo-1.log"), "utf8");
        expect(log).toMatch(/^\S+Z algo-1 std(out|err)\| /m);
        expect(log).toContain(example.said);
        await gone(name);
      }, 150_000);
    }
  });

  it("an image the engine does not have: Failed, the FailureReason names it, nothing pulled", async () => {
    const name = uniqueName("docker-missing");
    const image = "trainguard-example-no-such-image:local";
    await sm.send(new CreateTrainingJobCommand(dockerJob(name, image, {})));
    const done = await waitForJob(sm, name, undefined, 20_000);
    expect(done).toMatchObject({ TrainingJobStatus: "Failed", SecondaryStatus: "Failed" });
    expect(done.FailureReason).toContain(`the training image ${image} is not in the local Docker engine`);
    expect(await leftovers(name)).toEqual({ containers: [], networks: [] });
  });

  it("two hosts: each its own ml-root and resourceconfig.json, the names resolve between the containers, SIGTERM to both (spread printed), the merged model verifies", async () => {
    const name = uniqueName("docker-two");
    await sm.send(new CreateTrainingJobCommand(dockerJob(name, PYTHON_IMAGE, { steps: "10000", step_seconds: "0.5" }, 2)));
    await waitFor("a checkpoint on each host", async () => (await checkpointsOf(serve, name, "algo-1")).length >= 1 && (await checkpointsOf(serve, name, "algo-2")).length >= 1, { timeoutMs: 60_000, intervalMs: 100 });
    const hosts = (await jobRecord(serve, name)).hosts!;
    expect(hosts.map((h) => h.name)).toEqual(["algo-1", "algo-2"]);
    for (const [i, h] of hosts.entries()) {
      const other = hosts[1 - i]!.name;
      expect(JSON.parse(await hostFile(serve, name, h.name, "input/config/resourceconfig.json"))).toMatchObject({ current_host: h.name, hosts: ["algo-1", "algo-2"], network_interface_name: "eth0" });
      expect(await dockerOk(["exec", h.container!, "hostname"])).toBe(h.name);
      // The other host's name resolves, on the job's network, to the other container's address.
      const address = await dockerOk(["inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", hosts[1 - i]!.container!]);
      expect((await dockerOk(["exec", h.container!, "getent", "hosts", other])).split(/\s+/)[0]).toBe(address);
    }

    await sm.send(new StopTrainingJobCommand({ TrainingJobName: name }));
    const done = await waitForJob(sm, name, undefined, 90_000);
    expect(done).toMatchObject({ TrainingJobStatus: "Stopped", SecondaryStatus: "Stopped" });
    const sent = (await jobRecord(serve, name)).hosts!.map((h) => h.sigtermAt);
    expect(sent.every((t) => typeof t === "number")).toBe(true);
    // Received: each host's trainguard recorded when the SIGTERM reached it (ms, the host's clock).
    const received = await Promise.all(["algo-1", "algo-2"].map(async (h) => Date.parse((JSON.parse(await hostFile(serve, name, h, "output/trainguard/status.json")) as { stopRequestedAt: string }).stopRequestedAt)));
    const spread = (t: number[]) => Math.max(...t) - Math.min(...t);
    console.log(`docker backend, 2 hosts: SIGTERM spread ${spread(sent as number[]).toFixed(1)} ms as the engine confirmed it, ${spread(received)} ms as trainguard received it`);
    const report = await verifyArchive(await download(serve, done.ModelArtifacts!.S3ModelArtifacts!));
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    await gone(name);
  }, 150_000);

  it("two hosts, one failing on its own (exit 3, no trainguard): Failed naming algo-2 and its exit code, algo-1 stopped", async () => {
    const name = uniqueName("docker-fail");
    // algo-2 fails at once; algo-1 runs trainguard (exec: it stays PID 1) until the platform stops it.
    const script = 'if [ "$(hostname)" = algo-2 ]; then echo "algo-2 gives up" >&2; exit 3; fi; exec /opt/trainguard/bin/trainguard train';
    const request = dockerJob(name, PYTHON_IMAGE, { steps: "10000", step_seconds: "0.5" }, 2);
    await sm.send(new CreateTrainingJobCommand({ ...request, AlgorithmSpecification: { ...request.AlgorithmSpecification!, ContainerEntrypoint: ["/bin/sh", "-c", script] } }));
    const done = await waitForJob(sm, name, undefined, 90_000);
    expect(done).toMatchObject({ TrainingJobStatus: "Failed", SecondaryStatus: "Failed" });
    expect(done.FailureReason).toBe("algo-2: AlgorithmError: the job's container exited with code 3 before trainguard recorded any status");
    const job = await jobRecord(serve, name);
    expect(job).toMatchObject({ failedHost: "algo-2" });
    expect(job.hosts!.map((h) => h.exitCode)).toEqual([0, 3]);
    expect(job.hosts![0]!.sigtermAt).toEqual(expect.any(Number));
    expect(JSON.parse(await hostFile(serve, name, "algo-1", "output/trainguard/status.json"))).toMatchObject({ TrainingJobStatus: "Stopped" });
    expect(await readFile(path.join(serve.dataDir, "jobs", name, "algo-2.log"), "utf8")).toMatch(/algo-2 stderr\| algo-2 gives up\n/);
    await gone(name);
  }, 120_000);
});
