import { statSync } from "node:fs";
import { expect, it } from "vitest";
import { STOPPED_WHILE_TRAINING, expectEventOrder, expectTransitions } from "../helpers/assertions.js";
import { LANGUAGES, algorithm, describeE2E, expectedReserveMs } from "../helpers/e2e.js";
import { ms, startJob, type HandlerRecord } from "../helpers/job.js";

const SAVE_MS = 300;
const GRACE = 10;

describeE2E("stop: the algorithm handles SIGTERM and saves", () => {
  for (const lang of LANGUAGES) {
    it(`${lang}: saves a ${SAVE_MS} ms checkpoint and exits 0 -> Stopped, exit 0, stop takes about the save`, async () => {
      const job = startJob({ algorithm: algorithm(lang, "save"), grace: GRACE, env: { TG_SAVE_SECONDS: String(SAVE_MS / 1000) } });
      await job.waitReady();
      // status.json is written asynchronously; the algorithm can be ready a moment before it says Training.
      await job.waitUntil("status Training", () => job.readStatus()?.SecondaryStatus === "Training");
      expect(job.status()).toMatchObject({ TrainingJobStatus: "InProgress", SecondaryStatus: "Training", stopRequestedAt: null });

      const sentAt = job.signal("SIGTERM");
      const exit = await job.waitExit();
      const stopMs = exit.at - sentAt;

      expect(exit.code).toBe(0);
      expect(exit.pid1Signaled).toBe(false);
      // The stop lasted the save, not the budget.
      expect(stopMs).toBeGreaterThanOrEqual(SAVE_MS);
      expect(stopMs).toBeLessThan(2_000);

      // stop-request.json: written before the signal reached the algorithm.
      const request = job.stopRequest();
      expect(request).toBeDefined();
      if (!request) return;
      expect(request.signal).toBe("SIGTERM");
      expect(request.graceSeconds).toBe(GRACE);
      const requestedAt = ms(request.requestedAt);
      expect(requestedAt).toBeGreaterThanOrEqual(sentAt - 5);
      expect(requestedAt).toBeLessThanOrEqual(sentAt + 500);
      expect(ms(request.deadline) - requestedAt).toBe(GRACE * 1000);
      expect(ms(request.deadline) - ms(request.checkpointDeadline)).toBe(expectedReserveMs(GRACE));
      const handler = job.testJson<HandlerRecord>("handler.json");
      expect(handler, "the algorithm's SIGTERM handler ran").toBeDefined();
      expect(handler?.existed).toBe(true);
      expect(handler?.content).toEqual(request);
      expect(handler?.at).toBeGreaterThanOrEqual(requestedAt - 5);

      // The checkpoint: data first, the commit marker last, a save-length apart.
      const ck = job.mlPath("checkpoints", "step-000042");
      const data = statSync(`${ck}/model.bin`);
      const commit = statSync(`${ck}/.trainguard-commit`);
      expect(commit.mtimeMs - data.mtimeMs).toBeGreaterThanOrEqual(SAVE_MS - 50);
      const savedAt = Number(job.testFile("saved"));
      expect(savedAt - (handler?.at ?? 0)).toBeGreaterThanOrEqual(SAVE_MS - 5);
      expect(exit.at).toBeGreaterThanOrEqual(savedAt);

      const status = job.status();
      expectTransitions(status, STOPPED_WHILE_TRAINING);
      expect(status).toMatchObject({
        TrainingJobName: job.jobName,
        stopRequestedAt: request.requestedAt,
        stopSignal: "SIGTERM",
        deadline: request.deadline,
        checkpointDeadline: request.checkpointDeadline,
        exitCode: 0,
        signal: null,
        escalated: false,
        failureReason: null,
        trainguardExitCode: 0,
      });
      expect(ms(status.endedAt)).toBeGreaterThanOrEqual(savedAt);
      expect(ms(status.endedAt)).toBeLessThanOrEqual(exit.at);
      expect(job.failureFile()).toBeUndefined();

      expectEventOrder(job, ["job.start", "config.loaded", "algorithm.start", "stop.requested", "stop.forwarded", "algorithm.exit", "job.end"]);
      expect(job.eventNames()).not.toContain("algorithm.escalate");
      const end = job.eventsOf("job.end")[0];
      expect(end).toMatchObject({ status: "Stopped", exitCode: 0 });
      expect(end?.stopDurationMs).toBeGreaterThanOrEqual(SAVE_MS);

      // The environment the contract promises the algorithm.
      const env = job.algorithmEnv();
      expect(env).toMatchObject({
        SM_CHECKPOINT_DIR: job.mlPath("checkpoints"),
        SM_MODEL_DIR: job.mlPath("model"),
        SM_OUTPUT_DIR: job.mlPath("output"),
        SM_OUTPUT_DATA_DIR: job.mlPath("output", "data"),
        SM_CURRENT_HOST: "algo-1",
        TRAINING_JOB_NAME: job.jobName,
        TRAINGUARD_GRACE_SECONDS: String(GRACE),
        TRAINGUARD_STOP_FILE: job.mlPath("output", "trainguard", "stop-request.json"),
      });
    });
  }

  for (const lang of LANGUAGES) {
    it(`${lang}: crashes while saving (own failure file, exit 3) -> Stopped, exit 3, failure file kept`, async () => {
      const job = startJob({ algorithm: algorithm(lang, "crash-save"), grace: GRACE });
      await job.waitReady();
      job.signal("SIGTERM");
      const exit = await job.waitExit();

      expect(exit.code).toBe(3);
      expect(job.testJson<HandlerRecord>("handler.json")?.existed).toBe(true);
      const status = job.status();
      expectTransitions(status, STOPPED_WHILE_TRAINING);
      expect(status).toMatchObject({ exitCode: 3, signal: null, escalated: false, trainguardExitCode: 3, stopSignal: "SIGTERM" });
      expect(status.failureReason).toEqual(expect.stringContaining("exit code 3"));
      // The algorithm's own reason is what the platform shows: never overwritten.
      expect(job.failureFile()).toBe(`${lang} algorithm: checkpoint save failed at step 42: No space left on device\n`);
      expect(job.stderr()).toContain(`${lang} algorithm: crashing while saving`);
      expect(job.eventsOf("job.end")[0]).toMatchObject({ status: "Stopped", exitCode: 3 });
    });
  }
});
