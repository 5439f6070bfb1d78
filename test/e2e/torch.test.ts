/**
 * PyTorch as users write it (examples/pytorch-train, Debian's python3-torch), as PID 1's algorithm
 * in a PID namespace: the three ways a real torch job used to lose its model, and stop-and-resume
 * ending with the same weights as a run never stopped.
 */
import { existsSync, statSync } from "node:fs";
import path from "node:path";
import { expect, it } from "vitest";
import { checkpointReserveMs } from "../../src/job/index.js";
import { describeE2E } from "../helpers/e2e.js";
import { REPO_ROOT, ms, startJob, type Job } from "../helpers/job.js";
import { pythonStreamExtract, readManifest, scratchDir, verifyCli } from "../helpers/stop-path.js";
import { TORCH_PYTHON, torchPython, torchSupport } from "../helpers/torch.js";

const EXAMPLE = path.join(REPO_ROOT, "examples", "pytorch-train");
const TRAIN = [TORCH_PYTHON, path.join(EXAMPLE, "train.py")];

/** Loads `file` (torch.save of {"model", "optimizer", "step"}) into a fresh model of the example; prints the step. */
function loadIntoFreshModel(file: string, hidden: number): number {
  const out = torchPython(
    "sys.path.insert(0, sys.argv[1])\nimport train\nm = train.make_model(int(sys.argv[3]), 1)\nstate = torch.load(sys.argv[2])\nm.load_state_dict(state['model'])\nprint(state['step'])",
    [EXAMPLE, file, String(hidden)],
  );
  return Number(out.trim());
}

function loads(file: string): boolean {
  try {
    torchPython("torch.load(sys.argv[1])", [file]);
    return true;
  } catch {
    return false;
  }
}

/** Waits until model.pt has been written whole once and kept, then until a rewrite has only begun (a quarter written). */
async function waitMidSave(job: Job, live: string): Promise<void> {
  const kept = job.mlPath("output", "trainguard", "intact", "model.pt");
  const whole = await job.waitUntil("an intact copy of model.pt", () => (existsSync(kept) ? statSync(kept).size : undefined), { timeoutMs: 60_000 });
  await job.waitUntil("model.pt being rewritten", () => {
    try {
      return statSync(live).size < whole / 4;
    } catch {
      return false;
    }
  }, { timeoutMs: 30_000, intervalMs: 0 });
}

function expectModelPtIntact(job: Job, hidden: number): void {
  const archive = job.mlPath("model", "model.tar.gz");
  const verified = verifyCli(archive);
  expect(verified.code, `verify: ${verified.stdout}${verified.stderr}`).toBe(0);
  const extracted = pythonStreamExtract(archive, "r|gz");
  expect(loadIntoFreshModel(path.join(extracted, "model.pt"), hidden)).toBeGreaterThan(0);
}

describeE2E("PyTorch: a torn model.pt is never the model", () => {
  it.skipIf(!torchSupport.ok)("case 1: no SIGTERM handler, the forwarded SIGTERM kills it inside torch.save -> the last intact model.pt is packaged, verify OK, it loads", async () => {
    // hidden 2048: about 34 MB per torch.save, long enough to be caught in the middle of one.
    const HIDDEN = 2048;
    const job = startJob({ algorithm: TRAIN, grace: 20, env: { MODE: "overwrite", STEPS: "100000", SAVE_EVERY: "2", HIDDEN: String(HIDDEN) } });
    const live = job.mlPath("checkpoints", "model.pt");
    await waitMidSave(job, live);
    job.signal("SIGTERM");
    const exit = await job.waitExit();
    expect(exit.code, job.describe()).toBe(143);
    // The signal cut the live file in half: what was on disk is not a model.
    expect(loads(live), "the live model.pt was torn by the signal").toBe(false);
    const status = job.status();
    expect(status).toMatchObject({ TrainingJobStatus: "Stopped", escalated: false, failureReason: null });
    expectModelPtIntact(job, HIDDEN);
    expect(job.eventsOf("artifact.intact-copy").map((e) => e.path)).toEqual(["model.pt"]);
  });

  it.skipIf(!torchSupport.ok)("case 2: SIGTERM ignored, 164 MB model.pt rewritten when SIGKILLed at the checkpoint deadline -> the last intact model.pt is packaged", async () => {
    // hidden 4500: 2 x 20.3 M float32 (weights and momentum), about 164 MB per torch.save.
    const HIDDEN = 4500;
    const job = startJob({ algorithm: TRAIN, grace: 12, env: { MODE: "overwrite", ON_TERM: "ignore", STEPS: "100000", SAVE_EVERY: "1", HIDDEN: String(HIDDEN), STEP_SECONDS: "0.2" } });
    const live = job.mlPath("checkpoints", "model.pt");
    await waitMidSave(job, live);
    job.signal("SIGTERM");
    const exit = await job.waitExit();
    expect(exit.code, job.describe()).toBe(137);
    const status = job.status();
    expect(status).toMatchObject({ TrainingJobStatus: "Stopped", escalated: true });
    // Whatever moment the kill hit (the truncating open, mid-write, between saves), the model loads.
    expectModelPtIntact(job, HIDDEN);
    if (!loads(live)) expect(job.eventsOf("artifact.intact-copy").map((e) => e.path)).toEqual(["model.pt"]);
  }, 120_000);
});

describeE2E("PyTorch: checkpoints in step-N/ with the commit marker", () => {
  it.skipIf(!torchSupport.ok)("case 3: stopped seconds after a big first checkpoint -> the reserve is sized from it at the stop, and it is packaged", async () => {
    // hidden 4000: about 128 MB per checkpoint, more than the 2 s reserve floor covers.
    const HIDDEN = 4000;
    // The algorithm saves a last 128 MB checkpoint on SIGTERM (seconds on a busy disk) before packaging starts.
    const GRACE = 30;
    const job = startJob({ algorithm: TRAIN, grace: GRACE, env: { STEPS: "100000", SAVE_EVERY: "2", HIDDEN: String(HIDDEN) } });
    const marker = job.mlPath("checkpoints", "step-2", ".trainguard-commit");
    await job.waitUntil("the first checkpoint", () => existsSync(marker), { timeoutMs: 60_000 });
    job.signal("SIGTERM");
    const exit = await job.waitExit();
    expect(exit.code, job.describe()).toBe(0);
    const request = job.stopRequest();
    if (!request) throw new Error("no stop-request.json");
    const bytes = statSync(job.mlPath("checkpoints", "step-2", "checkpoint.pt")).size;
    const reserve = ms(request.deadline) - ms(request.checkpointDeadline);
    expect(reserve).toBeGreaterThanOrEqual(checkpointReserveMs(bytes, GRACE * 1000));
    expect(reserve).toBeGreaterThan(2_000);
    const status = job.status();
    expect(status).toMatchObject({ TrainingJobStatus: "Stopped", failureReason: null });
    expect(status.artifact?.checkpoint).toMatch(/^step-\d+$/);
  }, 120_000);

  it.skipIf(!torchSupport.ok)("stopped during a step, resumed, finished: the final weights are bit-identical to a run never stopped; the stopped job's archive loads into a fresh model", async () => {
    const HIDDEN = 64;
    const shared = scratchDir("torch-resume");
    const env = { STEPS: "300", SAVE_EVERY: "25", HIDDEN: String(HIDDEN), STEP_SECONDS: "0.01", SEED: "7" };
    const first = startJob({ algorithm: TRAIN, grace: 20, options: ["--checkpoint-dir", shared], env });
    await first.waitUntil("step-25", () => existsSync(path.join(shared, "step-25", ".trainguard-commit")), { timeoutMs: 60_000 });
    first.signal("SIGTERM");
    expect((await first.waitExit()).code, first.describe()).toBe(0);
    expect(first.stdout()).toContain("SIGTERM received");
    const stopped = first.status();
    expect(stopped.TrainingJobStatus).toBe("Stopped");
    const archive = first.mlPath("model", "model.tar.gz");
    const manifest = readManifest(`${archive}.manifest.json`);
    const k = Number(/^step-(\d+)$/.exec(manifest.checkpoint)?.[1]);
    expect(k).toBeGreaterThan(25);
    expect(k).toBeLessThan(300);
    const extracted = pythonStreamExtract(archive, "r|gz");
    expect(loadIntoFreshModel(path.join(extracted, "checkpoint.pt"), HIDDEN)).toBe(k);

    const resumed = startJob({ algorithm: TRAIN, grace: 20, options: ["--checkpoint-dir", shared], env });
    expect((await resumed.waitExit(120_000)).code, resumed.describe()).toBe(0);
    expect(resumed.stdout()).toContain(`resuming from ${path.join(shared, `step-${k}`)} (step ${k})`);

    const never = startJob({ algorithm: TRAIN, grace: 20, env });
    expect((await never.waitExit(120_000)).code, never.describe()).toBe(0);
    const digest = (job: Job): string => job.stdout().match(/weights digest ([0-9a-f]{64})/)?.[1] ?? "none";
    expect(digest(resumed)).toMatch(/^[0-9a-f]{64}$/);
    expect(digest(resumed)).toBe(digest(never));
  }, 180_000);
});
