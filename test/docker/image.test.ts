// The trainguard base image as a platform meets it: exec-form ENTRYPOINT/CMD, trainguard as PID 1,
// orphans reaped, and a job with no configuration at all run by a non-root user.
// Needs a Docker engine and the images of docker/ci-setup.sh.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { expect, it } from "vitest";
import {
  BASE_IMAGE,
  PYTHON_IMAGE,
  SHELL_IMAGE,
  checkpoints,
  describeWithDocker,
  docker,
  dockerOk,
  inspect,
  namespaceProcesses,
  processes,
  readStatus,
  runDetached,
  tempDir,
  waitExit,
  waitFor,
  waitForCheckpoints,
  type ProcessRow,
} from "./docker.js";

/** Children that outlive their parent (the subshell) are re-parented to PID 1, which must reap them. */
const ORPHANS = 50;
const ORPHAN_SCRIPT = `for i in $(seq ${ORPHANS}); do (sleep 0.2 &); done; echo spawned; sleep 3`;

await describeWithDocker("trainguard base image", [BASE_IMAGE, PYTHON_IMAGE, SHELL_IMAGE], () => {
  it("declares ENTRYPOINT and CMD in exec form, inherited by the examples", async () => {
    for (const image of [BASE_IMAGE, PYTHON_IMAGE, SHELL_IMAGE]) {
      expect(await inspect(image, "{{json .Config.Entrypoint}} {{json .Config.Cmd}}"), image).toBe('["trainguard"] ["train"]');
    }
    expect(await inspect(PYTHON_IMAGE, "{{json .Config.Env}}")).toContain('TRAINGUARD_COMMAND=[\\"python3\\", \\"/opt/program/train.py\\"]');
  });

  it("runs trainguard as PID 1 (node running the trainguard bin), the algorithm as its child", async () => {
    const root = await tempDir("pid1");
    const id = await runDetached({ image: PYTHON_IMAGE, mlRoot: root, env: { STEPS: "1000" } });
    await waitForCheckpoints(root, 1);
    const pid1 = Number(await inspect(id, "{{.State.Pid}}"));
    const rows = await processes(id);
    const init = rows.find((row) => row.pid === pid1);
    expect(init?.args).toMatch(/^node \/usr\/local\/bin\/trainguard train$/);
    expect(rows.find((row) => row.ppid === pid1)?.args).toBe("python3 /opt/program/train.py");
    await dockerOk(["kill", "-s", "TERM", id]);
    expect((await waitExit(id, Date.now(), 30_000)).exitCode).toBe(0);
  });

  it(
    `reaps ${ORPHANS} orphans re-parented to it: no zombie is left in the container`,
    async () => {
      const root = await tempDir("orphans");
      const id = await runDetached({
        image: BASE_IMAGE,
        mlRoot: root,
        env: { TRAINGUARD_COMMAND: JSON.stringify(["sh", "-c", ORPHAN_SCRIPT]), TRAINING_JOB_NAME: "docker-orphans" },
      });
      const after = await afterOrphansExit(id);
      expect(after.filter(isZombie)).toEqual([]);
      // What is left: trainguard, the algorithm's shell and its `sleep 3`.
      const shell = after.find((row) => row.args === "sh");
      expect(after).toHaveLength(3);
      expect(after).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ pid: 1, ppid: 0, args: "node" }),
          expect.objectContaining({ ppid: 1, args: "sh" }),
          expect.objectContaining({ ppid: shell?.pid, args: "sleep" }),
        ]),
      );

      expect((await waitExit(id, Date.now(), 30_000)).exitCode).toBe(0);
      expect(await readStatus(root)).toMatchObject({ TrainingJobStatus: "Completed", exitCode: 0, trainguardExitCode: 0 });
    },
    30_000,
  );

  it(
    "control: the same orphans under a PID 1 that does not reap (plain node) stay zombies, so the check above can fail",
    async () => {
      const spawnScript = `require("child_process").spawn("sh", ["-c", ${JSON.stringify(ORPHAN_SCRIPT)}], { stdio: "inherit" }).on("exit", (code) => process.exit(code ?? 1));`;
      const id = await runDetached({ image: BASE_IMAGE, entrypoint: "node", args: ["-e", spawnScript] });
      const after = await afterOrphansExit(id);
      expect(after.filter(isZombie)).toHaveLength(ORPHANS);
      expect((await waitExit(id, Date.now(), 30_000)).exitCode).toBe(0);
    },
    30_000,
  );

  it(
    "`docker run <image> train` with no config, no /opt/ml mount and a non-root user: defaults, job Completed",
    async () => {
      const id = await runDetached({ image: PYTHON_IMAGE, user: "1000:1000", args: ["train"] });
      const { exitCode } = await waitExit(id, Date.now(), 45_000);
      expect(exitCode, await dockerOk(["logs", id]).catch(() => "")).toBe(0);

      const copy = await tempDir("no-config");
      await dockerOk(["cp", `${id}:/opt/ml`, copy]);
      const root = path.join(copy, "ml");
      const status = await readStatus(root);
      expect(status).toMatchObject({ TrainingJobStatus: "Completed", SecondaryStatus: "Completed", exitCode: 0, escalated: false, failureReason: null, trainguardExitCode: 0 });
      expect(status.TrainingJobName).toMatch(/^trainguard-local-\d{14}-[0-9a-f]{6}$/);
      // The example's defaults: 10 steps, the last 3 checkpoints kept, the model written.
      const model = JSON.parse(await readFile(path.join(root, "model", "model.json"), "utf8")) as { steps: number };
      expect(model.steps).toBe(10);
      expect(await checkpoints(path.join(root, "checkpoints"))).toEqual({ complete: ["step-8", "step-9", "step-10"], other: [] });
    },
    60_000,
  );
});

function isZombie(row: ProcessRow): boolean {
  return row.stat.startsWith("Z");
}

/**
 * Wait until the script has spawned its orphans and every one of them has ended (a zombie has
 * ended too), then return the container's processes a moment later.
 */
async function afterOrphansExit(id: string): Promise<ProcessRow[]> {
  await waitFor("the orphans to be spawned", 15_000, async () => ((await docker(["logs", id])).stdout.includes("spawned") ? true : undefined));
  // The orphans are the sleeps whose parent is PID 1; the algorithm's own `sleep 3` is the shell's child.
  await waitFor("the orphans to exit", 5_000, async () => {
    const rows = await namespaceProcesses(id);
    return rows.some((row) => !isZombie(row) && row.args === "sleep" && row.ppid === 1) ? undefined : true;
  });
  // Reaping follows SIGCHLD within milliseconds; a zombie still there after this is one for good.
  await new Promise((resolve) => setTimeout(resolve, 300));
  return namespaceProcesses(id);
}
