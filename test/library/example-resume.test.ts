/**
 * examples/node-train stopped by SIGTERM during epoch k, restarted, run to the end: its final
 * weights are bit for bit those of a run that was never stopped, and the archive the stop left
 * verifies and holds epoch k-1 or k, never a partial one. Once in-process (runTraining is the
 * supervisor) and once under `trainguard run` as PID 1 of a PID namespace, resuming there from a
 * --checkpoint-uri in a fresh ml-root as a new container would.
 */
import { readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { verifyArchive } from "../../src/artifacts/index.js";
import { describeE2E } from "../helpers/e2e.js";
import { ms, startJob } from "../helpers/job.js";
import { sleep } from "../helpers/wait.js";
import { EXAMPLE, EXAMPLE_HPS, checkpointEntries, epochName, logLines, readStatus, runNode, scratch, sha256, verifiedModel } from "./helpers.js";

const EPOCHS = Number(EXAMPLE_HPS.epochs);
const STOP_DURING = 2;
const HPS_FILE = { "input/config/hyperparameters.json": JSON.stringify(EXAMPLE_HPS) };

let baseline = "";

beforeAll(async () => {
  const root = scratch(EXAMPLE_HPS);
  const run = runNode(EXAMPLE, root);
  const exit = await run.waitExit(60_000);
  expect(exit.code, run.describe()).toBe(0);
  baseline = sha256(path.join(root.mlRoot, "model", "weights.bin"));
  expect(run.stdout()).toContain(`epoch ${EPOCHS}/${EPOCHS} started`);
  rmSync(root.base, { recursive: true, force: true });
}, 60_000);

/**
 * What the stop left: the archive names epoch k-1 (the epoch was dropped) or k (it was finished
 * first), matching what the example said it did; its files are a complete checkpoint of that epoch.
 */
async function expectStopArchive(mlRoot: string, stderr: string): Promise<number> {
  const report = await verifiedModel(mlRoot);
  const finishedFirst = logLines(stderr).some((l) => typeof l.msg === "string" && l.msg.includes("finishing this epoch first"));
  const expected = finishedFirst ? STOP_DURING : STOP_DURING - 1;
  expect(report.manifest.checkpoint).toBe(epochName(expected));
  expect(report.manifest.reason).toBe("Stopped");
  expect(report.manifest.files.map((f) => f.path).sort()).toEqual([".trainguard-commit", "state.json", "weights.bin"]);
  return expected;
}

describe("examples/node-train in-process: SIGTERM during an epoch, then resume", () => {
  it(`stopped during epoch ${STOP_DURING}: Stopped, exit 0, archive of epoch ${STOP_DURING - 1} or ${STOP_DURING} (uploaded, checkpoints synced, from TRAINGUARD_* options); resumed: weights identical to the uninterrupted run`, async () => {
    const root = scratch(EXAMPLE_HPS);
    // The supervisor's upload and checkpoint sync, done in-process from the same TRAINGUARD_* options.
    const output = path.join(root.base, "output-store");
    const remote = path.join(root.base, "checkpoint-store");
    const env = { TRAINGUARD_GRACE: "10", TRAINGUARD_JOB_NAME: "lib-in-process", TRAINGUARD_OUTPUT: `file://${output}`, TRAINGUARD_CHECKPOINT_URI: `file://${remote}` };
    const first = runNode(EXAMPLE, root, env);
    await first.waitForStdout(new RegExp(`epoch ${STOP_DURING}/${EPOCHS} started`));
    await sleep(100);
    const sentAt = first.signal("SIGTERM");
    const exit = await first.waitExit();
    expect(exit.code, first.describe()).toBe(0);
    expect(exit.at - sentAt).toBeLessThan(10_000);
    expect(first.stdout()).not.toContain(`epoch ${STOP_DURING + 1}/${EPOCHS} started`);

    const status = readStatus(root.mlRoot);
    expect(status).toMatchObject({ TrainingJobStatus: "Stopped", stopSignal: "SIGTERM", escalated: false, failureReason: null, trainguardExitCode: 0 });
    expect(status.transitions.map((t) => [t.status, t.secondaryStatus])).toEqual([
      ["InProgress", "Starting"],
      ["InProgress", "Downloading"],
      ["InProgress", "Training"],
      ["Stopping", "Stopping"],
      ["Stopping", "Uploading"],
      ["Stopped", "Stopped"],
    ]);
    expect(ms(status.stopRequestedAt)).toBeGreaterThanOrEqual(sentAt - 5);
    const saved = await expectStopArchive(root.mlRoot, first.stderr());
    const checkpoints = checkpointEntries(path.join(root.mlRoot, "checkpoints"));
    expect(checkpoints.other).toEqual([]);
    expect(checkpoints.complete.at(-1)).toBe(epochName(saved));
    // Uploaded as the supervisor would: <output>/<job>/output/model.tar.gz, and it verifies there too.
    const uploaded = path.join(output, "lib-in-process", "output", "model.tar.gz");
    expect(status.artifact?.uploadedTo).toBe(`file://${uploaded}`);
    expect((await verifyArchive(uploaded)).manifest?.checkpoint).toBe(epochName(saved));
    // The stop path's flush made the saved epoch remote.
    expect(checkpointEntries(remote).complete).toContain(epochName(saved));

    const second = runNode(EXAMPLE, root, env);
    const resumed = await second.waitExit(60_000);
    expect(resumed.code, second.describe()).toBe(0);
    expect(second.stdout()).not.toContain(`epoch ${saved}/${EPOCHS} started`);
    expect(second.stdout()).toContain(`epoch ${saved + 1}/${EPOCHS} started`);
    expect(readStatus(root.mlRoot)).toMatchObject({ TrainingJobStatus: "Completed", trainguardExitCode: 0, resumedFrom: epochName(saved) });
    expect(sha256(path.join(root.mlRoot, "model", "weights.bin"))).toBe(baseline);
  });
});

describeE2E("examples/node-train under trainguard run as PID 1: SIGTERM during an epoch, then resume in a fresh ml-root", () => {
  it(`stopped during epoch ${STOP_DURING} (grace 3: the epoch is usually dropped): Stopped, archive of epoch ${STOP_DURING - 1} or ${STOP_DURING}; resumed from the checkpoint URI: identical weights`, async () => {
    const remote = path.join(scratch().base, "checkpoint-store");
    const options = ["--checkpoint-uri", `file://${remote}`];
    const job = startJob({ algorithm: [process.execPath, EXAMPLE], grace: 3, files: HPS_FILE, options });
    await job.waitUntil(`epoch ${STOP_DURING} to start`, () => job.stdout().includes(`epoch ${STOP_DURING}/${EPOCHS} started`), { timeoutMs: 30_000 });
    await sleep(100);
    const sentAt = job.signal("SIGTERM");
    const exit = await job.waitExit();
    expect(exit.code, job.describe()).toBe(0);
    expect(exit.at - sentAt).toBeLessThan(3_000);
    expect(job.status()).toMatchObject({ TrainingJobStatus: "Stopped", exitCode: 0, escalated: false, failureReason: null });
    // The library heard the stop (the signal, or the stop file written just before it, whichever
    // the event loop saw first) and took its checkpoint deadline from the supervisor's stop file.
    const heard = logLines(job.stderr()).find((l) => l.event === "library.stop");
    expect(["SIGTERM", "stop-file"]).toContain(heard?.source);
    expect(heard?.checkpointDeadline).toBe(job.stopRequest()?.checkpointDeadline);
    const saved = await expectStopArchive(job.mlRoot, job.stderr());

    const again = startJob({ algorithm: [process.execPath, EXAMPLE], grace: 3, files: HPS_FILE, options });
    const resumed = await again.waitExit(60_000);
    expect(resumed.code, again.describe()).toBe(0);
    expect(again.status()).toMatchObject({ TrainingJobStatus: "Completed", exitCode: 0 });
    expect(again.status().resumedFrom).toBe(epochName(saved));
    expect(again.stdout()).not.toContain(`epoch ${saved}/${EPOCHS} started`);
    expect(again.stdout()).toContain(`epoch ${saved + 1}/${EPOCHS} started`);
    expect(sha256(again.mlPath("model", "weights.bin"))).toBe(baseline);
    expect(readFileSync(again.mlPath("model", "model.json"), "utf8")).toContain(`"epochs": ${EPOCHS}`);
  });
});
