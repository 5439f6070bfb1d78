/**
 * The stop path as PID 1 when no local archive is wanted (--model-layout files with --output) or
 * possible (a read-only model dir): the archive streams from the checkpoint files straight to the
 * embedded S3, never through a local file. What lands there is checked with a client that is not
 * trainguard's, and with `trainguard verify`.
 */
import { readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { expect, it } from "vitest";
import { FIXTURES, describeE2E } from "../helpers/e2e.js";
import { match, useFaultProxy } from "../helpers/fault-proxy.js";
import { startJob, type Job, type StartJobOptions } from "../helpers/job.js";
import { useS3 } from "../helpers/s3.js";
import { MANIFEST, MiB, digestPairs, manifestDigest, readManifest, s3Env, scratchDir, sha256, treeDigest, verifyCli, writer } from "../helpers/stop-path.js";

const BUCKET = "straight";
const PREFIX = "runs";
const GRACE = 4;

/** A flat checkpoint dir (no subdirectories): two files written and closed, then it waits for SIGTERM and exits 0. */
const FLAT = [
  "sh",
  "-c",
  'mkdir -p "$SM_CHECKPOINT_DIR" && head -c 3000000 /dev/urandom > "$SM_CHECKPOINT_DIR/model.bin" && echo "{\\"lr\\": 1}" > "$SM_CHECKPOINT_DIR/config.json" && trap "exit 0" TERM && echo ready > "$TG_TEST_DIR/ready" && while :; do sleep 0.1; done',
];

describeE2E("stop path: the archive streams straight from the checkpoint files to --output", () => {
  const s3 = useS3([BUCKET]);
  const faults = useFaultProxy(() => s3().endpoint);

  async function stopJob(opts: Omit<StartJobOptions, "grace"> & { grace?: number }): Promise<{ job: Job; sentAt: number }> {
    const job = startJob({ grace: GRACE, ...opts, env: { ...s3Env(), ...opts.env } });
    await job.waitReady();
    await job.waitUntil("status Training", () => job.readStatus()?.SecondaryStatus === "Training");
    return { job, sentAt: job.signal("SIGTERM") };
  }

  const keyOf = (job: Job): string => `${PREFIX}/${job.jobName}/output/model.tar.gz`;
  const output = (endpoint: string): string[] => ["--output", `s3://${BUCKET}/${PREFIX}`, "--s3-endpoint", endpoint];

  /** Downloads the object with the test's own client: it verifies, holds `checkpoint`, and its sidecar names it. */
  async function expectObject(job: Job, checkpoint: string): Promise<{ bytes: Buffer; manifest: ReturnType<typeof readManifest> }> {
    const key = keyOf(job);
    const bytes = await s3().getBytes(BUCKET, key);
    const copy = path.join(scratchDir("download"), "model.tar.gz");
    writeFileSync(copy, bytes);
    const verified = verifyCli(copy);
    expect(verified.code, `verify: ${verified.stdout}${verified.stderr}`).toBe(0);
    expect(verified.stdout).toContain(`checkpoint ${checkpoint}`);
    const sidecarBytes = await s3().getBytes(BUCKET, `${key}.manifest.json`);
    const sidecarFile = path.join(scratchDir("sidecar"), "m.json");
    writeFileSync(sidecarFile, sidecarBytes);
    const manifest = readManifest(sidecarFile);
    expect(manifest).toMatchObject({ checkpoint, layout: "archive", archive: { file: "model.tar.gz", sha256: sha256(bytes), bytes: bytes.length } });
    expect((await s3().list(BUCKET, `${PREFIX}/${job.jobName}/`)).map((o) => o.key).sort()).toEqual([key, `${key}.manifest.json`]);
    return { bytes, manifest };
  }

  it("--model-layout files with --output, directory checkpoint: step-1's files in the model dir, the archive of the same files in S3 (verifies), no local archive, status says both", async () => {
    const { job, sentAt } = await stopJob({ algorithm: writer("subdirs"), options: [...output(s3().endpoint), "--model-layout", "files"], env: { TG_ON_TERM: "exit", TG_CKPTS: "1", TG_CKPT_BYTES: String(4 * MiB) } });
    const exit = await job.waitExit();
    expect(exit.at - sentAt).toBeLessThan(GRACE * 1000);
    expect(exit.code, job.describe()).toBe(0);
    const modelDir = job.mlPath("model");
    const step1 = treeDigest(job.mlPath("checkpoints", "step-1"));
    expect(digestPairs(treeDigest(modelDir, { exclude: [MANIFEST] }))).toEqual(digestPairs(step1));
    expect(readdirSync(modelDir).filter((n) => n.includes("model.tar")), "no archive written locally").toEqual([]);
    const { manifest } = await expectObject(job, "step-1");
    expect(digestPairs(manifestDigest(manifest))).toEqual(digestPairs(step1));
    const status = job.status();
    expect(status).toMatchObject({ TrainingJobStatus: "Stopped", failureReason: null });
    expect(status.artifact).toMatchObject({ path: modelDir, layout: "files", manifestPath: path.join(modelDir, MANIFEST), checkpoint: "step-1", uploadedTo: `s3://${BUCKET}/${keyOf(job)}` });
    expect(status.artifact?.uploadError).toBeUndefined();
    expect(status.artifact?.localError).toBeUndefined();
    expect(job.eventsOf("upload.start")[0]).toMatchObject({ straight: true });
  });

  it("--model-layout files with --output, flat checkpoint dir: the files placed, the object verifies and holds both files", async () => {
    const { job, sentAt } = await stopJob({ algorithm: FLAT, options: [...output(s3().endpoint), "--model-layout", "files"] });
    const exit = await job.waitExit();
    expect(exit.at - sentAt).toBeLessThan(GRACE * 1000);
    expect(exit.code, job.describe()).toBe(0);
    const modelDir = job.mlPath("model");
    const checkpoints = treeDigest(job.mlPath("checkpoints"));
    expect([...checkpoints.keys()].sort()).toEqual(["config.json", "model.bin"]);
    expect(digestPairs(treeDigest(modelDir, { exclude: [MANIFEST] }))).toEqual(digestPairs(checkpoints));
    const { manifest } = await expectObject(job, "checkpoints");
    expect(digestPairs(manifestDigest(manifest))).toEqual(digestPairs(checkpoints));
    expect(job.status().artifact).toMatchObject({ path: modelDir, layout: "files", files: 2, uploadedTo: `s3://${BUCKET}/${keyOf(job)}` });
  });

  it("a read-only model dir with --output: the object is complete and verifies, nothing is written locally, exit 0, status and log name the dir and EROFS", async () => {
    const { job, sentAt } = await stopJob({ algorithm: ["sh", path.join(FIXTURES, "hostile-fs.sh")], options: output(s3().endpoint), env: { TG_BEFORE: "readonly-model" } });
    const exit = await job.waitExit();
    expect(exit.at - sentAt).toBeLessThan(GRACE * 1000);
    expect(exit.code, job.describe()).toBe(0);
    const modelDir = job.mlPath("model");
    expect(readdirSync(modelDir), "nothing written locally").toEqual([]);
    const { bytes } = await expectObject(job, "step-1");
    const uri = `s3://${BUCKET}/${keyOf(job)}`;
    const status = job.status();
    expect(status).toMatchObject({ TrainingJobStatus: "Stopped", failureReason: null });
    expect(status.artifact).toMatchObject({ path: uri, manifestPath: `${uri}.manifest.json`, uploadedTo: uri, layout: "archive", checkpoint: "step-1", bytes: bytes.length, sha256: sha256(bytes) });
    expect(status.artifact?.localError).toContain(`the model dir ${modelDir} cannot be written (EROFS`);
    expect(job.eventsOf("package.unwritable")[0]?.reason).toContain(`${modelDir} cannot be written (EROFS`);
    expect(job.failureFile()).toBeUndefined();
  });

  it("a read-only model dir without --output: no model, and the failure says which dir, why, and that --output would have saved it", async () => {
    const { job, sentAt } = await stopJob({ algorithm: ["sh", path.join(FIXTURES, "hostile-fs.sh")], env: { TG_BEFORE: "readonly-model" } });
    const exit = await job.waitExit();
    expect(exit.at - sentAt).toBeLessThan(GRACE * 1000);
    const modelDir = job.mlPath("model");
    const status = job.status();
    expect(status.TrainingJobStatus).toBe("Stopped");
    expect(status.artifact).toBeNull();
    const expected = `No model was saved: the model dir ${modelDir} cannot be written (EROFS`;
    expect(status.failureReason).toContain(expected);
    expect(status.failureReason).toContain("and no --output was given to upload it to instead");
    expect(job.failureFile()?.split("\n")[0]).toContain(expected);
    expect(readdirSync(modelDir)).toEqual([]);
  });

  it("a stop during the straight upload (every UploadPart stalls, 30 MiB, --grace 4): exits before the deadline, no object, the files still placed, status says why", async () => {
    const proxy = faults();
    const stalls = proxy.inject({ action: { type: "stall" }, match: match.kind("UploadPart") });
    const { job, sentAt } = await stopJob({ algorithm: writer("subdirs"), options: [...output(proxy.endpoint), "--model-layout", "files"], env: { TG_ON_TERM: "exit", TG_CKPTS: "1", TG_CKPT_BYTES: String(30 * MiB) } });
    const exit = await job.waitExit();
    expect(exit.at - sentAt, "trainguard exits before the stop deadline").toBeLessThan(GRACE * 1000);
    expect(exit.code, job.describe()).toBe(0);
    expect(stalls.hits).toBeGreaterThanOrEqual(1);
    expect(await s3().headSize(BUCKET, keyOf(job)), "no object under the key").toBeUndefined();
    expect(await s3().list(BUCKET, `${PREFIX}/${job.jobName}/`)).toEqual([]);
    expect(proxy.stats().requests.AbortMultipartUpload ?? 0, "AbortMultipartUpload sent").toBeGreaterThanOrEqual(1);
    const modelDir = job.mlPath("model");
    expect(digestPairs(treeDigest(modelDir, { exclude: [MANIFEST] }))).toEqual(digestPairs(treeDigest(job.mlPath("checkpoints", "step-1"))));
    const status = job.status();
    expect(status.artifact).toMatchObject({ path: modelDir, layout: "files", uploadedTo: null });
    expect(status.artifact?.uploadError).toMatch(/DEADLINE/);
    expect(status.failureReason).toMatch(/Uploading the model straight from the checkpoint files failed/);
  });
});
