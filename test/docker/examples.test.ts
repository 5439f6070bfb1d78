// Every example image through the same five cases, the way platforms run and stop them:
//   1. `docker kill -s TERM` (SageMaker's StopTrainingJob) with /opt/ml mounted: exit code mirrored,
//      Stopped, archive verified with the newest complete checkpoint; PID 1 is trainguard.
//   2. `docker stop -t 10` with TRAINGUARD_GRACE=8: trainguard is done before Docker's SIGKILL.
//   3. the archive uploaded to the embedded S3 on the host, downloaded and verified.
//   4. orphans left in the container by a script in the example's interpreter: all reaped.
//   5. `docker run <image> train` with no configuration at all: defaults, Completed.
// The cases are shared (docker.ts); the table below says what each example is. The five cases of
// one example run concurrently (separate containers and ml-roots), the examples one after another.
// Needs a Docker engine and the images of docker/ci-setup.sh.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "vitest";
import { useS3 } from "../helpers/s3.js";
import {
  NODE_BASE_TRAINGUARD,
  NODE_IMAGE,
  PYTHON_BULLSEYE_IMAGE,
  PYTHON_IMAGE,
  PYTORCH_IMAGE,
  SELF_CONTAINED_TRAINGUARD,
  SHELL_IMAGE,
  checkpointNumber,
  checkpoints,
  defaultsCase,
  describeWithDocker,
  docker,
  dockerOk,
  dockerStopCase,
  exampleOrphansCase,
  killCase,
  s3UploadCase,
  type ExampleSpec,
} from "./docker.js";

const PYTHON_TRAIN: ExampleSpec = {
  name: "python-train",
  image: PYTHON_IMAGE,
  trainguard: SELF_CONTAINED_TRAINGUARD,
  algorithm: "python3 /opt/program/train.py",
  onTerm: "saves",
  grace: 20,
  training: { steps: "10000", step_seconds: "0.5" },
  checkpointTimeoutMs: 30_000,
  interpreter: "python3",
  async afterStop({ id, root, newest }, expect) {
    // It heard the signal and saved: every checkpoint complete, the newest one coherent.
    expect(await dockerOk(["logs", id])).toContain("SIGTERM received");
    const { other } = await checkpoints(path.join(root, "checkpoints"));
    expect(other).toEqual([]);
    const trainer = JSON.parse(await readFile(path.join(root, "checkpoints", newest, "trainer.json"), "utf8")) as { step: number };
    expect(trainer.step).toBe(checkpointNumber(newest));
  },
  defaultRunTimeoutMs: 45_000,
  async expectDefaults(root, expect) {
    // 10 steps, the newest 3 checkpoints kept, the model written.
    const model = JSON.parse(await readFile(path.join(root, "model", "model.json"), "utf8")) as { steps: number };
    expect(model.steps).toBe(10);
    expect(await checkpoints(path.join(root, "checkpoints"))).toEqual({ complete: ["step-8", "step-9", "step-10"], other: [] });
  },
};

// The non-Node examples are FROM a plain base with no Node (bookworm; python-train on bullseye too,
// the oldest glibc checked) and add the self-contained trainguard with one COPY; node-train is FROM
// the Node base image.
const EXAMPLES: readonly ExampleSpec[] = [
  PYTHON_TRAIN,
  { ...PYTHON_TRAIN, name: "python-train-bullseye", image: PYTHON_BULLSEYE_IMAGE },
  {
    name: "shell-ignore-term",
    image: SHELL_IMAGE,
    trainguard: SELF_CONTAINED_TRAINGUARD,
    algorithm: "/bin/sh /opt/program/train.sh",
    onTerm: "ignores",
    // Escalation takes grace minus the 2 s packaging reserve: keep it short.
    grace: 6,
    training: { steps: "100000", checkpoint_interval: "0.5" },
    checkpointTimeoutMs: 30_000,
    interpreter: "sh",
    async afterStop({ root, atStop, newest }, expect) {
      // It kept checkpointing through the whole window; a save cut short by SIGKILL is never complete.
      expect(checkpointNumber(newest)).toBeGreaterThanOrEqual(checkpointNumber(atStop) + 2);
      const state = await readFile(path.join(root, "checkpoints", newest, "state.txt"), "utf8");
      expect(state).toContain(`step=${checkpointNumber(newest)}\n`);
    },
    defaultRunTimeoutMs: 45_000,
    async expectDefaults(root, expect) {
      // 10 steps, the newest 3 checkpoints kept, the model written.
      expect(await readFile(path.join(root, "model", "state.txt"), "utf8")).toMatch(/^steps=10\nstate=\d+\n$/);
      expect(await checkpoints(path.join(root, "checkpoints"))).toEqual({ complete: ["step-8", "step-9", "step-10"], other: [] });
    },
  },
  {
    name: "pytorch-train",
    image: PYTORCH_IMAGE,
    trainguard: SELF_CONTAINED_TRAINGUARD,
    algorithm: "python3 /opt/program/train.py",
    onTerm: "saves",
    grace: 20,
    training: { steps: "100000", step_seconds: "0.05" },
    checkpointTimeoutMs: 60_000,
    interpreter: "python3",
    async afterStop({ id, root, newest }, expect) {
      // Its handler finished the step and saved: every checkpoint complete, the newest holds torch's file.
      expect(await dockerOk(["logs", id])).toContain("SIGTERM received");
      const { other } = await checkpoints(path.join(root, "checkpoints"));
      expect(other).toEqual([]);
      const saved = await readFile(path.join(root, "checkpoints", newest, "checkpoint.pt"));
      expect(saved.subarray(0, 2).toString("latin1")).toBe("PK"); // torch.save writes a ZIP
    },
    // 200 steps of a small MLP, plus torch's import: well under a minute on an idle core.
    defaultRunTimeoutMs: 90_000,
    async expectDefaults(root, expect) {
      expect((await readFile(path.join(root, "model", "digest.txt"), "utf8")).trim()).toMatch(/^[0-9a-f]{64}$/);
      expect((await readFile(path.join(root, "model", "model.pt"))).subarray(0, 2).toString("latin1")).toBe("PK");
      expect(await checkpoints(path.join(root, "checkpoints"))).toEqual({ complete: ["step-160", "step-180", "step-200"], other: [] });
    },
  },
  {
    name: "node-train",
    image: NODE_IMAGE,
    trainguard: NODE_BASE_TRAINGUARD,
    algorithm: "node /opt/program/train.mjs",
    onTerm: "saves",
    grace: 20,
    // Small epochs so that two complete quickly; many of them so the job is still training at the stop.
    training: { samples: "20000", epochs: "1000" },
    checkpointTimeoutMs: 60_000,
    interpreter: "node",
    async afterStop({ id, root }, expect) {
      // ctx.signal told the training function, which finished or dropped the epoch and returned.
      const logs = await docker(["logs", id]);
      expect(logs.stdout + logs.stderr).toMatch(/stop: (epoch \d+ saved, returning|not enough time)/);
      // Staging directories are hidden and removed; nothing but complete epochs remains.
      const { other } = await checkpoints(path.join(root, "checkpoints"));
      expect(other.filter((name) => !name.startsWith("."))).toEqual([]);
    },
    // 8 epochs of 180,000 samples: about 2 s each on an idle core.
    defaultRunTimeoutMs: 120_000,
    async expectDefaults(root, expect) {
      const model = JSON.parse(await readFile(path.join(root, "model", "model.json"), "utf8")) as { epochs: number };
      expect(model).toMatchObject({ epochs: 8, features: 16, hidden: 64, seed: 7 });
      expect((await checkpoints(path.join(root, "checkpoints"))).complete).toEqual(["epoch-0006", "epoch-0007", "epoch-0008"]);
    },
  },
];

await describeWithDocker(
  "example images",
  EXAMPLES.map((spec) => spec.image),
  () => {
    const s3 = useS3(["models"]);
    for (const spec of EXAMPLES) {
      const saves = spec.onTerm === "saves" ? "saves and exits 0" : "ignores it, SIGKILLed at the checkpoint deadline: 137";
      describe.concurrent(spec.name, () => {
        it(`docker kill -s TERM: PID 1 is trainguard; the algorithm ${saves}; Stopped before the grace period; archive verified, newest complete checkpoint`, ({ expect }) =>
          killCase(spec, expect), 90_000);
        it(`docker stop -t 10 with TRAINGUARD_GRACE=8: the algorithm ${saves}; trainguard ends before Docker's SIGKILL; archive verified`, ({ expect }) =>
          dockerStopCase(spec, expect), 90_000);
        it("docker kill -s TERM with --output s3://: the archive lands on the host's embedded S3 and verifies", ({ expect }) =>
          s3UploadCase(spec, s3(), expect), 90_000);
        it(`orphans left by a ${spec.interpreter} script are reaped by trainguard as PID 1: no zombie`, ({ expect }) =>
          exampleOrphansCase(spec, expect), 60_000);
        it("`docker run <image> train` with no config, no /opt/ml mount and a non-root user: defaults, Completed", ({ expect }) =>
          defaultsCase(spec, expect), spec.defaultRunTimeoutMs + 30_000);
      });
    }
  },
);
