// The Node example (examples/node-train, the library's runTraining) as a container: trainguard is
// PID 1, the training function hears the stop through ctx.signal, saves, returns; trainguard
// packages. Needs a Docker engine and the images of docker/ci-setup.sh.
import path from "node:path";
import { expect, it } from "vitest";
import {
  NODE_IMAGE,
  checkpoints,
  describeWithDocker,
  dockerOk,
  expectArchiveHoldsCheckpoint,
  mlRoot,
  readStatus,
  runDetached,
  waitExit,
  waitForCheckpoints,
} from "./docker.js";

const TEST_TIMEOUT = 90_000;

await describeWithDocker("node example image (runTraining)", [NODE_IMAGE], () => {
  it(
    "node-train: docker kill -s TERM -> ctx.signal, the epoch is saved or dropped, exit 0 mirrored, Stopped, archive holds the newest complete epoch",
    async () => {
      const grace = 20;
      // Small epochs so that two complete quickly; many of them so the job is still training at the stop.
      const root = await mlRoot("node-stop", { samples: "20000", epochs: "1000" });
      const id = await runDetached({ image: NODE_IMAGE, mlRoot: root, env: { TRAINGUARD_GRACE: String(grace), TRAINING_JOB_NAME: "docker-node-stop" }, args: ["train"] });
      await waitForCheckpoints(root, 2, 60_000);

      const stoppedAt = Date.now();
      await dockerOk(["kill", "-s", "TERM", id]);
      const { exitCode, elapsedMs } = await waitExit(id, stoppedAt, (grace + 10) * 1000);
      expect(exitCode, await dockerOk(["logs", id]).catch(() => "")).toBe(0);
      expect(elapsedMs).toBeLessThan(grace * 1000);
      const status = await readStatus(root);
      expect(status).toMatchObject({ TrainingJobName: "docker-node-stop", TrainingJobStatus: "Stopped", exitCode: 0, escalated: false, trainguardExitCode: 0 });

      const { complete, other } = await checkpoints(path.join(root, "checkpoints"));
      // Staging directories are hidden and removed; nothing but complete epochs remains.
      expect(other.filter((name) => !name.startsWith("."))).toEqual([]);
      await expectArchiveHoldsCheckpoint(root, complete.at(-1) as string);
    },
    TEST_TIMEOUT,
  );

  it(
    "node-train: `docker run <image> train` with a short configuration completes on its own: Completed, exit 0",
    async () => {
      const root = await mlRoot("node-complete", { samples: "5000", epochs: "2" });
      const id = await runDetached({ image: NODE_IMAGE, mlRoot: root, args: ["train"] });
      const { exitCode } = await waitExit(id, Date.now(), 60_000);
      expect(exitCode, await dockerOk(["logs", id]).catch(() => "")).toBe(0);
      expect(await readStatus(root)).toMatchObject({ TrainingJobStatus: "Completed", exitCode: 0 });
      expect((await checkpoints(path.join(root, "checkpoints"))).complete.length).toBeGreaterThanOrEqual(1);
    },
    TEST_TIMEOUT,
  );
});
