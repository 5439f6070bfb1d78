import { execFile } from "node:child_process";
import { tmpdir } from "node:os";
import { promisify } from "node:util";
import { CreateTrainingJobCommand, StopTrainingJobCommand, type SageMakerClient } from "@aws-sdk/client-sagemaker";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyArchive } from "../../src/artifacts/index.js";
import { refusal, download, algorithmImage, checkpointsOf, describeJob, jobRequest, sageMaker, startServe, uniqueName, waitForJob, type Serve } from "./helpers.js";
import { waitFor } from "../helpers/wait.js";

const run = promisify(execFile);
const AWS = "/usr/bin/aws";

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

/** Debian's AWS CLI v2, by full path, never through a shell; it knows no AWS_ENDPOINT_URL_* variables. */
async function aws(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { PATH: "/usr/bin:/bin", HOME: tmpdir(), AWS_ACCESS_KEY_ID: serve.env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: serve.env.AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION: serve.env.AWS_REGION, AWS_PAGER: "" };
  try {
    const { stdout, stderr } = await run(AWS, ["--endpoint-url", serve.endpoint, "--output", "json", ...args], { env });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}


describe("StopTrainingJob, every case of its API reference", () => {
  it("stops a running job: HTTP 200 with an empty body, Stopping on return, Stopped after the upload, the checkpoint in S3ModelArtifacts", async () => {
    const name = uniqueName("stop-ok");
    await sm.send(new CreateTrainingJobCommand(jobRequest(name, image, "train")));
    await waitFor("two checkpoints", async () => (await checkpointsOf(serve, name)).length >= 2, { timeoutMs: 30_000, intervalMs: 50 });
    const running = await describeJob(sm, name);
    expect(running).toMatchObject({ TrainingJobStatus: "InProgress", SecondaryStatus: "Training" });

    const out = await sm.send(new StopTrainingJobCommand({ TrainingJobName: name }));
    expect(out.$metadata.httpStatusCode).toBe(200);
    expect((await describeJob(sm, name)).TrainingJobStatus).toMatch(/^(Stopping|Stopped)$/);
    // Stopping a job that is stopping is accepted.
    const again = await aws("sagemaker", "stop-training-job", "--training-job-name", name);
    expect(again.code === 0 || /in status Stopped/.test(again.stderr)).toBe(true);

    const done = await waitForJob(sm, name);
    expect(done).toMatchObject({ TrainingJobStatus: "Stopped", SecondaryStatus: "Stopped" });
    expect(done.SecondaryStatusTransitions?.map((t) => t.Status)).toEqual(["Starting", "Training", "Stopping", "Uploading", "Stopped"]);
    expect(done.SecondaryStatusTransitions?.every((t) => t.StartTime instanceof Date && t.EndTime instanceof Date)).toBe(true);
    expect(done.ModelArtifacts?.S3ModelArtifacts).toBe(`s3://sagemaker-local/jobs/${name}/output/model.tar.gz`);
    expect(done.TrainingEndTime!.getTime()).toBeGreaterThanOrEqual(done.TrainingStartTime!.getTime());

    const file = await download(serve, done.ModelArtifacts!.S3ModelArtifacts!);
    const report = await verifyArchive(file);
    expect(report.problems).toEqual([]);
    expect(report.manifest).toMatchObject({ job: name, reason: expect.any(String), layout: "files" });
    expect(report.manifest?.files.map((f) => f.path).sort()).toEqual([".trainguard-commit", "state.json", "weights.bin"]);

    // Stopping a job that has ended is a ValidationException naming its status, through both clients.
    expect(await refusal(sm.send(new StopTrainingJobCommand({ TrainingJobName: name })))).toMatchObject({ name: "ValidationException", status: 400, message: expect.stringContaining("Stopped") });
    const cli = await aws("sagemaker", "stop-training-job", "--training-job-name", name);
    expect(cli.code).not.toBe(0);
    expect(cli.stderr).toContain("(ValidationException) when calling the StopTrainingJob operation");
    expect(cli.stderr).toContain("Stopped");
  });

  it("succeeds through the AWS CLI too (exit 0, no output)", async () => {
    const name = uniqueName("stop-cli");
    await sm.send(new CreateTrainingJobCommand(jobRequest(name, image, "train")));
    await waitFor("a checkpoint", async () => (await checkpointsOf(serve, name)).length >= 1, { timeoutMs: 30_000, intervalMs: 50 });
    const cli = await aws("sagemaker", "stop-training-job", "--training-job-name", name);
    expect(cli).toMatchObject({ code: 0, stdout: "" });
    expect(await waitForJob(sm, name)).toMatchObject({ TrainingJobStatus: "Stopped" });
  });

  it("answers ResourceNotFound, HTTP 400, for a job that does not exist", async () => {
    expect(await refusal(sm.send(new StopTrainingJobCommand({ TrainingJobName: "no-such-job" })))).toMatchObject({ name: "ResourceNotFound", status: 400 });
    const cli = await aws("sagemaker", "stop-training-job", "--training-job-name", "no-such-job");
    expect(cli.code).toBe(254);
    expect(cli.stderr).toContain("An error occurred (ResourceNotFound) when calling the StopTrainingJob operation");
  });

  it("refuses a name of 64 characters with the service's own message", async () => {
    const long = "a".repeat(64);
    const expected = `1 validation error detected: Value '${long}' at 'trainingJobName' failed to satisfy constraint: Member must have length less than or equal to 63`;
    expect(await refusal(sm.send(new StopTrainingJobCommand({ TrainingJobName: long })))).toEqual({ name: "ValidationException", status: 400, message: expected });
    const cli = await aws("sagemaker", "stop-training-job", "--training-job-name", long);
    expect(cli.stderr).toContain(`(ValidationException) when calling the StopTrainingJob operation: ${expected}`);
  });

  it("refuses a name that breaks the pattern", async () => {
    const expected = "1 validation error detected: Value 'bad_name' at 'trainingJobName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9])*";
    expect(await refusal(sm.send(new StopTrainingJobCommand({ TrainingJobName: "bad_name" })))).toEqual({ name: "ValidationException", status: 400, message: expected });
    const cli = await aws("sagemaker", "stop-training-job", "--training-job-name", "bad_name");
    expect(cli.stderr).toContain(`(ValidationException) when calling the StopTrainingJob operation: ${expected}`);
  });

  it("refuses a request without TrainingJobName (the server's check; the CLI refuses it before sending)", async () => {
    expect(await refusal(sm.send(new StopTrainingJobCommand({} as never)))).toEqual({
      name: "ValidationException",
      status: 400,
      message: "1 validation error detected: Value null at 'trainingJobName' failed to satisfy constraint: Member must not be null",
    });
    const cli = await aws("sagemaker", "stop-training-job");
    expect(cli.code).toBe(252);
    expect(cli.stderr).toContain("the following arguments are required: --training-job-name");
  });
});
