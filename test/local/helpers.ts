import { spawn, type ChildProcess } from "node:child_process";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { afterAll } from "vitest";
import { tmpdir } from "node:os";
import path from "node:path";
import { DescribeTrainingJobCommand, SageMakerClient, type CreateTrainingJobCommandInput, type DescribeTrainingJobCommandOutput } from "@aws-sdk/client-sagemaker";
import type { S3Client } from "@aws-sdk/client-s3";
import { createS3Client } from "../../src/storage/index.js";
import { ENTRY } from "../helpers/job.js";
import { waitFor } from "../helpers/wait.js";

/** Every temporary directory a test file made here, removed when the file is done. */
const made: string[] = [];
export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}
afterAll(async () => {
  for (const dir of made.splice(0)) await rm(dir, { recursive: true, force: true });
});

export const ROLE = "arn:aws:iam::123456789012:role/trainguard-local-tests";

export interface Serve {
  readonly endpoint: string;
  readonly s3Endpoint: string;
  /** The variables of the printed export line. */
  readonly env: Readonly<Record<string, string>>;
  readonly dataDir: string;
  /** The console's URL serve printed, its token in the fragment. */
  readonly consoleUrl: string;
  readonly child: ChildProcess;
  stderr(): string;
  /** SIGTERM to serve, as a user's Ctrl-C; resolves when it exited. */
  stop(): Promise<number | null>;
}

/** `trainguard local serve` as a user starts it, its client environment read from the export line. */
export async function startServe(opts: { dataDir?: string; stopTimeout?: number; extra?: string[] } = {}): Promise<Serve> {
  const dataDir = opts.dataDir ?? (await tempDir("tg-local-"));
  const args = [ENTRY, "local", "serve", "--port", "0", "--data", dataDir, "--stop-timeout", String(opts.stopTimeout ?? 10), ...(opts.extra ?? [])];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, TRAINGUARD_LOG_LEVEL: "info" } });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const line = await waitFor("the export line of local serve", () => (child.exitCode !== null ? Promise.reject(new Error(`serve exited ${child.exitCode}: ${stderr}`)) : /^export .*$/m.exec(stdout)?.[0]), { timeoutMs: 20_000, intervalMs: 20 });
  const consoleUrl = await waitFor("the console line of local serve", () => /^# console: (\S+)$/m.exec(stdout)?.[1], { timeoutMs: 5_000, intervalMs: 20 });
  const env = Object.fromEntries(line.replace(/^export /, "").split(" ").map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
  return {
    endpoint: env.AWS_ENDPOINT_URL_SAGEMAKER as string,
    s3Endpoint: env.AWS_ENDPOINT_URL_S3 as string,
    env,
    dataDir,
    consoleUrl,
    child,
    stderr: () => stderr,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        child.once("exit", (code) => resolve(code));
        child.kill("SIGTERM");
      }),
  };
}

export function sageMaker(serve: Serve, credentials = { accessKeyId: serve.env.AWS_ACCESS_KEY_ID as string, secretAccessKey: serve.env.AWS_SECRET_ACCESS_KEY as string }): SageMakerClient {
  return new SageMakerClient({ endpoint: serve.endpoint, region: serve.env.AWS_REGION as string, credentials, maxAttempts: 1 });
}

export function s3(serve: Serve): S3Client {
  return createS3Client({ endpoint: serve.s3Endpoint, env: serve.env });
}

/** The fixture algorithm as a file:// TrainingImage: an executable script whose interpreter is this Node. */
export async function algorithmImage(): Promise<string> {
  const dir = await tempDir("tg-local-image-");
  const file = path.join(dir, "algo.mjs");
  const source = await readFile(new URL("./fixtures/algo.mjs", import.meta.url), "utf8");
  await writeFile(file, `#!${process.execPath}\n${source}`);
  await chmod(file, 0o755);
  return `file://${file}`;
}

let counter = 0;
export const uniqueName = (prefix: string): string => `${prefix}-${process.pid}-${Date.now().toString(36)}-${(counter += 1)}`;

/** A CreateTrainingJob request for the fixture in `mode`, with what Debian's AWS CLI insists on too. */
export function jobRequest(name: string, image: string, mode: string, extra: Partial<CreateTrainingJobCommandInput> = {}): CreateTrainingJobCommandInput {
  return {
    TrainingJobName: name,
    RoleArn: ROLE,
    AlgorithmSpecification: { TrainingImage: image, TrainingInputMode: "File", ContainerArguments: [mode] },
    HyperParameters: { step_ms: "150" },
    OutputDataConfig: { S3OutputPath: "s3://sagemaker-local/jobs" },
    ResourceConfig: { InstanceType: "ml.m5.large", InstanceCount: 1, VolumeSizeInGB: 1 },
    StoppingCondition: { MaxRuntimeInSeconds: 3600 },
    ...extra,
  };
}

export async function describeJob(sm: SageMakerClient, name: string): Promise<DescribeTrainingJobCommandOutput> {
  return sm.send(new DescribeTrainingJobCommand({ TrainingJobName: name }));
}

/** Polls Describe until the job has ended (or `until` holds); every Describe is itself checked to answer. */
export async function waitForJob(sm: SageMakerClient, name: string, until: (d: DescribeTrainingJobCommandOutput) => boolean = (d) => ["Completed", "Failed", "Stopped"].includes(d.TrainingJobStatus ?? ""), timeoutMs = 60_000): Promise<DescribeTrainingJobCommandOutput> {
  return waitFor(`job ${name}`, async () => {
    const d = await describeJob(sm, name);
    return until(d) ? d : undefined;
  }, { timeoutMs, intervalMs: 100 });
}

/** Checkpoints the job has completed so far, from its ml-root in the platform's data dir. */
export async function checkpointsOf(serve: Serve, name: string, host = "algo-1"): Promise<string[]> {
  const { readdir } = await import("node:fs/promises");
  return (await readdir(path.join(serve.dataDir, "jobs", name, host, "checkpoints")).catch(() => [] as string[])).filter((n) => !n.startsWith("."));
}

/** The JS SDK's view of a refused call: error code, HTTP status and message. */
export async function refusal(send: Promise<unknown>): Promise<{ name: string; status: number | undefined; message: string }> {
  try {
    await send;
  } catch (err) {
    const e = err as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.name, status: e.$metadata?.httpStatusCode, message: e.message };
  }
  throw new Error("the call succeeded");
}

/** Downloads S3ModelArtifacts (or any s3:// URI) to a temporary file and returns its path. */
export async function download(serve: Serve, uri: string): Promise<string> {
  const { downloadToFile, openStore, parseStorageUri } = await import("../../src/storage/index.js");
  const { createLogger } = await import("../../src/log/index.js");
  const file = path.join(await tempDir("tg-local-dl-"), path.basename(uri));
  const location = parseStorageUri(uri, "test");
  await downloadToFile(openStore(location, { client: s3(serve), log: await createLogger({ level: "silent" }) }), location.prefix, file);
  return file;
}

/** One entry of a tar (gzipped or not) as text, read with tar-stream. */
export async function tarEntry(file: string, name: string): Promise<string | undefined> {
  const { createReadStream } = await import("node:fs");
  const { createGunzip } = await import("node:zlib");
  const tar = (await import("tar-stream")).default;
  const head = await readFile(file).then((b) => b.subarray(0, 2));
  const extract = tar.extract();
  const source = createReadStream(file);
  (head[0] === 0x1f && head[1] === 0x8b ? source.pipe(createGunzip()) : source).pipe(extract);
  let found: string | undefined;
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    if (entry.header.name === name) found = Buffer.concat(chunks).toString("utf8");
  }
  return found;
}
