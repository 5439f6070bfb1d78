/**
 * The stop path as PID 1, from SIGTERM to a packaged model: which checkpoint is packaged when one
 * is being written at the stop, in both checkpoint-dir layouts, and in both model layouts. Signals
 * come from outside the PID namespace, as `docker kill -s TERM` sends them.
 */
import { existsSync, lstatSync, readdirSync } from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { expect, it } from "vitest";
import { expectEventOrder } from "../helpers/assertions.js";
import { describeE2E } from "../helpers/e2e.js";
import { startJob } from "../helpers/job.js";
import {
  MANIFEST,
  MARKER,
  digestPairs,
  manifestDigest,
  pythonStreamExtract,
  readManifest,
  scratchDir,
  treeDigest,
  verifyCli,
  writer,
} from "../helpers/stop-path.js";

/** Short budgets: an algorithm that ignores SIGTERM is SIGKILLed at grace - 2 s (the reserve floor). */
const GRACE = 4;

describeE2E("stop path: the newest complete checkpoint is packaged, never the one being written", () => {
  it("subdirectories: step-3 without its marker when SIGTERM arrives (ignored, then SIGKILL) -> step-2 packaged, verify passes, Python r|gz extracts it byte-identical", async () => {
    const job = startJob({ algorithm: writer("subdirs"), grace: GRACE, env: { TG_ON_TERM: "ignore", TG_CKPTS: "2" } });
    await job.waitReady();
    await job.waitUntil("status Training", () => job.readStatus()?.SecondaryStatus === "Training");
    const ckDir = job.mlPath("checkpoints");
    // At the stop: two complete checkpoints and a third one open for writing, without its marker.
    expect(existsSync(path.join(ckDir, "step-2", MARKER))).toBe(true);
    expect(existsSync(path.join(ckDir, "step-3", "model.bin"))).toBe(true);
    expect(existsSync(path.join(ckDir, "step-3", MARKER))).toBe(false);

    const sentAt = job.signal("SIGTERM");
    const exit = await job.waitExit();
    expect(exit.at - sentAt, "exits before the deadline").toBeLessThan(GRACE * 1000);
    // Ignored SIGTERM: SIGKILLed at the checkpoint deadline, and trainguard exits 128+9.
    expect(exit.code).toBe(137);
    expect(existsSync(path.join(ckDir, "step-3", MARKER)), "the algorithm never committed step-3").toBe(false);

    const status = job.status();
    expect(status).toMatchObject({ TrainingJobStatus: "Stopped", SecondaryStatus: "Stopped", escalated: true, failureReason: null });
    const archive = job.mlPath("model", "model.tar.gz");
    expect(status.artifact).toMatchObject({ path: archive, checkpoint: "step-2", uploadedTo: null });

    const verified = verifyCli(archive);
    expect(verified.code, `verify: ${verified.stdout}${verified.stderr}`).toBe(0);
    expect(verified.stdout).toContain("checkpoint step-2");

    const step2 = treeDigest(path.join(ckDir, "step-2"));
    expect(step2.has("model.bin") && step2.has("optim/state.bin") && step2.has(MARKER)).toBe(true);
    const sidecar = readManifest(`${archive}.manifest.json`);
    expect(sidecar).toMatchObject({ job: job.jobName, checkpoint: "step-2", reason: "Stopped", layout: "archive" });
    expect(digestPairs(manifestDigest(sidecar))).toEqual(digestPairs(step2));

    // Python's stream reader (what SageMaker containers use): every file, byte-identical, and
    // nothing of step-3.
    const extracted = pythonStreamExtract(archive, "r|gz");
    const inArchive = treeDigest(extracted);
    expect(readManifest(path.join(extracted, MANIFEST))).toMatchObject({ checkpoint: "step-2" });
    inArchive.delete(MANIFEST);
    expect(digestPairs(inArchive)).toEqual(digestPairs(step2));

    expectEventOrder(job, ["stop.requested", "stop.forwarded", "algorithm.escalate", "algorithm.exit", "package.done", "job.end"]);
  });

  it("flat dir: a file a process outside the algorithm's group still holds open for writing is left out and reported; the rest is packaged and verifies", async () => {
    const job = startJob({ algorithm: writer("flat-async"), grace: GRACE, env: { TG_ON_TERM: "exit" } });
    await job.waitReady();
    await job.waitUntil("status Training", () => job.readStatus()?.SecondaryStatus === "Training");
    const ckDir = job.mlPath("checkpoints");

    const sentAt = job.signal("SIGTERM");
    const exit = await job.waitExit();
    expect(exit.at - sentAt).toBeLessThan(GRACE * 1000);
    expect(exit.code).toBe(0);

    const status = job.status();
    expect(status.TrainingJobStatus).toBe("Stopped");
    const archive = job.mlPath("model", "model.tar.gz");
    expect(status.artifact?.path).toBe(archive);
    const verified = verifyCli(archive);
    expect(verified.code, `verify: ${verified.stdout}${verified.stderr}`).toBe(0);

    const manifest = readManifest(`${archive}.manifest.json`);
    expect(manifest.files.map((f) => f.path).sort()).toEqual(["config.json", "tokenizer.json"]);
    expect(manifest.skipped).toEqual([expect.objectContaining({ path: "model.pt", reason: expect.stringMatching(/open for writing/) })]);
    // The files that were packaged are the ones on disk.
    expect(digestPairs(manifestDigest(manifest))).toEqual(digestPairs(treeDigest(ckDir, { exclude: ["model.pt"] })));
    // ... and the log says what was left out.
    expect(job.eventsOf("artifact.skip").some((e) => e.path === "model.pt")).toBe(true);
  });

  it("flat dir: model.pt being rewritten in place by the algorithm when SIGTERM arrives (ignored, then SIGKILL) is not packaged half-written, or is reported", async () => {
    const job = startJob({ algorithm: writer("flat-inplace"), grace: GRACE, env: { TG_ON_TERM: "ignore" } });
    await job.waitReady();
    await job.waitUntil("status Training", () => job.readStatus()?.SecondaryStatus === "Training");
    const ckDir = job.mlPath("checkpoints");

    const sentAt = job.signal("SIGTERM");
    const exit = await job.waitExit();
    expect(exit.at - sentAt).toBeLessThan(GRACE * 1000);
    expect(exit.code).toBe(137);

    const archive = job.mlPath("model", "model.tar.gz");
    const status = job.status();
    expect(status.TrainingJobStatus).toBe("Stopped");
    if (existsSync(archive)) {
      const verified = verifyCli(archive);
      expect(verified.code, `verify: ${verified.stdout}${verified.stderr}`).toBe(0);
      const manifest = readManifest(`${archive}.manifest.json`);
      expect(manifest.files.map((f) => f.path)).toContain("config.json");
      // model.pt was open for writing by the algorithm at the stop: packaging it as it was when the
      // algorithm was killed would ship a half-written model under a valid manifest. Its rewrite
      // began the moment its first version was closed, before that version could be kept.
      expect(manifest.files.map((f) => f.path)).not.toContain("model.pt");
      expect(manifest.skipped).toEqual([expect.objectContaining({ path: "model.pt", reason: expect.stringMatching(/was writing it when the algorithm was killed/) })]);
      expect(status.failureReason).toMatch(/without model\.pt/);
    } else {
      expect(status.failureReason).toMatch(/model\.pt/);
    }
    expect(existsSync(path.join(ckDir, "model.pt"))).toBe(true);
  });

  it("--model-layout files: step-2's files placed in <ml-root>/model/, the manifest written last, and a tar -czf of the dir passes verify", async () => {
    const job = startJob({ algorithm: writer("subdirs"), grace: GRACE, options: ["--model-layout", "files"], env: { TG_ON_TERM: "exit", TG_CKPTS: "2" } });
    await job.waitReady();
    await job.waitUntil("status Training", () => job.readStatus()?.SecondaryStatus === "Training");
    const sentAt = job.signal("SIGTERM");
    const exit = await job.waitExit();
    expect(exit.at - sentAt).toBeLessThan(GRACE * 1000);
    expect(exit.code).toBe(0);

    const modelDir = job.mlPath("model");
    const status = job.status();
    expect(status).toMatchObject({ TrainingJobStatus: "Stopped", failureReason: null });
    expect(status.artifact).toMatchObject({ checkpoint: "step-2", layout: "files", manifestPath: path.join(modelDir, MANIFEST) });

    const step2 = treeDigest(job.mlPath("checkpoints", "step-2"));
    const placed = treeDigest(modelDir, { exclude: [MANIFEST] });
    expect(digestPairs(placed)).toEqual(digestPairs(step2));
    expect(existsSync(path.join(modelDir, "model.tar.gz")), "no archive in layout files").toBe(false);
    const manifest = readManifest(path.join(modelDir, MANIFEST));
    expect(manifest).toMatchObject({ checkpoint: "step-2", layout: "files", reason: "Stopped" });
    expect(digestPairs(manifestDigest(manifest))).toEqual(digestPairs(step2));

    // Written last: its inode changed after every placed file's (a link or rename changes ctime).
    const manifestCtime = lstatSync(path.join(modelDir, MANIFEST)).ctimeMs;
    for (const rel of placed.keys()) expect(lstatSync(path.join(modelDir, rel)).ctimeMs, rel).toBeLessThanOrEqual(manifestCtime);

    // The platform tars the model dir itself (SageMaker: /opt/ml/model -> model.tar.gz).
    const out = path.join(scratchDir("platform-tar"), "model.tar.gz");
    const tar = spawnSync("tar", ["-czf", out, "-C", modelDir, "."], { encoding: "utf8" });
    expect(tar.status, tar.stderr).toBe(0);
    const verified = verifyCli(out);
    expect(verified.code, `verify: ${verified.stdout}${verified.stderr}`).toBe(0);
    // The model dir itself verifies as well.
    expect(verifyCli(modelDir).code).toBe(0);
    expect(readdirSync(modelDir).sort()).toEqual([...new Set([...[...placed.keys()].map((p) => p.split("/")[0] as string), MANIFEST])].sort());
  });
});
