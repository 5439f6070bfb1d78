import { createHash, createHmac } from "node:crypto";
import { SignatureV4 } from "@smithy/signature-v4";
import {
  CreateTrainingJobCommand,
  ListTrainingJobsCommand,
  SageMakerClient,
  StopTrainingJobCommand,
  type ListTrainingJobsCommandInput,
} from "@aws-sdk/client-sagemaker";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { refusal, algorithmImage, describeJob, jobRequest, sageMaker, startServe, uniqueName, waitForJob, type Serve } from "./helpers.js";

let serve: Serve;
let sm: SageMakerClient;
let image: string;

beforeAll(async () => {
  serve = await startServe({ stopTimeout: 5 });
  sm = sageMaker(serve);
  image = await algorithmImage();
});
afterAll(async () => {
  sm?.destroy();
  await serve?.stop();
});

class NodeSha256 {
  private readonly h;
  constructor(secret?: string | Uint8Array) {
    this.h = secret === undefined ? createHash("sha256") : createHmac("sha256", secret);
  }
  update(d: string | Uint8Array) {
    this.h.update(d);
  }
  digest() {
    return Promise.resolve(new Uint8Array(this.h.digest()));
  }
}

/** A raw JSON 1.1 request, signed (or not) as a client would sign it, so the body can be anything. */
async function raw(body: string, opts: { target?: string; sign?: boolean; date?: Date } = {}): Promise<{ status: number; type: string | null; json: Record<string, unknown> }> {
  const url = new URL(serve.endpoint);
  const headers: Record<string, string> = { host: url.host, "content-type": "application/x-amz-json-1.1", "x-amz-target": opts.target ?? "SageMaker.ListTrainingJobs" };
  if (opts.sign !== false) {
    const signer = new SignatureV4({ credentials: { accessKeyId: serve.env.AWS_ACCESS_KEY_ID as string, secretAccessKey: serve.env.AWS_SECRET_ACCESS_KEY as string }, region: "us-east-1", service: "sagemaker", sha256: NodeSha256 as never });
    const signed = await signer.sign({ method: "POST", protocol: "http:", hostname: url.hostname, port: Number(url.port), path: "/", query: {}, headers, body }, opts.date ? { signingDate: opts.date } : {});
    Object.assign(headers, signed.headers);
  }
  const res = await fetch(serve.endpoint, { method: "POST", headers, body });
  const text = await res.text();
  return { status: res.status, type: res.headers.get("x-amzn-errortype"), json: text === "" ? {} : (JSON.parse(text) as Record<string, unknown>) };
}


describe("security: SigV4 with the keys serve printed", () => {
  it("refuses an unsigned request: MissingAuthenticationTokenException, HTTP 403", async () => {
    expect(await raw("{}", { sign: false })).toMatchObject({ status: 403, type: "MissingAuthenticationTokenException", json: { __type: "MissingAuthenticationTokenException" } });
  });

  it("refuses a wrong secret key: InvalidSignatureException, HTTP 403", async () => {
    const wrong = sageMaker(serve, { accessKeyId: serve.env.AWS_ACCESS_KEY_ID as string, secretAccessKey: "not-the-secret" });
    expect(await refusal(wrong.send(new ListTrainingJobsCommand({})))).toMatchObject({ name: "InvalidSignatureException", status: 403, message: expect.stringContaining("does not match") });
  });

  it("refuses an unknown access key: UnrecognizedClientException, HTTP 403", async () => {
    const stranger = sageMaker(serve, { accessKeyId: "AKIDSTRANGER", secretAccessKey: "x" });
    expect(await refusal(stranger.send(new ListTrainingJobsCommand({})))).toMatchObject({ name: "UnrecognizedClientException", status: 403 });
  });

  it("refuses a request signed more than 15 minutes ago", async () => {
    const stale = await raw("{}", { date: new Date(Date.now() - 16 * 60_000) });
    expect(stale).toMatchObject({ status: 403, type: "InvalidSignatureException" });
    expect(String(stale.json.Message)).toMatch(/^Signature expired: \d{8}T\d{6}Z is now earlier than/);
    expect(await raw("{}", { date: new Date(Date.now() - 10 * 60_000) })).toMatchObject({ status: 200 });
  });

  it("refuses a signed body that was changed on the way", async () => {
    const url = new URL(serve.endpoint);
    const signer = new SignatureV4({ credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" }, region: "us-east-1", service: "sagemaker", sha256: NodeSha256 as never });
    const headers = { host: url.host, "content-type": "application/x-amz-json-1.1", "x-amz-target": "SageMaker.ListTrainingJobs" };
    const signed = await signer.sign({ method: "POST", protocol: "http:", hostname: url.hostname, path: "/", query: {}, headers, body: "{}" });
    const res = await fetch(serve.endpoint, { method: "POST", headers: signed.headers, body: '{"MaxResults":1}' });
    expect(res.status).toBe(403);
    expect(res.headers.get("x-amzn-errortype")).toBe("InvalidSignatureException");
  });
});

describe("protocol errors: the answer the SDKs parse, and the server goes on", () => {
  it("malformed JSON: SerializationException", async () => {
    expect(await raw("{not json")).toMatchObject({ status: 400, type: "SerializationException" });
  });

  it("a member of the wrong type: SerializationException", async () => {
    expect(await raw('{"MaxResults":"ten"}')).toMatchObject({ status: 400, type: "SerializationException", json: { Message: expect.stringContaining("STRING_VALUE can not be converted to an Integer") } });
    expect(await raw('{"TrainingJobName":5}', { target: "SageMaker.StopTrainingJob" })).toMatchObject({ status: 400, type: "SerializationException" });
  });

  it("a body over 1 MiB: HTTP 413", async () => {
    expect(await raw(JSON.stringify({ NameContains: "x".repeat(1_100_000) }))).toMatchObject({ status: 413, type: "RequestEntityTooLargeException" });
  });

  it("an unknown operation: UnknownOperationException", async () => {
    expect(await raw("{}", { target: "SageMaker.DeleteEverything" })).toMatchObject({ status: 400, type: "UnknownOperationException" });
  });

  it("still serves after all of the above", async () => {
    expect((await sm.send(new ListTrainingJobsCommand({}))).$metadata.httpStatusCode).toBe(200);
  });
});

describe("CreateTrainingJob, DescribeTrainingJob, ListTrainingJobs", () => {
  const names = { running: uniqueName("list-running"), done: uniqueName("list-done"), failed: uniqueName("list-failed") };
  let createdBetween: Date;

  beforeAll(async () => {
    await sm.send(new CreateTrainingJobCommand(jobRequest(names.done, image, "complete")));
    await sm.send(new CreateTrainingJobCommand(jobRequest(names.failed, image, "fail")));
    await new Promise((r) => setTimeout(r, 1100));
    createdBetween = new Date();
    await new Promise((r) => setTimeout(r, 1100));
    await sm.send(new CreateTrainingJobCommand(jobRequest(names.running, image, "train")));
    await waitForJob(sm, names.done);
    await waitForJob(sm, names.failed);
  }, 60_000);

  afterAll(async () => {
    await sm.send(new StopTrainingJobCommand({ TrainingJobName: names.running })).catch(() => undefined);
    await waitForJob(sm, names.running).catch(() => undefined);
  });

  it("returns the job's ARN, and refuses the same name again (ResourceInUse)", async () => {
    const name = uniqueName("create-twice");
    const created = await sm.send(new CreateTrainingJobCommand(jobRequest(name, image, "complete")));
    expect(created.TrainingJobArn).toMatch(new RegExp(`^arn:aws:sagemaker:us-east-1:\\d{12}:training-job/${name}$`));
    expect(await refusal(sm.send(new CreateTrainingJobCommand(jobRequest(name, image, "complete"))))).toMatchObject({ name: "ResourceInUse", status: 400 });
    await waitForJob(sm, name);
  });

  it("refuses what it cannot run, saying why", async () => {
    // Read by the docker CLI as an option, were it passed on: neither a file:// path nor an image.
    const option = await refusal(sm.send(new CreateTrainingJobCommand(jobRequest(uniqueName("docker"), "--privileged", "train"))));
    expect(option).toMatchObject({ name: "ValidationException", status: 400, message: expect.stringContaining("is neither file:///absolute/path/to/executable nor a Docker image reference") });
    const badRole = await refusal(sm.send(new CreateTrainingJobCommand({ ...jobRequest(uniqueName("role"), image, "train"), RoleArn: "not-an-arn-at-all-really" })));
    expect(badRole.message).toMatch(/^1 validation error detected: Value 'not-an-arn-at-all-really' at 'roleArn' failed to satisfy constraint: Member must satisfy regular expression pattern/);
    const twoErrors = await refusal(sm.send(new CreateTrainingJobCommand({ ...jobRequest(uniqueName("two"), image, "train"), OutputDataConfig: { S3OutputPath: "s3://sagemaker-local/x", CompressionType: "ZIP" as never }, StoppingCondition: { MaxRuntimeInSeconds: 0 } })));
    expect(twoErrors.message).toMatch(/^2 validation errors detected: .*at 'outputDataConfig.compressionType' failed to satisfy constraint: Member must satisfy enum value set: \[GZIP, NONE\]; .*at 'stoppingCondition.maxRuntimeInSeconds'/);
  });

  it("describes a running job, its request echoed", async () => {
    const d = await waitForJob(sm, names.running, (x) => x.SecondaryStatus === "Training");
    expect(d).toMatchObject({ TrainingJobName: names.running, TrainingJobStatus: "InProgress", RoleArn: expect.stringContaining("role/"), HyperParameters: { step_ms: "150" }, ResourceConfig: { InstanceCount: 1 } });
    expect(d.CreationTime).toBeInstanceOf(Date);
    expect(d.TrainingStartTime).toBeInstanceOf(Date);
    expect(d.TrainingEndTime).toBeUndefined();
  });

  it("answers Describe of an unknown job as the service does: ValidationException 'Requested resource not found.'", async () => {
    expect(await refusal(describeJob(sm, "no-such-job"))).toEqual({ name: "ValidationException", status: 400, message: "Requested resource not found." });
  });

  const list = async (input: ListTrainingJobsCommandInput) => (await sm.send(new ListTrainingJobsCommand(input))).TrainingJobSummaries?.map((s) => s.TrainingJobName as string) ?? [];
  const ours = (listed: string[]) => listed.filter((n) => Object.values(names).includes(n));

  it("lists by status, name, creation time, sorted and paged", async () => {
    expect(ours(await list({ StatusEquals: "Completed", MaxResults: 100 }))).toEqual([names.done]);
    expect(ours(await list({ StatusEquals: "Failed", MaxResults: 100 }))).toEqual([names.failed]);
    expect(await list({ NameContains: names.running.slice(0, -2).toUpperCase() + names.running.slice(-2) })).toEqual([names.running]);
    expect(ours(await list({ CreationTimeAfter: createdBetween, MaxResults: 100 }))).toEqual([names.running]);
    expect(ours(await list({ CreationTimeBefore: createdBetween, MaxResults: 100 })).sort()).toEqual([names.done, names.failed].sort());
    expect(ours(await list({ SortBy: "Name", SortOrder: "Ascending", MaxResults: 100 }))).toEqual(Object.values(names).sort());
    expect(ours(await list({ SortBy: "CreationTime", SortOrder: "Descending", MaxResults: 100 }))[0]).toBe(names.running);
    const statuses = (await sm.send(new ListTrainingJobsCommand({ SortBy: "Status", SortOrder: "Ascending", MaxResults: 100 }))).TrainingJobSummaries!.map((s) => s.TrainingJobStatus!);
    expect(statuses).toEqual([...statuses].sort());

    const paged: string[] = [];
    let token: string | undefined;
    do {
      const page = await sm.send(new ListTrainingJobsCommand({ SortBy: "Name", SortOrder: "Ascending", MaxResults: 1, ...(token ? { NextToken: token } : {}) }));
      expect(page.TrainingJobSummaries!.length).toBeLessThanOrEqual(1);
      paged.push(...page.TrainingJobSummaries!.map((s) => s.TrainingJobName!));
      token = page.NextToken;
    } while (token !== undefined);
    expect(paged).toEqual(await list({ SortBy: "Name", SortOrder: "Ascending", MaxResults: 100 }));

    expect(await refusal(sm.send(new ListTrainingJobsCommand({ MaxResults: 101 })))).toMatchObject({ name: "ValidationException", message: expect.stringContaining("at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 100") });
    expect(await refusal(sm.send(new ListTrainingJobsCommand({ NextToken: "garbage" })))).toMatchObject({ name: "ValidationException" });
  });
});
