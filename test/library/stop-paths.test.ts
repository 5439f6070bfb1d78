/**
 * The two ways a training function lets the stop path down, in both modes: it ignores ctx.signal
 * (the archive is still made, before the deadline, from the newest complete checkpoint), or it
 * throws (Failed, the failure file holds its message).
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { describeE2E } from "../helpers/e2e.js";
import { ms, startJob } from "../helpers/job.js";
import { EXAMPLE, FIXTURES, checkpointEntries, failureFile, readStatus, runNode, scratch, verifiedModel } from "./helpers.js";

const IGNORE = path.join(FIXTURES, "ignore-signal.mjs");
const THROWS = path.join(FIXTURES, "throws.mjs");
const GRACE = 4;
/** checkpointReserveMs for a few hundred KiB: the floor, 2 s (at most half the grace). */
const RESERVE_MS = 2_000;

/** The archive is one complete step-N checkpoint, data and all. */
async function expectCompleteStep(mlRoot: string): Promise<string> {
  const report = await verifiedModel(mlRoot);
  expect(report.manifest.checkpoint).toMatch(/^step-\d{6}$/);
  expect(report.manifest.reason).toBe("Stopped");
  expect(report.manifest.files.map((f) => f.path).sort()).toEqual([".trainguard-commit", "data.bin", "step.json"]);
  expect(report.manifest.files.find((f) => f.path === "data.bin")?.size).toBe(256 * 1024);
  return report.manifest.checkpoint;
}

/** The step of the last "saved step N" line. */
function lastSavedStep(stdout: string): number {
  return Number(/saved step (\d+)\n(?![\s\S]*saved step)/.exec(stdout)?.[1]);
}

describe("in-process: a training function that ignores ctx.signal", () => {
  it(`grace ${GRACE}: at the checkpoint deadline the newest complete checkpoint is packaged without it; exit 143 before the deadline`, async () => {
    const root = scratch();
    const run = runNode(IGNORE, root, { TRAINGUARD_GRACE: String(GRACE) });
    await run.waitForStdout(/saved step 3\n/);
    run.signal("SIGTERM");
    const savedBeforeStop = lastSavedStep(run.stdout());
    const exit = await run.waitExit(GRACE * 1000 + 5_000);
    // 128 + SIGTERM: the stop was not finished by the training function.
    expect(exit.code, run.describe()).toBe(143);

    const status = readStatus(root.mlRoot);
    // Ended by the checkpoint deadline (not earlier), before the deadline.
    expect(exit.at).toBeLessThan(ms(status.deadline));
    expect(exit.at).toBeGreaterThanOrEqual(ms(status.checkpointDeadline));
    expect(status).toMatchObject({ TrainingJobStatus: "Stopped", stopSignal: "SIGTERM", escalated: true, trainguardExitCode: 143 });
    expect(ms(status.deadline) - ms(status.checkpointDeadline)).toBe(RESERVE_MS);
    expect(status.transitions.at(-1)?.message).toBe("training function did not return by the checkpoint deadline");
    const packaged = await expectCompleteStep(root.mlRoot);
    // It went on saving after the stop until the deadline froze the checkpoints; the newest one
    // (or, when a commit raced the freeze, the one before) is what was packaged.
    const lastSaved = lastSavedStep(run.stdout());
    expect(lastSaved).toBeGreaterThan(savedBeforeStop);
    expect(Number(packaged.slice("step-".length))).toBeGreaterThanOrEqual(lastSaved - 1);
    expect(Number(packaged.slice("step-".length))).toBeLessThanOrEqual(lastSaved);
    // Only complete checkpoints are left: the save in flight at the deadline was cleared.
    expect(checkpointEntries(path.join(root.mlRoot, "checkpoints")).other).toEqual([]);
  });
});

describe("in-process: a training function that throws", () => {
  it("Failed, exit 1, failure file: the message first, the stack after; the checkpoint it saved is packaged", async () => {
    const root = scratch({ learning_rate: "0.5" });
    const run = runNode(THROWS, root);
    const exit = await run.waitExit();
    expect(exit.code, run.describe()).toBe(1);
    const failure = failureFile(root.mlRoot) ?? "";
    expect(failure.split("\n").slice(0, 2)).toEqual(["loss diverged at step 2 (learning_rate 0.5)", "the gradient norm was NaN"]);
    expect(failure).toMatch(/\n\s+at .*throws\.mjs/);
    expect(failure.length).toBeLessThanOrEqual(1024);
    expect(readStatus(root.mlRoot)).toMatchObject({ TrainingJobStatus: "Failed", trainguardExitCode: 1 });
    const report = await verifiedModel(root.mlRoot);
    expect(report.manifest).toMatchObject({ checkpoint: "step-000001", reason: "Failed" });
  });
});

describe("in-process: an exception that escapes the training function (thrown from a timer)", () => {
  it("Node's own crash, exit 1, still leaves status Failed and the failure file with the error", async () => {
    const root = scratch();
    const run = runNode(path.join(FIXTURES, "uncaught.mjs"), root);
    const exit = await run.waitExit();
    expect(exit.code, run.describe()).toBe(1);
    expect(run.stderr()).toContain("RangeError: batch index 4096 out of range");
    expect(failureFile(root.mlRoot)?.split("\n")[0]).toBe("RangeError: batch index 4096 out of range");
    expect(readStatus(root.mlRoot)).toMatchObject({ TrainingJobStatus: "Failed", trainguardExitCode: 1, failureReason: expect.stringMatching(/^RangeError: batch index 4096/) });
  });
});

describeE2E("under trainguard run as PID 1", () => {
  it(`a training function that ignores ctx.signal: SIGKILLed at the checkpoint deadline, the archive is a complete checkpoint (never a staged one), exit 137 before the deadline`, async () => {
    const job = startJob({ algorithm: [process.execPath, IGNORE], grace: GRACE });
    await job.waitUntil("step 3 saved", () => /saved step 3\n/.test(job.stdout()), { timeoutMs: 20_000 });
    job.signal("SIGTERM");
    const exit = await job.waitExit();
    expect(exit.code, job.describe()).toBe(137);
    expect(exit.at).toBeLessThan(ms(job.status().deadline));
    expect(job.status()).toMatchObject({ TrainingJobStatus: "Stopped", escalated: true, signal: "SIGKILL" });
    await expectCompleteStep(job.mlRoot);
  });

  it("--stop-signal SIGUSR2 (whose default action kills): the library handles it (TRAINGUARD_STOP_SIGNAL), saves, exit 0", async () => {
    const hps = JSON.stringify({ epochs: "50", samples: "20000" });
    const job = startJob({
      algorithm: [process.execPath, EXAMPLE],
      grace: 10,
      options: ["--stop-signal", "SIGUSR2"],
      env: { TRAINGUARD_LOG_LEVEL: "debug" },
      files: { "input/config/hyperparameters.json": hps },
    });
    await job.waitUntil("epoch 2 to start", () => job.stdout().includes("epoch 2/50 started"), { timeoutMs: 20_000 });
    job.signal("SIGTERM");
    const exit = await job.waitExit();
    expect(exit.code, job.describe()).toBe(0);
    // Heard as the stop itself, or (when the stop file was seen first) right after it: never fatal.
    const heard = [...job.eventsOf("library.stop"), ...job.eventsOf("library.stop-repeated")].map((e) => e.source);
    expect(heard).toContain("SIGUSR2");
    expect(job.status()).toMatchObject({ TrainingJobStatus: "Stopped", exitCode: 0, signal: null });
    const report = await verifiedModel(job.mlRoot);
    expect(report.manifest.checkpoint).toMatch(/^epoch-\d{4}$/);
  });

  it("a training function that throws: Failed, exit 1, the failure file is the library's (message first), not the supervisor's", async () => {
    const job = startJob({ algorithm: [process.execPath, THROWS], files: { "input/config/hyperparameters.json": '{"learning_rate": "0.5"}' } });
    const exit = await job.waitExit();
    expect(exit.code, job.describe()).toBe(1);
    const failure = job.failureFile() ?? "";
    expect(failure.split("\n").slice(0, 2)).toEqual(["loss diverged at step 2 (learning_rate 0.5)", "the gradient norm was NaN"]);
    expect(failure).not.toContain("Algorithm failed");
    expect(job.status()).toMatchObject({ TrainingJobStatus: "Failed", exitCode: 1 });
    const report = await verifiedModel(job.mlRoot);
    expect(report.manifest).toMatchObject({ checkpoint: "step-000001", reason: "Failed" });
  });
});
