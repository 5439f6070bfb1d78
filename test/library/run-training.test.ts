// runTraining in this process (in-process mode, `exit: false`): the context it hands over, and how
// a throwing training function, a throwing checkpoint writer and bad options end the job.
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { runTraining, type TrainingContext } from "../../src/index.js";
import { failureFile, readStatus, scratch, verifiedModel } from "./helpers.js";

const QUIET = { logLevel: "silent", exit: false } as const;

describe("runTraining in-process (exit: false)", () => {
  it("hands over the job: name, typed hyperparameters, channels, dirs, hosts, leader; Completed keeps the model dir", async () => {
    const { mlRoot } = scratch({ epochs: "3", lr: "0.01", model: '"resnet"' });
    const config = path.join(mlRoot, "input", "config");
    writeFileSync(path.join(config, "resourceconfig.json"), JSON.stringify({ current_host: "algo-2", hosts: ["algo-1", "algo-2"] }));
    writeFileSync(path.join(config, "inputdataconfig.json"), JSON.stringify({ train: {}, validation: {} }));
    let seen: Partial<TrainingContext> & { epochs?: number; lr?: number; model?: string } = {};
    const result = await runTraining(
      async (ctx) => {
        seen = { ...ctx, epochs: ctx.hp.integer("epochs"), lr: ctx.hp.number("lr"), model: ctx.hp.string("model") };
        expect(ctx.signal.aborted).toBe(false);
        expect(ctx.deadline).toBeNull();
        expect(ctx.timeLeftMs()).toBe(Number.POSITIVE_INFINITY);
        expect(await ctx.latestCheckpoint()).toBeNull();
        await writeFile(path.join(ctx.dirs.model, "model.txt"), "final model\n");
      },
      { ...QUIET, mlRoot, jobName: "lib-context-1" },
    );
    expect(result).toEqual({ status: "Completed", exitCode: 0 });
    expect(seen).toMatchObject({
      jobName: "lib-context-1",
      epochs: 3,
      lr: 0.01,
      model: "resnet",
      hyperparameters: { epochs: 3, lr: 0.01, model: "resnet" },
      channels: { train: path.join(mlRoot, "input", "data", "train"), validation: path.join(mlRoot, "input", "data", "validation") },
      dirs: {
        model: path.join(mlRoot, "model"),
        output: path.join(mlRoot, "output"),
        outputData: path.join(mlRoot, "output", "data"),
        checkpoints: path.join(mlRoot, "checkpoints"),
        input: path.join(mlRoot, "input"),
      },
      hosts: ["algo-1", "algo-2"],
      currentHost: "algo-2",
      isLeader: false,
      supervised: false,
    });
    const status = readStatus(mlRoot);
    expect(status).toMatchObject({ TrainingJobName: "lib-context-1", TrainingJobStatus: "Completed", trainguardExitCode: 0, failureReason: null });
    expect(status.transitions.map((t) => t.secondaryStatus)).toEqual(["Starting", "Training", "Completed"]);
    // Completed keeps the model the function wrote (on-complete keep): no archive replaces it.
    expect(readdirSync(path.join(mlRoot, "model"))).toEqual(["model.txt"]);
    expect(failureFile(mlRoot)).toBeUndefined();
  });

  it("a checkpoint writer that throws: the save rejects, nothing is left behind, the previous checkpoint is intact", async () => {
    const { mlRoot } = scratch();
    const checkpoints = path.join(mlRoot, "checkpoints");
    const result = await runTraining(
      async (ctx) => {
        await ctx.saveCheckpoint("epoch-0001", async (dir) => writeFile(path.join(dir, "weights.bin"), "epoch 1"));
        const failing = async (dir: string): Promise<void> => {
          await writeFile(path.join(dir, "weights.bin"), "half of epoch 2");
          throw new Error("ENOSPC: no space left on device");
        };
        await expect(ctx.saveCheckpoint("epoch-0002", failing)).rejects.toThrow("ENOSPC");
        await expect(ctx.saveCheckpoint("epoch-0001", failing)).rejects.toThrow("ENOSPC");
        // Nothing in the checkpoint dir but the one complete checkpoint, hidden entries included.
        expect(readdirSync(checkpoints)).toEqual(["epoch-0001"]);
        expect(readFileSync(path.join(checkpoints, "epoch-0001", "weights.bin"), "utf8")).toBe("epoch 1");
        expect((await ctx.latestCheckpoint())?.name).toBe("epoch-0001");
      },
      { ...QUIET, mlRoot },
    );
    expect(result).toEqual({ status: "Completed", exitCode: 0 });
  });

  it("train that throws: Failed, exit 1, the failure file holds the message then the stack, the newest checkpoint is packaged", async () => {
    const { mlRoot } = scratch();
    const result = await runTraining(
      async (ctx) => {
        await ctx.saveCheckpoint("epoch-0001", async (dir) => writeFile(path.join(dir, "weights.bin"), "epoch 1"));
        throw new Error("loss diverged at epoch 2\ngradient norm NaN");
      },
      { ...QUIET, mlRoot },
    );
    expect(result).toEqual({ status: "Failed", exitCode: 1 });
    const failure = failureFile(mlRoot) ?? "";
    const lines = failure.split("\n");
    expect(lines[0]).toBe("loss diverged at epoch 2");
    expect(lines[1]).toBe("gradient norm NaN");
    expect(lines[2]).toMatch(/^\s+at .*run-training\.test\.ts/);
    expect(failure.length).toBeLessThanOrEqual(1024);
    const status = readStatus(mlRoot);
    expect(status).toMatchObject({ TrainingJobStatus: "Failed", trainguardExitCode: 1, failureReason: failure.trimEnd() });
    expect(status.transitions.map((t) => t.secondaryStatus)).toEqual(["Starting", "Training", "Uploading", "Failed"]);
    const report = await verifiedModel(mlRoot);
    expect(report.manifest).toMatchObject({ checkpoint: "epoch-0001", reason: "Failed" });
  });

  it("a malformed hyperparameter fails the job with a reason naming it", async () => {
    const { mlRoot } = scratch({ epochs: "ten" });
    const result = await runTraining(
      (ctx) => {
        ctx.hp.integer("epochs", 5);
      },
      { ...QUIET, mlRoot },
    );
    expect(result).toEqual({ status: "Failed", exitCode: 1 });
    expect(failureFile(mlRoot)?.split("\n")[0]).toBe(`${path.join(mlRoot, "input", "config", "hyperparameters.json")}: field "epochs": hyperparameter must be an integer (e.g. "10"), got "ten"`);
  });

  it("invalid options: exit 2, the function never runs, failure file and status say which option", async () => {
    const { mlRoot } = scratch();
    let ran = false;
    const result = await runTraining(
      () => {
        ran = true;
      },
      { ...QUIET, mlRoot, grace: 0 },
    );
    expect(result).toEqual({ status: "Failed", exitCode: 2 });
    expect(ran).toBe(false);
    expect(failureFile(mlRoot)).toMatch(/^trainguard: invalid options, the training function was not started\.\nrunTraining option grace: must be a number of seconds above 0/);
    expect(readStatus(mlRoot)).toMatchObject({ TrainingJobStatus: "Failed", trainguardExitCode: 2 });
  });

  it("an invalid configuration file: exit 2 before the function runs", async () => {
    const { mlRoot } = scratch();
    mkdirSync(path.join(mlRoot, "input", "config"), { recursive: true });
    writeFileSync(path.join(mlRoot, "input", "config", "resourceconfig.json"), '{"current_host": ""}');
    let ran = false;
    const result = await runTraining(
      () => {
        ran = true;
      },
      { ...QUIET, mlRoot },
    );
    expect(result).toEqual({ status: "Failed", exitCode: 2 });
    expect(ran).toBe(false);
    expect(failureFile(mlRoot)).toMatch(/resourceconfig\.json: field "current_host"/);
  });

  it("one job per process: a second concurrent runTraining is refused", async () => {
    const { mlRoot } = scratch();
    let release: () => void = () => undefined;
    let started: () => void = () => undefined;
    const running = new Promise<void>((resolve) => (started = resolve));
    const first = runTraining(
      () =>
        new Promise<void>((resolve) => {
          release = resolve;
          started();
        }),
      { ...QUIET, mlRoot },
    );
    await expect(runTraining(() => undefined, { ...QUIET, mlRoot })).rejects.toThrow(/already running/);
    await running;
    release();
    expect(await first).toEqual({ status: "Completed", exitCode: 0 });
    expect(existsSync(path.join(mlRoot, "output", "trainguard", "status.json"))).toBe(true);
  });
});
