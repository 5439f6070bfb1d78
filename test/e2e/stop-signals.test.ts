import { existsSync } from "node:fs";
import { expect, it } from "vitest";
import { STOPPED_WHILE_TRAINING, expectTransitions } from "../helpers/assertions.js";
import { algorithm, describeE2E } from "../helpers/e2e.js";
import { launchJob, ms, startJob, type HandlerRecord, type Job } from "../helpers/job.js";
import { spamUntilStopFile, watchStartup } from "../helpers/startup.js";
import { sleep } from "../helpers/wait.js";

describeE2E("stop signals: repeated, SIGINT", () => {
  it("SIGTERM twice: the second never moves the deadline and is logged as stop.repeated", async () => {
    const job = startJob({ algorithm: algorithm("python", "save"), grace: 10, env: { TG_SAVE_SECONDS: "0.8" } });
    await job.waitReady();
    job.signal("SIGTERM");
    await job.waitForTestFile("handler.json");
    const first = job.stopRequest();
    expect(first).toBeDefined();
    // status.json follows the stop request (asynchronously); wait for it to show the deadline.
    const statusAfterFirst = await job.waitUntil("status.json with the deadline", () => (job.readStatus()?.deadline ? job.readStatus() : undefined));
    await sleep(200);
    job.signal("SIGTERM");
    const exit = await job.waitExit();

    expect(exit.code).toBe(0);
    const status = job.status();
    expect(status.TrainingJobStatus).toBe("Stopped");
    expect(status.deadline).toBe(first?.deadline);
    expect(status.deadline).toBe(statusAfterFirst.deadline);
    expect(status.checkpointDeadline).toBe(first?.checkpointDeadline);
    expect(status.stopRequestedAt).toBe(first?.requestedAt);
    expect(job.stopRequest()).toEqual(first);
    expect(job.eventsOf("stop.requested")).toHaveLength(1);
    const repeated = job.eventsOf("stop.repeated");
    expect(repeated).toHaveLength(1);
    expect(repeated[0]).toMatchObject({ signal: "SIGTERM", deadline: first?.deadline });
    expect(existsSync(job.mlPath("checkpoints", "step-000042", ".trainguard-commit"))).toBe(true);
  });

  it("SIGINT as the stop, algorithm without a handler: SIGTERM forwarded, exit 143, Stopped, stopSignal SIGINT", async () => {
    const job = startJob({ algorithm: algorithm("sh", "default"), grace: 10 });
    await job.waitReady();
    const sentAt = job.signal("SIGINT");
    const exit = await job.waitExit();
    expect(exit.code).toBe(128 + 15);
    expect(exit.at - sentAt).toBeLessThan(2_000);
    const request = job.stopRequest();
    expect(request).toMatchObject({ signal: "SIGINT", graceSeconds: 10 });
    const status = job.status();
    expectTransitions(status, STOPPED_WHILE_TRAINING);
    expect(status).toMatchObject({ stopSignal: "SIGINT", exitCode: null, signal: "SIGTERM", escalated: false, trainguardExitCode: 143 });
    // This algorithm saves nothing: the job still stops cleanly, and says no model was saved.
    expect(status.failureReason).toMatch(/^No model was saved: .*checkpoints is empty/);
    expect(job.eventsOf("stop.requested")[0]).toMatchObject({ signal: "SIGINT" });
    expect(job.eventsOf("stop.forwarded")[0]).toMatchObject({ signal: "SIGTERM" });
  });

  it("SIGINT as the stop, algorithm that saves: exit 0, Stopped, its handler saw a SIGINT stop request", async () => {
    const job = startJob({ algorithm: algorithm("python", "save"), grace: 10 });
    await job.waitReady();
    job.signal("SIGINT");
    const exit = await job.waitExit();
    expect(exit.code).toBe(0);
    const handler = job.testJson<HandlerRecord>("handler.json");
    expect(handler).toMatchObject({ existed: true, content: { signal: "SIGINT" } });
    expect(job.status()).toMatchObject({ TrainingJobStatus: "Stopped", stopSignal: "SIGINT", exitCode: 0, trainguardExitCode: 0 });
  });
});

/** What must hold when a stop arrived before the algorithm could start. */
async function expectStoppedBeforeStart(job: Job, signal: "SIGTERM" | "SIGINT"): Promise<void> {
  const exit = await job.waitExit();
  const status = job.status();
  expect(exit.code).toBe(signal === "SIGTERM" ? 143 : 130);
  expect(status.TrainingJobStatus).toBe("Stopped");
  expect(status).toMatchObject({ stopSignal: signal, pid: null, exitCode: null, trainguardExitCode: exit.code });
  expect(job.testFile("started"), "the algorithm never started").toBeUndefined();
  expect(job.eventNames()).not.toContain("algorithm.start");
  // Within the budget: the stop was served before first-signal + grace.
  expect(exit.at).toBeLessThan(ms(status.deadline));
  expect(ms(status.deadline) - ms(status.stopRequestedAt)).toBe(job.grace * 1000);
  expect(ms(status.endedAt)).toBeGreaterThanOrEqual(ms(status.stopRequestedAt));
  // The stop request is on disk, as for every stop ("written on stop").
  const request = job.stopRequest();
  expect(request, "stop-request.json after a stop during start-up").toBeDefined();
  expect(request).toMatchObject({ signal, requestedAt: status.stopRequestedAt, deadline: status.deadline });
}

describeE2E("stop during start-up", () => {
  it("SIGTERM every 2 ms from the moment PID 1 exists (a re-sending platform) -> Stopped 143 within the budget, algorithm never started", async () => {
    const job = launchJob({ algorithm: algorithm("sh", "save"), grace: 5 });
    const spam = spamUntilStopFile(job, "SIGTERM", 2, 10_000);
    await job.waitExit();
    const status = job.status();
    const caughtAfter = status.stopRequestedAt ? ms(status.stopRequestedAt) - spam.pid1SeenAt : NaN;
    console.log(
      `[start-up] re-sent SIGTERM every 2 ms: ${spam.sent} sent, the first caught ${caughtAfter} ms after PID 1 appeared ` +
        `(spam ended by ${spam.endedBy}); job ended ${(job.exit?.at ?? 0) - spam.pid1SeenAt} ms after PID 1 appeared`,
    );
    await expectStoppedBeforeStart(job, "SIGTERM");
    expect(spam.sent).toBeGreaterThan(0);
    expect(job.eventsOf("stop.requested")[0]).toMatchObject({ signal: "SIGTERM", phase: "starting" });
    // The re-sending stopped because the stop request appeared, not because the job was over.
    expect(spam.endedBy).toBe("stop-file");
  });

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it(`a single ${signal} as soon as trainguard's handlers are installed -> Stopped ${signal === "SIGTERM" ? 143 : 130}, algorithm never started`, async () => {
      const job = launchJob({ algorithm: algorithm("sh", "save"), grace: 5 });
      let sentAt = 0;
      const timeline = watchStartup(job, () => {
        sentAt = job.signal(signal);
      });
      const rel = (t: number | undefined): string => (t === undefined ? "never" : `+${t - timeline.pid1SeenAt} ms`);
      console.log(
        `[start-up] PID 1 seen at +0, exec'd node ${rel(timeline.execAt)}, Node's native SIGTERM handler ${rel(timeline.nativeTermAt)}, ` +
          `trainguard's handlers installed ${rel(timeline.handlerAt)}; ${signal} sent ${rel(sentAt)}`,
      );
      expect(sentAt).toBeGreaterThan(0);
      await expectStoppedBeforeStart(job, signal);
      // The budget counts from when the signal arrived, not from when it was dealt with.
      expect(ms(job.status().stopRequestedAt)).toBeLessThan(sentAt + 100);
    });
  }
});
