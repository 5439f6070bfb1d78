// trainguard local, the docker backend: the spread between the first and the last host's receipt
// of SIGTERM when a job of 2 containers is stopped, as each host's trainguard recorded it
// (stopRequestedAt in its status.json: ms, the host's clock, after its own reaction). The platform
// sends one `docker kill --signal TERM` for all of a job's containers. Baseline in the same run:
// the same image, 2 containers started by hand and signalled by one `docker kill` CLI process each,
// at once (what a backend spawning one CLI per host would do). Needs the images of docker/ci-setup.sh.
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { CreateTrainingJobCommand, DescribeTrainingJobCommand, StopTrainingJobCommand } from "@aws-sdk/client-sagemaker";
import { request, startServe, until } from "./local-api.mjs";
import { BenchError } from "./lib/context.mjs";
import { tryKill, withTimeout } from "./lib/proc.mjs";
import { fmt, summarize } from "./lib/stats.mjs";

export const meta = { name: "local-docker", aliases: ["docker-spread"], title: "trainguard local, docker backend: SIGTERM receipt spread across 2 containers" };

const IMAGE = "trainguard-example-python:local";
const HPS = { steps: "10000", step_seconds: "0.5" };
const docker = (args) => promisify(execFile)("docker", args, { encoding: "utf8" }).then((r) => r.stdout.trim());
const received = (root) => Date.parse(JSON.parse(readFileSync(path.join(root, "output", "trainguard", "status.json"), "utf8")).stopRequestedAt);
/** trainguard listens and the example has completed a checkpoint (step-N with its commit marker). */
const ready = (root) =>
  existsSync(path.join(root, "output", "trainguard", "status.json")) &&
  existsSync(path.join(root, "checkpoints")) &&
  readdirSync(path.join(root, "checkpoints")).some((n) => existsSync(path.join(root, "checkpoints", n, ".trainguard-commit")));

async function platformSpread(sm, data, name) {
  await sm.send(new CreateTrainingJobCommand({ ...request(name, IMAGE, 2), HyperParameters: HPS }));
  const roots = ["algo-1", "algo-2"].map((h) => path.join(data, "jobs", name, h));
  await until(`${name} to checkpoint on both hosts`, () => roots.every(ready), 60_000, 50);
  await sm.send(new StopTrainingJobCommand({ TrainingJobName: name }));
  await until(`${name} to be Stopped`, async () => (await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: name }))).TrainingJobStatus === "Stopped", 60_000, 50);
  const [a, b] = roots.map(received);
  return Math.abs(a - b);
}

async function oneCliPerContainer(ctx, i) {
  const roots = ["a", "b"].map((h) => {
    const root = ctx.tempDir(`docker-baseline-${i}-${h}`);
    mkdirSync(path.join(root, "input", "config"), { recursive: true });
    writeFileSync(path.join(root, "input", "config", "hyperparameters.json"), JSON.stringify(HPS));
    return root;
  });
  const ids = [];
  try {
    for (const root of roots) ids.push(await docker(["run", "--detach", "--pull", "never", "--network", "none", "--env", "TRAINING_JOB_NAME=bench-docker", "--mount", `type=bind,source=${root},target=/opt/ml`, IMAGE, "train"]));
    await until("both containers to checkpoint", () => roots.every(ready), 60_000, 50);
    await Promise.all(ids.map((id) => docker(["kill", "--signal", "TERM", id])));
    await docker(["wait", ...ids]);
    const [a, b] = roots.map(received);
    return Math.abs(a - b);
  } finally {
    if (ids.length > 0) await docker(["rm", "--force", ...ids]);
  }
}

export async function run(ctx) {
  const runs = ctx.options.runs ?? 8;
  await docker(["image", "inspect", "--format", "{{.Id}}", IMAGE]).catch((err) => {
    throw new BenchError(`needs a Docker engine with ${IMAGE} (bash docker/ci-setup.sh): ${String(err.stderr ?? err.message).trim()}`);
  });
  const { serve, sm, data } = await startServe(ctx);
  try {
    const platform = [];
    const baseline = [];
    for (let i = 0; i < runs; i++) {
      platform.push(await platformSpread(sm, data, `bench-docker-${i}`));
      baseline.push(await oneCliPerContainer(ctx, i));
      ctx.progress(`local-docker: ${i + 1}/${runs}`);
    }
    ctx.progressDone();
    const s = summarize(platform);
    const b = summarize(baseline);
    return {
      params: { runs, image: IMAGE, hosts: 2 },
      results: { platformReceiptSpreadMs: s, baselineOneCliEachMs: b },
      table: {
        columns: ["measure", "n", "median ms", "p99 ms", "max ms"],
        rows: [
          ["docker backend, 2 hosts: first to last receipt", s.n, fmt(s.median, 0), fmt(s.p99, 0), fmt(s.max, 0)],
          ["  baseline: one docker kill CLI per container", b.n, fmt(b.median, 0), fmt(b.p99, 0), fmt(b.max, 0)],
        ],
      },
      notes: ["Receipt times are trainguard's own stopRequestedAt in each container (ms precision), which include its reaction to the signal on a busy machine."],
    };
  } finally {
    sm.destroy();
    tryKill(serve.child.pid, "SIGTERM");
    await withTimeout(serve.exited, 10_000, "serve to exit").catch(() => tryKill(serve.child.pid));
    // A run cut short leaves its jobs' containers running: the platform would remove them only once they end.
    const left = (await docker(["ps", "--all", "--quiet", "--filter", `label=trainguard.data-dir=${data}`]).catch(() => "")).split("\n").filter(Boolean);
    if (left.length > 0) await docker(["rm", "--force", ...left]).catch(() => undefined);
  }
}
