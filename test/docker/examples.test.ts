// The example images stopped the way platforms stop them: `docker kill -s TERM` (what SageMaker's
// StopTrainingJob does first) and `docker stop` (SIGTERM, then SIGKILL after -t seconds).
// Needs a Docker engine and the images of docker/ci-setup.sh.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { expect, it } from "vitest";
import {
  ARCHIVE_ON_STOP,
  PYTHON_IMAGE,
  SHELL_IMAGE,
  checkpoints,
  describeWithDocker,
  dockerOk,
  expectArchiveHoldsCheckpoint,
  inspect,
  mlRoot,
  readStatus,
  runDetached,
  tempDir,
  waitExit,
  waitForCheckpoints,
} from "./docker.js";
import { EMBEDDED_S3_CREDENTIALS } from "../../src/local/index.js";
import { startS3 } from "../helpers/s3.js";

const execFileAsync = promisify(execFile);
const ENTRY = fileURLToPath(new URL("../../dist/cli/entry.js", import.meta.url));

const STOP_TEST_TIMEOUT = 60_000;

const stepOf = (checkpoint: string): number => Number(checkpoint.slice("step-".length));

await describeWithDocker("example images under docker kill and docker stop", [PYTHON_IMAGE, SHELL_IMAGE], () => {
  it(
    "python-train: SIGTERM -> one final checkpoint, exit 0 mirrored, status Stopped",
    async () => {
      const grace = 20;
      const root = await mlRoot("python-stop", { steps: "10000", step_seconds: "0.5" });
      const id = await runDetached({ image: PYTHON_IMAGE, mlRoot: root, env: { TRAINGUARD_GRACE: String(grace), TRAINING_JOB_NAME: "docker-python-stop" }, args: ["train"] });
      await waitForCheckpoints(root, 2);

      const stoppedAt = Date.now();
      await dockerOk(["kill", "-s", "TERM", id]);
      const { exitCode, elapsedMs } = await waitExit(id, stoppedAt, (grace + 10) * 1000);

      expect(exitCode).toBe(0);
      expect(elapsedMs).toBeLessThan(grace * 1000);
      expect(await inspect(id, "{{.State.ExitCode}} {{.State.OOMKilled}}")).toBe("0 false");
      const status = await readStatus(root);
      expect(status).toMatchObject({
        TrainingJobName: "docker-python-stop",
        TrainingJobStatus: "Stopped",
        SecondaryStatus: "Stopped",
        stopSignal: "SIGTERM",
        exitCode: 0,
        signal: null,
        escalated: false,
        failureReason: null,
        trainguardExitCode: 0,
      });
      expect(status.transitions.map((t) => [t.status, t.secondaryStatus])).toEqual([
        ["InProgress", "Starting"],
        ["InProgress", "Training"],
        ["Stopping", "Stopping"],
        ["Stopping", "Uploading"],
        ["Stopped", "Stopped"],
      ]);

      // It heard the signal and saved: every checkpoint complete, the newest one coherent.
      expect(await dockerOk(["logs", id])).toContain("SIGTERM received");
      const { complete, other } = await checkpoints(path.join(root, "checkpoints"));
      expect(other).toEqual([]);
      const newest = complete.at(-1) as string;
      const trainer = JSON.parse(await readFile(path.join(root, "checkpoints", newest, "trainer.json"), "utf8")) as { step: number };
      expect(`step-${trainer.step}`).toBe(newest);
      expect(trainer.step).toBeGreaterThanOrEqual(2);

      if (ARCHIVE_ON_STOP) await expectArchiveHoldsCheckpoint(root, newest);
    },
    STOP_TEST_TIMEOUT,
  );

  it(
    "shell-ignore-term: SIGTERM ignored -> SIGKILL at the checkpoint deadline, 137 mirrored, before the grace period",
    async () => {
      // Reserve max(2 s, ...) for packaging: the checkpoint deadline is grace - 2 s.
      const grace = 6;
      const root = await mlRoot("shell-kill", {});
      const id = await runDetached({ image: SHELL_IMAGE, mlRoot: root, env: { TRAINGUARD_GRACE: String(grace), TRAINING_JOB_NAME: "docker-shell-kill" } });
      const atStop = stepOf((await waitForCheckpoints(root, 2)).at(-1) as string);

      const stoppedAt = Date.now();
      await dockerOk(["kill", "-s", "TERM", id]);
      const { exitCode, elapsedMs } = await waitExit(id, stoppedAt, (grace + 10) * 1000);

      expect(exitCode).toBe(137);
      // It was given until the checkpoint deadline, not killed at once, and trainguard ended first.
      expect(elapsedMs).toBeGreaterThan((grace - 2) * 1000 - 500);
      expect(elapsedMs).toBeLessThan(grace * 1000);
      const status = await readStatus(root);
      expect(status).toMatchObject({
        TrainingJobStatus: "Stopped",
        SecondaryStatus: "Stopped",
        exitCode: null,
        signal: "SIGKILL",
        escalated: true,
        trainguardExitCode: 137,
      });

      // It kept checkpointing through the whole window; a save cut short by SIGKILL is never complete.
      const { complete } = await checkpoints(path.join(root, "checkpoints"));
      const newest = complete.at(-1) as string;
      expect(stepOf(newest)).toBeGreaterThanOrEqual(atStop + 2);
      const state = await readFile(path.join(root, "checkpoints", newest, "state.txt"), "utf8");
      expect(state).toContain(`step=${stepOf(newest)}\n`);

      if (ARCHIVE_ON_STOP) await expectArchiveHoldsCheckpoint(root, newest);
    },
    STOP_TEST_TIMEOUT,
  );

  it(
    "docker stop -t 10 with TRAINGUARD_GRACE=8: trainguard escalates and exits before Docker's SIGKILL",
    async () => {
      const root = await mlRoot("shell-docker-stop", {});
      const id = await runDetached({ image: SHELL_IMAGE, mlRoot: root, env: { TRAINGUARD_GRACE: "8", TRAINING_JOB_NAME: "docker-shell-stop" } });
      await waitForCheckpoints(root, 2);

      const stoppedAt = Date.now();
      // `docker stop` returns once the container is gone: by trainguard's exit or by Docker's SIGKILL at 10 s.
      await dockerOk(["stop", "-t", "10", id], 30_000);
      const elapsedMs = Date.now() - stoppedAt;

      expect(elapsedMs).toBeLessThan(10_000);
      expect(await inspect(id, "{{.State.ExitCode}}")).toBe("137");
      // Had Docker's SIGKILL ended it, trainguard would never have written Stopped.
      const status = await readStatus(root);
      expect(status).toMatchObject({ TrainingJobStatus: "Stopped", escalated: true, signal: "SIGKILL", trainguardExitCode: 137 });

      if (ARCHIVE_ON_STOP) {
        const { complete } = await checkpoints(path.join(root, "checkpoints"));
        await expectArchiveHoldsCheckpoint(root, complete.at(-1) as string);
      }
    },
    STOP_TEST_TIMEOUT,
  );

  it(
    "python-train: SIGTERM -> the archive is uploaded to <output>/<job>/output/model.tar.gz on the embedded S3 of the host",
    async () => {
      // s3rver on the host's 127.0.0.1, reached from the container through host networking.
      const s3 = await startS3(["models"]);
      try {
        const grace = 20;
        const root = await mlRoot("python-s3", { steps: "10000", step_seconds: "0.5" });
        const id = await runDetached({
          image: PYTHON_IMAGE,
          mlRoot: root,
          env: {
            TRAINGUARD_GRACE: String(grace),
            TRAINING_JOB_NAME: "docker-python-s3",
            TRAINGUARD_OUTPUT: "s3://models/jobs",
            TRAINGUARD_S3_ENDPOINT: s3.endpoint,
            AWS_ACCESS_KEY_ID: EMBEDDED_S3_CREDENTIALS.accessKeyId,
            AWS_SECRET_ACCESS_KEY: EMBEDDED_S3_CREDENTIALS.secretAccessKey,
            AWS_REGION: "us-east-1",
          },
          args: ["train"],
        });
        await waitForCheckpoints(root, 2);
        const stoppedAt = Date.now();
        await dockerOk(["kill", "-s", "TERM", id]);
        const { exitCode, elapsedMs } = await waitExit(id, stoppedAt, (grace + 10) * 1000);
        expect(exitCode).toBe(0);
        expect(elapsedMs).toBeLessThan(grace * 1000);

        const key = "jobs/docker-python-s3/output/model.tar.gz";
        const status = await readStatus(root);
        expect(status.artifact).toMatchObject({ uploadedTo: `s3://models/${key}` });
        expect((await s3.list("models", "jobs/")).map((o) => o.key).sort()).toEqual([key, `${key}.manifest.json`]);
        // A separate client downloads the object; verify checks every file against its manifest.
        const downloaded = path.join(await tempDir("python-s3-download"), "model.tar.gz");
        await writeFile(downloaded, await s3.getBytes("models", key));
        const verify = await execFileAsync(process.execPath, [ENTRY, "verify", downloaded]);
        expect(verify.stdout).toMatch(/^OK /);
        expect(createHash("sha256").update(await readFile(downloaded)).digest("hex")).toBe(status.artifact?.sha256);
      } finally {
        await s3.close();
      }
    },
    STOP_TEST_TIMEOUT,
  );
});
