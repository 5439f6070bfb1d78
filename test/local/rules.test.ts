import { describe, expect, it } from "vitest";
import { ApiError } from "../../src/local/api-error.js";
import type { JobRecord } from "../../src/local/job-record.js";
import { listJobs } from "../../src/local/list-jobs.js";
import { CREATE_TRAINING_JOB, STOP_TRAINING_JOB } from "../../src/local/training-shapes.js";
import { readTrainingRequest } from "../../src/local/training-request.js";
import { validateInput } from "../../src/local/validation.js";

function refusal(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiError) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error("accepted");
}

describe("validateInput: the service's constraint messages", () => {
  it("accepts a name of 63 characters and the seed's pattern", () => {
    expect(() => validateInput(STOP_TRAINING_JOB, { TrainingJobName: `a${"-b".repeat(31)}` })).not.toThrow();
  });

  it("counts every broken constraint and names each member by its path", () => {
    const r = refusal(() =>
      validateInput(CREATE_TRAINING_JOB, {
        TrainingJobName: "-x",
        OutputDataConfig: {},
        InputDataConfig: [{ ChannelName: "train", DataSource: { S3DataSource: { S3DataType: "Nope", S3Uri: "s3://b/p" } } }],
      }),
    );
    expect(r.code).toBe("ValidationException");
    expect(r.message).toBe(
      "4 validation errors detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null; " +
        "Value '-x' at 'trainingJobName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9])*; " +
        "Value 'Nope' at 'inputDataConfig.1.member.dataSource.s3DataSource.s3DataType' failed to satisfy constraint: Member must satisfy enum value set: [ManifestFile, S3Prefix, AugmentedManifestFile, Converse]; " +
        "Value null at 'outputDataConfig.s3OutputPath' failed to satisfy constraint: Member must not be null",
    );
  });

  it("answers a value of the wrong JSON type with SerializationException", () => {
    expect(refusal(() => validateInput(CREATE_TRAINING_JOB, { HyperParameters: { lr: 0.1 } }))).toMatchObject({ code: "SerializationException", message: expect.stringContaining("NUMBER_VALUE can not be converted to a String") });
    expect(refusal(() => validateInput(CREATE_TRAINING_JOB, { InputDataConfig: {} }))).toMatchObject({ code: "SerializationException", message: expect.stringContaining("START_OBJECT") });
  });
});

describe("readTrainingRequest: what the process and docker backends run", () => {
  const base = { TrainingJobName: "j", RoleArn: "arn:aws:iam::123456789012:role/r", OutputDataConfig: { S3OutputPath: "s3://b/out" } };
  it("runs the image with `train`, ContainerArguments instead, or ContainerEntrypoint in its place", () => {
    expect(readTrainingRequest({ ...base, AlgorithmSpecification: { TrainingImage: "file:///opt/algo" } }).argv).toEqual(["/opt/algo", "train"]);
    expect(readTrainingRequest({ ...base, AlgorithmSpecification: { TrainingImage: "file:///opt/algo", ContainerArguments: ["fit", "--x"] } }).argv).toEqual(["/opt/algo", "fit", "--x"]);
    expect(readTrainingRequest({ ...base, AlgorithmSpecification: { TrainingImage: "file:///opt/algo", ContainerEntrypoint: ["/usr/bin/python3", "t.py"] } }).argv).toEqual(["/usr/bin/python3", "t.py"]);
  });

  it("maps a checkpoint LocalPath under /opt/ml into the job's ml-root and refuses one outside", () => {
    const ck = (LocalPath: string) => ({ ...base, AlgorithmSpecification: { TrainingImage: "file:///a" }, CheckpointConfig: { S3Uri: "s3://b/ck", LocalPath } });
    expect(readTrainingRequest(ck("/opt/ml/checkpoints/")).checkpoint).toEqual({ s3Uri: "s3://b/ck", localPath: "checkpoints" });
    expect(refusal(() => readTrainingRequest(ck("/opt/ml/../../etc")))).toMatchObject({ code: "ValidationException", message: expect.stringContaining("must be under /opt/ml") });
  });

  it("takes any other TrainingImage as a local Docker image: `train`, ContainerArguments instead, ContainerEntrypoint with the arguments after it", () => {
    const spec = (AlgorithmSpecification: Record<string, unknown>) => readTrainingRequest({ ...base, AlgorithmSpecification });
    expect(spec({ TrainingImage: "my-algo:1" })).toMatchObject({ argv: [], container: { image: "my-algo:1", args: ["train"] } });
    expect(spec({ TrainingImage: "123456789012.dkr.ecr.us-east-1.amazonaws.com/a@sha256:ab", ContainerArguments: ["fit"] }).container).toEqual({ image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/a@sha256:ab", args: ["fit"] });
    expect(spec({ TrainingImage: "a", ContainerEntrypoint: ["python3", "t.py"] }).container).toEqual({ image: "a", entrypoint: ["python3", "t.py"], args: [] });
    expect(spec({ TrainingImage: "a", ContainerEntrypoint: ["python3"], ContainerArguments: ["t.py"] }).container).toEqual({ image: "a", entrypoint: ["python3"], args: ["t.py"] });
  });

  it("refuses an image the docker CLI would read as an option, and a file: image that is not an absolute path", () => {
    expect(refusal(() => readTrainingRequest({ ...base, AlgorithmSpecification: { TrainingImage: "--privileged" } }))).toMatchObject({ code: "ValidationException", message: expect.stringContaining("nor a Docker image reference") });
    expect(refusal(() => readTrainingRequest({ ...base, AlgorithmSpecification: { TrainingImage: "file:algo" } }))).toMatchObject({ code: "ValidationException", message: expect.stringContaining("file:///absolute/path/to/executable") });
  });
});

describe("listJobs", () => {
  const job = (name: string, creationTime: number, status: JobRecord["status"]): JobRecord =>
    ({ name, arn: "", request: {}, status, secondaryStatus: "Training", transitions: [], creationTime, lastModifiedTime: creationTime }) as JobRecord;
  const jobs = [job("b", 2000, "InProgress"), job("a", 1000, "Completed"), job("c", 3000, "Stopped")];

  it("sorts newest first by default and pages with a token bound to its query", () => {
    const first = listJobs(jobs, { MaxResults: 2 });
    expect(first.page.map((j) => j.name)).toEqual(["c", "b"]);
    expect(listJobs(jobs, { MaxResults: 2, NextToken: first.nextToken! }).page.map((j) => j.name)).toEqual(["a"]);
    expect(refusal(() => listJobs(jobs, { MaxResults: 2, NextToken: first.nextToken!, StatusEquals: "Stopped" }))).toMatchObject({ code: "ValidationException" });
  });

  it("treats time bounds as exclusive, in epoch seconds", () => {
    expect(listJobs(jobs, { CreationTimeAfter: 1, CreationTimeBefore: 3 }).page.map((j) => j.name)).toEqual(["b"]);
  });
});
