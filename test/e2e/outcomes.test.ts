import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect, it, onTestFinished } from "vitest";
import { FAILED_AFTER_TRAINING, expectEventOrder, expectTransitions } from "../helpers/assertions.js";
import { LANGUAGES, algorithm, describeE2E } from "../helpers/e2e.js";
import { startJob } from "../helpers/job.js";

const VISIBLE = 1024;

describeE2E("outcomes without a stop", () => {
  for (const lang of LANGUAGES) {
    it(`${lang}: finishes normally -> Completed, exit 0, output passed through`, async () => {
      const job = startJob({ algorithm: algorithm(lang, "complete") });
      const exit = await job.waitExit();
      expect(exit.code).toBe(0);
      const status = job.status();
      expectTransitions(status, [
        ["InProgress", "Starting"],
        ["InProgress", "Training"],
        ["Completed", "Completed"],
      ]);
      expect(status).toMatchObject({
        TrainingJobName: job.jobName,
        exitCode: 0,
        signal: null,
        failureReason: null,
        trainguardExitCode: 0,
        stopRequestedAt: null,
        deadline: null,
        escalated: false,
      });
      expect(job.failureFile()).toBeUndefined();
      expect(job.stopRequest()).toBeUndefined();
      expect(existsSync(job.mlPath("model", "model.txt"))).toBe(true);
      // The algorithm's stdout and stderr reach trainguard's.
      expect(job.stdout()).toContain(`${lang} algorithm: epoch 1/1 done (stdout)\n`);
      expect(job.stderr()).toContain(`${lang} algorithm: a warning on stderr\n`);
      expectEventOrder(job, ["job.start", "config.loaded", "algorithm.start", "algorithm.exit", "job.end"]);
      expect(job.eventsOf("job.end")[0]).toMatchObject({ status: "Completed", exitCode: 0 });
    });

    it(`${lang}: fails normally (exit 5, stderr) -> Failed, exit 5, failure file with the exit code and the stderr tail`, async () => {
      const job = startJob({ algorithm: algorithm(lang, "fail") });
      const exit = await job.waitExit();
      expect(exit.code).toBe(5);
      const status = job.status();
      expectTransitions(status, FAILED_AFTER_TRAINING);
      expect(status).toMatchObject({ exitCode: 5, signal: null, trainguardExitCode: 5, stopRequestedAt: null });
      const failure = job.failureFile();
      expect(failure).toBeDefined();
      const visible = (failure ?? "").slice(0, VISIBLE);
      expect(visible).toContain("exit code 5");
      expect(visible).toContain(`FATAL: ${lang} algorithm diverged (loss=nan)`);
      expect(visible).toContain("noise line 120 of the training log");
      expect(status.failureReason?.trimEnd()).toBe(failure?.trimEnd());
      // All of stderr still passed through.
      expect(job.stderr()).toContain(`${lang} algorithm: noise line 1 of the training log`);
      expect(job.stderr()).toContain(`FATAL: ${lang} algorithm diverged (loss=nan)`);
    });
  }

  it("a command that does not exist -> exit 127, Failed, failure reason naming the command", async () => {
    const missing = "tg-e2e-no-such-command";
    const job = startJob({ algorithm: [missing, "--epochs", "3"] });
    const exit = await job.waitExit();
    expect(exit.code).toBe(127);
    const status = job.status();
    expect(status).toMatchObject({ TrainingJobStatus: "Failed", SecondaryStatus: "Failed", trainguardExitCode: 127 });
    const failure = job.failureFile() ?? "";
    expect(failure).toContain(missing);
    expect(failure).toMatch(/not found/i);
    expect(status.failureReason).toContain(missing);
    expect(job.eventNames()).not.toContain("algorithm.start");
  });

  it("a command that is not executable -> exit 126, Failed, failure reason naming it", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "tg-e2e-noexec-"));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const script = path.join(dir, "train.sh");
    writeFileSync(script, "#!/bin/sh\nexit 0\n");
    chmodSync(script, 0o644);
    const job = startJob({ algorithm: [script] });
    const exit = await job.waitExit();
    expect(exit.code).toBe(126);
    expect(job.status()).toMatchObject({ TrainingJobStatus: "Failed", SecondaryStatus: "Failed", trainguardExitCode: 126 });
    expect(job.failureFile()).toContain(script);
    expect(job.eventNames()).not.toContain("algorithm.start");
  });
});

describeE2E("configuration errors", () => {
  it("malformed input/config/hyperparameters.json -> exit 2, Failed, failure file names the file, algorithm not started", async () => {
    const job = startJob({
      algorithm: algorithm("sh", "complete"),
      files: { "input/config/hyperparameters.json": '{"epochs": "3",' },
    });
    const exit = await job.waitExit();
    expect(exit.code).toBe(2);
    const file = job.mlPath("input", "config", "hyperparameters.json");
    expect(job.failureFile()).toContain(file);
    const status = job.status();
    expect(status).toMatchObject({ TrainingJobStatus: "Failed", SecondaryStatus: "Failed", trainguardExitCode: 2, pid: null });
    expect(status.failureReason).toContain(file);
    expect(job.testFile("started"), "the algorithm never ran").toBeUndefined();
    expect(job.eventNames()).toContain("config.invalid");
    expect(job.eventNames()).not.toContain("algorithm.start");
  });

  it("an invalid option (--grace abc) -> exit 2, Failed, failure file names the option, algorithm not started", async () => {
    const job = startJob({ algorithm: algorithm("sh", "complete"), options: ["--grace", "abc"] });
    const exit = await job.waitExit();
    expect(exit.code).toBe(2);
    expect(job.failureFile()).toContain("--grace");
    expect(job.testFile("started"), "the algorithm never ran").toBeUndefined();
    expect(job.stderr()).toContain("--grace");
    // The contract: a configuration error is a Failed job, in status.json as everywhere else.
    expect(job.readStatus()).toMatchObject({ TrainingJobStatus: "Failed", trainguardExitCode: 2 });
  });
});

describeE2E("forwarded signals", () => {
  for (const lang of LANGUAGES) {
    it(`${lang}: SIGHUP and SIGUSR2 reach the algorithm and do not stop the job`, async () => {
      const job = startJob({ algorithm: algorithm(lang, "signals") });
      await job.waitReady();
      const log = () => (job.testFile("signals.log") ?? "").split("\n").filter(Boolean);
      await job.waitUntil("status Training", () => job.readStatus()?.SecondaryStatus === "Training");
      job.signal("SIGHUP");
      await job.waitUntil("HUP recorded", () => log().includes("HUP"));
      job.signal("SIGUSR2");
      await job.waitUntil("USR2 recorded", () => log().includes("USR2"));
      expect(job.status()).toMatchObject({ TrainingJobStatus: "InProgress", SecondaryStatus: "Training", stopRequestedAt: null });
      // trainguard logs after signalling, so the algorithm may record a signal before the line is read.
      await job.waitUntil("both forwards logged", () => job.eventsOf("signal.forwarded").length >= 2);
      expect(job.eventNames()).not.toContain("stop.requested");
      expect(job.eventsOf("signal.forwarded").map((e) => e.signal)).toEqual(["SIGHUP", "SIGUSR2"]);

      job.signal("SIGTERM");
      const exit = await job.waitExit();
      expect(exit.code).toBe(0);
      expect(log()).toEqual(["HUP", "USR2", "TERM"]);
      expect(job.status()).toMatchObject({ TrainingJobStatus: "Stopped", exitCode: 0 });
    });
  }
});
