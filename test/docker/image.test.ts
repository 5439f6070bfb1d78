// The images as a platform meets them: exec-form ENTRYPOINT/CMD in every example (inherited from
// the Node base, or the self-contained trainguard's own), and orphans reaped by trainguard as PID 1
// of the Node base image, against a control PID 1 that does not reap. (PID 1 of each example image, its orphans and its run with no configuration are
// cases of examples.test.ts.) Needs a Docker engine and the images of docker/ci-setup.sh.
import { expect, it } from "vitest";
import {
  BASE_IMAGE,
  NODE_BASE_TRAINGUARD,
  NODE_IMAGE,
  ORPHANS,
  ORPHAN_COMMANDS,
  PYTHON_BULLSEYE_IMAGE,
  PYTHON_IMAGE,
  SELF_CONTAINED_TRAINGUARD,
  SHELL_IMAGE,
  type TrainguardAsPid1,
  describeWithDocker,
  inspect,
  isZombie,
  observeOrphans,
  orphansCase,
  runDetached,
  waitExit,
} from "./docker.js";

/** Each image, how it runs trainguard, and the algorithm it names (none for the base: users set TRAINGUARD_COMMAND). */
const IMAGES: ReadonlyArray<readonly [string, TrainguardAsPid1, readonly string[] | null]> = [
  [BASE_IMAGE, NODE_BASE_TRAINGUARD, null],
  [PYTHON_IMAGE, SELF_CONTAINED_TRAINGUARD, ["python3", "/opt/program/train.py"]],
  [PYTHON_BULLSEYE_IMAGE, SELF_CONTAINED_TRAINGUARD, ["python3", "/opt/program/train.py"]],
  [SHELL_IMAGE, SELF_CONTAINED_TRAINGUARD, ["/bin/sh", "/opt/program/train.sh"]],
  [NODE_IMAGE, NODE_BASE_TRAINGUARD, ["node", "/opt/program/train.mjs"]],
];

await describeWithDocker(
  "trainguard base image",
  IMAGES.map(([image]) => image),
  () => {
    it("declares ENTRYPOINT and CMD in exec form (inherited from the base, or the self-contained trainguard's), each naming its algorithm in TRAINGUARD_COMMAND", async () => {
      for (const [image, trainguard, command] of IMAGES) {
        expect(await inspect(image, "{{json .Config.Entrypoint}} {{json .Config.Cmd}}"), image).toBe(`${JSON.stringify(trainguard.entrypoint)} ["train"]`);
        const env = JSON.parse(await inspect(image, "{{json .Config.Env}}")) as string[];
        const named = env.find((entry) => entry.startsWith("TRAINGUARD_COMMAND="))?.slice("TRAINGUARD_COMMAND=".length);
        expect(named === undefined ? null : JSON.parse(named), image).toEqual(command);
      }
    });

    it(`reaps ${ORPHANS} orphans re-parented to it: no zombie is left in the container`, ({ expect }) => orphansCase(BASE_IMAGE, NODE_BASE_TRAINGUARD, "sh", expect), 60_000);

    it(
      "control: the same orphans under a PID 1 that does not reap (plain node) stay zombies, so the check above can fail",
      async () => {
        const [interpreter, ...args] = ORPHAN_COMMANDS.sh;
        const spawnScript = `require("child_process").spawn(${JSON.stringify(interpreter)}, ${JSON.stringify(args)}, { stdio: "inherit" }).on("exit", (code) => process.exit(code ?? 1));`;
        const id = await runDetached({ image: BASE_IMAGE, entrypoint: "node", args: ["-e", spawnScript] });
        const { reparented, after } = await observeOrphans(id);
        expect(reparented).toHaveLength(ORPHANS);
        expect(after.filter((row) => isZombie(row) && row.ppid === 1 && row.args === "sleep")).toHaveLength(ORPHANS);
        expect((await waitExit(id, Date.now(), 30_000)).exitCode).toBe(0);
      },
      60_000,
    );
  },
);
