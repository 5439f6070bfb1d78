/**
 * The stop path as PID 1 with --output: the archive packaged on SIGTERM is uploaded (read from the
 * local archive file as it is written) to S3 (embedded s3rver, reached directly or through the fault proxy) or to a file://
 * directory; what lands there is checked with a client that is not trainguard's, and with
 * `trainguard verify`.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, expect, it } from "vitest";
import { describeE2E } from "../helpers/e2e.js";
import { match, useFaultProxy } from "../helpers/fault-proxy.js";
import { startJob, type Job } from "../helpers/job.js";
import { useS3 } from "../helpers/s3.js";
import { MiB, fileSha256, readManifest, s3Env, scratchDir, sha256, verifyCli, writer } from "../helpers/stop-path.js";

const BUCKET = "models";
const PREFIX = "runs";
const GRACE = 4;

describeE2E("stop path: upload on stop (--output)", () => {
  const s3 = useS3([BUCKET]);
  const proxy = useFaultProxy(() => s3().endpoint);
  afterEach(() => proxy().resetStats());

  /** A job whose newest complete checkpoint is step-1 (model.bin of `bytes`), stopped once ready. */
  async function stopJob(opts: { endpoint?: string; output: string; bytes?: number; files?: Record<string, string>; grace?: number }): Promise<{ job: Job; sentAt: number }> {
    const job = startJob({
      algorithm: writer("subdirs"),
      grace: opts.grace ?? GRACE,
      options: ["--output", opts.output, ...(opts.endpoint ? ["--s3-endpoint", opts.endpoint] : [])],
      env: { ...s3Env(), TG_ON_TERM: "exit", TG_CKPTS: "1", TG_CKPT_BYTES: String(opts.bytes ?? 256 * 1024) },
      ...(opts.files ? { files: opts.files } : {}),
    });
    await job.waitReady();
    await job.waitUntil("status Training", () => job.readStatus()?.SecondaryStatus === "Training");
    const sentAt = job.signal("SIGTERM");
    return { job, sentAt };
  }

  /** Downloads `key` with the test's own client and checks it is the local archive and verifies. */
  async function expectUploadedArchive(job: Job, key: string): Promise<void> {
    const bytes = await s3().getBytes(BUCKET, key);
    const local = job.mlPath("model", "model.tar.gz");
    expect(sha256(bytes)).toBe(fileSha256(local));
    const copy = path.join(scratchDir("download"), "model.tar.gz");
    writeFileSync(copy, bytes);
    const verified = verifyCli(copy);
    expect(verified.code, `verify: ${verified.stdout}${verified.stderr}`).toBe(0);
    expect(verified.stdout).toContain("checkpoint step-1");
    // The sidecar manifest beside it names this very archive.
    const sidecar = JSON.parse((await s3().getBytes(BUCKET, `${key}.manifest.json`)).toString("utf8")) as { archive?: { sha256: string; bytes: number }; checkpoint: string };
    expect(sidecar).toMatchObject({ checkpoint: "step-1", archive: { sha256: sha256(bytes), bytes: bytes.length } });
  }

  it("s3://bucket/prefix: a separate client downloads <prefix>/<job>/output/model.tar.gz, it verifies, its sidecar is beside it, status says where", async () => {
    const { job, sentAt } = await stopJob({ endpoint: s3().endpoint, output: `s3://${BUCKET}/${PREFIX}` });
    const exit = await job.waitExit();
    expect(exit.at - sentAt).toBeLessThan(GRACE * 1000);
    expect(exit.code).toBe(0);
    const key = `${PREFIX}/${job.jobName}/output/model.tar.gz`;
    const status = job.status();
    expect(status).toMatchObject({ TrainingJobStatus: "Stopped", failureReason: null });
    expect(status.artifact).toMatchObject({ checkpoint: "step-1", uploadedTo: `s3://${BUCKET}/${key}` });
    expect(status.artifact?.uploadError).toBeUndefined();
    expect(status.artifact?.sha256).toBe(fileSha256(job.mlPath("model", "model.tar.gz")));
    await expectUploadedArchive(job, key);
    expect((await s3().list(BUCKET, `${PREFIX}/${job.jobName}/`)).map((o) => o.key).sort()).toEqual([key, `${key}.manifest.json`]);
  });

  it("file:///dir: the same archive and sidecar at <dir>/<job>/output/, and status says where", async () => {
    const dir = scratchDir("file-output");
    const { job, sentAt } = await stopJob({ output: pathToFileURL(dir).href });
    const exit = await job.waitExit();
    expect(exit.at - sentAt).toBeLessThan(GRACE * 1000);
    expect(exit.code).toBe(0);
    const uploaded = path.join(dir, job.jobName, "output", "model.tar.gz");
    const status = job.status();
    expect(status).toMatchObject({ TrainingJobStatus: "Stopped", failureReason: null });
    expect(status.artifact).toMatchObject({ checkpoint: "step-1", uploadedTo: pathToFileURL(uploaded).href });
    expect(fileSha256(uploaded)).toBe(fileSha256(job.mlPath("model", "model.tar.gz")));
    const verified = verifyCli(uploaded);
    expect(verified.code, `verify: ${verified.stdout}${verified.stderr}`).toBe(0);
    expect(readManifest(`${uploaded}.manifest.json`)).toMatchObject({ checkpoint: "step-1", archive: { sha256: fileSha256(uploaded) } });
  });

  it("an upload fault that outlasts the deadline (every UploadPart stalls, 30 MiB, --grace 4): exits before the deadline, no object under the key, local archive valid, status says why", async () => {
    const stalls = proxy().inject({ action: { type: "stall" }, match: match.kind("UploadPart") });
    const { job, sentAt } = await stopJob({ endpoint: proxy().endpoint, output: `s3://${BUCKET}/${PREFIX}`, bytes: 30 * MiB });
    const exit = await job.waitExit();
    expect(exit.at - sentAt, "trainguard exits before the stop deadline").toBeLessThan(GRACE * 1000);
    expect(exit.code).toBe(0);
    // The fault really was in the way: parts were sent and never answered.
    expect(stalls.hits).toBeGreaterThanOrEqual(1);
    expect(proxy().stats().requests.CreateMultipartUpload).toBeGreaterThanOrEqual(1);

    const key = `${PREFIX}/${job.jobName}/output/model.tar.gz`;
    expect(await s3().headSize(BUCKET, key), "no object under the key").toBeUndefined();
    expect(await s3().list(BUCKET, `${PREFIX}/${job.jobName}/`)).toEqual([]);

    const local = job.mlPath("model", "model.tar.gz");
    const verified = verifyCli(local);
    expect(verified.code, `verify: ${verified.stdout}${verified.stderr}`).toBe(0);
    const status = job.status();
    expect(status.TrainingJobStatus).toBe("Stopped");
    expect(status.artifact).toMatchObject({ path: local, checkpoint: "step-1", uploadedTo: null });
    expect(status.artifact?.uploadError).toMatch(/DEADLINE/);
    expect(status.failureReason).toMatch(/Uploading the model failed/);
    expect(job.failureFile()).toMatch(/Uploading the model failed/);
    // The multipart upload is aborted, not left for a lifecycle rule (s3rver answers
    // MethodNotAllowed, but the request must have been sent).
    expect(proxy().stats().requests.AbortMultipartUpload ?? 0, "AbortMultipartUpload sent").toBeGreaterThanOrEqual(1);
  });

  it("a stalled upload does not take the local archive down with it (64 MiB: more than the parts in flight can hold)", async () => {
    proxy().inject({ action: { type: "stall" }, match: match.kind("UploadPart") });
    const { job, sentAt } = await stopJob({ endpoint: proxy().endpoint, output: `s3://${BUCKET}/${PREFIX}`, bytes: 64 * MiB });
    const exit = await job.waitExit();
    expect(exit.at - sentAt, "trainguard exits before the stop deadline").toBeLessThan(GRACE * 1000);
    expect(await s3().headSize(BUCKET, `${PREFIX}/${job.jobName}/output/model.tar.gz`)).toBeUndefined();
    const local = job.mlPath("model", "model.tar.gz");
    const status = job.status();
    expect(status.TrainingJobStatus).toBe("Stopped");
    // Packaging 64 MiB to local disk takes a fraction of a second here; the upload is what is stuck.
    expect(status.failureReason ?? "", "the local packaging did not fail").not.toMatch(/Packaging the checkpoint failed/);
    expect(status.artifact).toMatchObject({ path: local, checkpoint: "step-1", uploadedTo: null });
    const verified = verifyCli(local);
    expect(verified.code, `verify: ${verified.stdout}${verified.stderr}`).toBe(0);
  });

  it("an upload held back does not hold the local archive back: committed and valid while every UploadPart is held, no object until released, then the complete object", async () => {
    const hold = proxy().inject({ action: { type: "hold" }, match: match.kind("UploadPart") });
    // A grace long enough that the deadline plays no part: the hold ends only when the test says.
    const { job } = await stopJob({ endpoint: proxy().endpoint, output: `s3://${BUCKET}/${PREFIX}`, bytes: 64 * MiB, grace: 60 });
    const key = `${PREFIX}/${job.jobName}/output/model.tar.gz`;
    await job.waitUntil("the local archive committed", () => job.eventsOf("package.done").length > 0, { timeoutMs: 30_000 });
    // 64 MiB is more than the parts in flight hold: a tee would have stopped the local write here.
    // (On a fast machine the archive may even be committed before the first part is sent.)
    await job.waitUntil("an UploadPart held", () => hold.hits >= 1, { timeoutMs: 30_000 });
    expect(proxy().stats().requests.CompleteMultipartUpload ?? 0).toBe(0);
    expect(job.eventsOf("upload.done")).toEqual([]);
    expect(job.running()).toBe(true);
    const local = job.mlPath("model", "model.tar.gz");
    const verified = verifyCli(local);
    expect(verified.code, `verify: ${verified.stdout}${verified.stderr}`).toBe(0);
    expect(await s3().headSize(BUCKET, key), "no object while the upload is held").toBeUndefined();

    hold.release();
    const exit = await job.waitExit();
    expect(exit.code).toBe(0);
    const names = job.eventNames();
    expect(names.indexOf("package.done")).toBeLessThan(names.indexOf("upload.done"));
    expect(job.status().artifact).toMatchObject({ path: local, uploadedTo: `s3://${BUCKET}/${key}` });
    await expectUploadedArchive(job, key);
  });

  it("a transient fault (503 SlowDown for the first 2 requests): the upload succeeds", async () => {
    const slowdowns = proxy().inject({ action: { type: "slowdown" }, match: match.any, times: 2 });
    const { job, sentAt } = await stopJob({ endpoint: proxy().endpoint, output: `s3://${BUCKET}/${PREFIX}` });
    const exit = await job.waitExit();
    expect(exit.at - sentAt).toBeLessThan(GRACE * 1000);
    expect(exit.code).toBe(0);
    expect(slowdowns.hits).toBe(2);
    const key = `${PREFIX}/${job.jobName}/output/model.tar.gz`;
    const status = job.status();
    expect(status).toMatchObject({ TrainingJobStatus: "Stopped", failureReason: null });
    expect(status.artifact).toMatchObject({ uploadedTo: `s3://${BUCKET}/${key}` });
    await expectUploadedArchive(job, key);
  });

  it("multi-host (hosts algo-1, algo-2; current algo-2): the key includes the host", async () => {
    const resourceconfig = JSON.stringify({ current_host: "algo-2", hosts: ["algo-1", "algo-2"], network_interface_name: "eth0" });
    const { job, sentAt } = await stopJob({
      endpoint: s3().endpoint,
      output: `s3://${BUCKET}/${PREFIX}`,
      files: { "input/config/resourceconfig.json": resourceconfig },
    });
    const exit = await job.waitExit();
    expect(exit.at - sentAt).toBeLessThan(GRACE * 1000);
    expect(exit.code).toBe(0);
    const key = `${PREFIX}/${job.jobName}/output/algo-2/model.tar.gz`;
    expect(job.status().artifact).toMatchObject({ uploadedTo: `s3://${BUCKET}/${key}` });
    await expectUploadedArchive(job, key);
    expect((await s3().list(BUCKET, `${PREFIX}/${job.jobName}/`)).map((o) => o.key).sort()).toEqual([key, `${key}.manifest.json`]);
    expect(existsSync(job.mlPath("model", "model.tar.gz"))).toBe(true);
    expect(readFileSync(job.mlPath("input", "config", "resourceconfig.json"), "utf8")).toBe(resourceconfig);
  });
});
