/**
 * The stop path as PID 1 with --checkpoint-uri: the background sync keeps checkpoints remote while
 * the algorithm trains, so a stop only moves what is new; a later run resumes from the newest
 * complete remote checkpoint before its algorithm starts. S3 is the embedded s3rver behind the
 * fault proxy, which counts the bytes trainguard sends; the test looks at the bucket with its own
 * client.
 *
 * The tests of this file run in order: the resume test starts from what the sync test left remote.
 */
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { expect, it } from "vitest";
import { describeE2E } from "../helpers/e2e.js";
import { useFaultProxy } from "../helpers/fault-proxy.js";
import { startJob, type Job } from "../helpers/job.js";
import { useS3 } from "../helpers/s3.js";
import { SYNC_INDEX_NAME as SYNC_INDEX } from "../../src/sync/index.js";
import { MARKER, MiB, digestPairs, readManifest, s3Env, sha256, treeDigest, writer } from "../helpers/stop-path.js";

const BUCKET = "ckpts";
const GRACE = 8;
const CKPT_BYTES = 2 * MiB;
/** One checkpoint as the writer fixture makes it: model.bin, optim/state.bin (4 KiB), config.json, marker. */
const ONE_CHECKPOINT = CKPT_BYTES + 4096;
/** What else a checkpoint upload carries: config.json, the marker and the sync index. */
const SLACK = 64 * 1024;
const KEEP = 3;

describeE2E("stop path: checkpoint sync during training, flush on stop, resume at start", () => {
  const s3 = useS3([BUCKET]);
  const proxy = useFaultProxy(() => s3().endpoint);

  /** Left by the sync test for the resume test: the prefix and the files of step-10. */
  let synced: { prefix: string; step10: Map<string, string> } | undefined;

  /** Complete (marker present) remote checkpoints under `prefix`, with their files and sizes. */
  async function remoteCheckpoints(prefix: string): Promise<Map<string, Map<string, number>>> {
    const groups = new Map<string, Map<string, number>>();
    for (const { key, size } of await s3().list(BUCKET, `${prefix}/`)) {
      const [name, ...rest] = key.slice(prefix.length + 1).split("/");
      if (name === undefined || rest.length === 0) continue;
      const files = groups.get(name) ?? new Map<string, number>();
      files.set(rest.join("/"), size);
      groups.set(name, files);
    }
    return new Map([...groups].filter(([, files]) => files.has(MARKER)));
  }

  const checkpointBodyBytes = (): number => {
    const up = proxy().stats().bytesUpstream;
    return (up.PutObject ?? 0) + (up.UploadPart ?? 0);
  };

  function syncJob(prefix: string, algorithmArgs: string[], env: Record<string, string>, endpoint = proxy().endpoint): Job {
    return startJob({
      algorithm: algorithmArgs,
      grace: GRACE,
      options: ["--checkpoint-uri", `s3://${BUCKET}/${prefix}`, "--s3-endpoint", endpoint, "--keep", String(KEEP)],
      env: { ...s3Env(), ...env },
    });
  }

  it("ten checkpoints, nine already remote: SIGTERM right after the tenth moves one checkpoint's bytes, the remote ends with the tenth complete, --keep 3", async () => {
    const prefix = `sync-${Date.now()}`;
    const job = syncJob(prefix, writer("subdirs"), {
      TG_ON_TERM: "exit",
      TG_CKPTS: "10",
      TG_INTERVAL: "0.3",
      TG_PAUSE_BEFORE: "10",
      TG_CKPT_BYTES: String(CKPT_BYTES),
    });
    await job.waitForTestFile("waiting-10", { timeoutMs: 20_000 });
    // Nine written; wait until the sync says nothing is left and the bucket shows step-9 complete.
    await job.waitUntil(
      "the sync to have caught up with step-9",
      () => {
        const lag = job.readStatus()?.checkpointSync?.lag;
        return lag !== undefined && lag.checkpoints === 0 && lag.newestRemote === "step-9";
      },
      { timeoutMs: 20_000, intervalMs: 50 },
    );
    expect((await remoteCheckpoints(prefix)).has("step-9")).toBe(true);

    proxy().resetStats();
    writeFileSync(job.testPath("go"), "");
    await job.waitForTestFile("committed-10", { intervalMs: 2 });
    const sentAt = job.signal("SIGTERM");
    const bytesBeforeStop = checkpointBodyBytes();
    const exit = await job.waitExit();
    expect(exit.at - sentAt).toBeLessThan(GRACE * 1000);
    expect(exit.code).toBe(0);

    // One checkpoint's bytes, not ten: the nine before it were remote already.
    const afterStop = checkpointBodyBytes() - bytesBeforeStop;
    const sinceTenth = checkpointBodyBytes();
    expect(afterStop).toBeLessThanOrEqual(ONE_CHECKPOINT + SLACK);
    expect(sinceTenth).toBeGreaterThanOrEqual(ONE_CHECKPOINT);
    expect(sinceTenth).toBeLessThanOrEqual(ONE_CHECKPOINT + SLACK);

    const status = job.status();
    expect(status.TrainingJobStatus).toBe("Stopped");
    expect(status.checkpointSync?.flush).toMatchObject({ ok: true, checkpoint: "step-10" });
    expect(status.checkpointSync?.flush?.bytes).toBeLessThanOrEqual(ONE_CHECKPOINT + SLACK);
    // The packaged model is the checkpoint the flush made remote.
    expect(readManifest(job.mlPath("model", "model.tar.gz.manifest.json")).checkpoint).toBe("step-10");

    // The remote: step-10 complete, every file at its size, the model bytes identical.
    const local10 = job.mlPath("checkpoints", "step-10");
    const step10 = treeDigest(local10);
    const remote = await remoteCheckpoints(prefix);
    const remote10 = remote.get("step-10");
    expect(remote10, `remote: ${JSON.stringify([...remote.keys()])}`).toBeDefined();
    for (const rel of step10.keys()) expect(remote10?.has(rel), `remote step-10/${rel}`).toBe(true);
    expect(sha256(await s3().getBytes(BUCKET, `${prefix}/step-10/model.bin`))).toBe(step10.get("model.bin"));
    // --keep 3: only the newest complete checkpoints remain, also after the stop-path flush.
    const names = [...remote.keys()].sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)));
    expect(names).toEqual(["step-8", "step-9", "step-10"]);
    synced = { prefix, step10 };
  });

  it("resume: a new run with an empty checkpoint dir starts from step-10 (TRAINGUARD_RESUME_FROM, identical files); an incomplete newer remote checkpoint is ignored", async () => {
    if (!synced) throw new Error("this test resumes from what the sync test (before it, same file) left remote; it did not finish");
    const { prefix, step10 } = synced;
    // A newer checkpoint another writer left without its marker: never resumed from.
    await s3().client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}/step-99/model.bin`, Body: Buffer.alloc(1024, 7) }));
    await s3().client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}/step-99/config.json`, Body: Buffer.from('{"step":99}') }));

    proxy().resetStats();
    const requestsBefore = proxy().log().length;
    const job = syncJob(prefix, writer("resume"), { TG_ON_TERM: "exit" });
    await job.waitReady({ timeoutMs: 20_000 });
    const ckDir = job.mlPath("checkpoints");
    const seen = job.testJson<{ resumeFrom: string; files: Record<string, { size: number; sha256: string }> }>("resume.json");
    expect(seen?.resumeFrom).toBe(path.join(ckDir, "step-10"));
    expect(job.algorithmEnv()?.SM_CHECKPOINT_DIR).toBe(ckDir);
    const got = new Map(Object.entries(seen?.files ?? {}).map(([rel, f]) => [rel, f.sha256]));
    expect(digestPairs(got)).toEqual(digestPairs(step10));
    expect(readdirSync(ckDir)).toEqual(["step-10"]);
    await job.waitUntil("status Training", () => job.readStatus()?.SecondaryStatus === "Training");
    expect(job.status().resumedFrom).toBe("step-10");
    expect(job.status().transitions.map((t) => t.secondaryStatus)).toContain("Downloading");

    const sentAt = job.signal("SIGTERM");
    const exit = await job.waitExit();
    expect(exit.at - sentAt).toBeLessThan(GRACE * 1000);
    expect(exit.code).toBe(0);
    const status = job.status();
    expect(status.TrainingJobStatus).toBe("Stopped");
    // Stopping right after a resume has nothing new to send: step-10 is already remote.
    expect(status.checkpointSync?.flush).toMatchObject({ ok: true, checkpoint: "step-10", files: 0 });
    // No file of the checkpoint is sent again. Its sync index may be: a stop that comes before
    // the sync has read the remote state (seen on a loaded machine) writes the same index again.
    const sent = proxy()
      .log()
      .slice(requestsBefore)
      .filter((r) => (r.kind === "PutObject" || r.kind === "UploadPart") && !r.path.endsWith(`/${SYNC_INDEX}`))
      .map((r) => r.path);
    expect(sent, "checkpoint files sent by the resumed run").toEqual([]);
    expect((await remoteCheckpoints(prefix)).has("step-99")).toBe(false);
  });

  it("--model-layout files with a checkpoint URI: the flush reads the files packaging hard-links into the model dir, and both succeed", async () => {
    const prefix = `layout-files-${Date.now()}`;
    const job = startJob({
      algorithm: writer("subdirs"),
      grace: GRACE,
      options: ["--checkpoint-uri", `s3://${BUCKET}/${prefix}`, "--s3-endpoint", proxy().endpoint, "--model-layout", "files"],
      env: { ...s3Env(), TG_ON_TERM: "exit", TG_CKPTS: "2", TG_CKPT_BYTES: String(8 * MiB) },
    });
    await job.waitReady({ timeoutMs: 20_000 });
    const sentAt = job.signal("SIGTERM");
    const exit = await job.waitExit();
    expect(exit.at - sentAt).toBeLessThan(GRACE * 1000);
    expect(exit.code).toBe(0);
    const status = job.status();
    expect(status).toMatchObject({ TrainingJobStatus: "Stopped", failureReason: null });
    expect(status.artifact).toMatchObject({ checkpoint: "step-2", layout: "files" });
    expect(status.checkpointSync?.flush).toMatchObject({ ok: true, checkpoint: "step-2" });
    const remote = (await remoteCheckpoints(prefix)).get("step-2");
    expect(remote?.get("model.bin")).toBe(8 * MiB);
    expect(sha256(await s3().getBytes(BUCKET, `${prefix}/step-2/model.bin`))).toBe(treeDigest(job.mlPath("model")).get("model.bin"));
  });

  it("a remote key with '..' -> Failed, exit 75, the failure reason names the key, the algorithm never started", async () => {
    const prefix = `hostile-${Date.now()}`;
    await s3().client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}/step-1/model.bin`, Body: Buffer.alloc(4096, 1) }));
    await s3().client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}/step-1/${MARKER}`, Body: Buffer.from("committed\n") }));
    // The SDK resolves "a/../b" in a path before sending it, but keeps a trailing "..": a key whose
    // last segment is ".." (it would name the checkpoint dir's parent).
    const evil = `${prefix}/step-1/..`;
    await s3().client.send(new PutObjectCommand({ Bucket: BUCKET, Key: evil, Body: Buffer.from("evil") }));
    expect((await s3().list(BUCKET, `${prefix}/`)).map((o) => o.key)).toContain(evil);

    const job = syncJob(prefix, writer("resume"), {}, s3().endpoint);
    const exit = await job.waitExit(20_000);
    expect(exit.code).toBe(75);
    const status = job.status();
    expect(status.TrainingJobStatus).toBe("Failed");
    expect(status.failureReason).toContain(JSON.stringify(evil));
    expect(job.failureFile()).toContain(JSON.stringify(evil));
    expect(job.testFile("started"), "the algorithm was not started").toBeUndefined();
    expect(job.eventNames()).not.toContain("algorithm.start");
    expect(existsSync(job.mlPath("checkpoints", "step-1"))).toBe(false);
  });

  it("SIGTERM during a slow resume download -> Stopped within the budget, the algorithm never started, nothing partial left", async () => {
    const prefix = `slow-${Date.now()}`;
    await s3().client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}/step-1/model.bin`, Body: Buffer.alloc(4 * MiB, 3) }));
    await s3().client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}/step-1/${MARKER}`, Body: Buffer.from("committed\n") }));
    const stall = proxy().inject({ action: { type: "stall" }, match: (r) => r.kind === "GetObject" && r.path.endsWith("/step-1/model.bin") });

    const job = syncJob(prefix, writer("resume"), {});
    await job.waitUntil("the download of step-1/model.bin to hang", () => stall.hits >= 1, { timeoutMs: 20_000 });
    expect(job.readStatus()?.SecondaryStatus).toBe("Downloading");
    const sentAt = job.signal("SIGTERM");
    const exit = await job.waitExit();
    expect(exit.at - sentAt).toBeLessThan(GRACE * 1000);
    // Stopped before the algorithm started: exits as an unhandled SIGTERM would.
    expect(exit.code).toBe(143);
    const status = job.status();
    expect(status.TrainingJobStatus).toBe("Stopped");
    expect(job.testFile("started"), "the algorithm was not started").toBeUndefined();
    expect(job.eventNames()).not.toContain("algorithm.start");
    // Nothing of the interrupted download: no checkpoint, no staging directory.
    expect(readdirSync(job.mlPath("checkpoints"))).toEqual([]);
  });
});
