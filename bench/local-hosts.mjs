// trainguard local, jobs of several hosts: the spread between the first and the last host's
// SIGTERM when a job of N hosts is stopped (the times the platform recorded in job.json as it
// sent each signal). Baseline in the same run: the spread of N process.kill calls in a row from
// one Node process to N idle processes, the floor for any platform written in Node.
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { spawn } from "node:child_process";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { CreateTrainingJobCommand, DescribeTrainingJobCommand, StopTrainingJobCommand } from "@aws-sdk/client-sagemaker";
import { ALGORITHM, checkpoints, request, startServe, until } from "./local-api.mjs";
import { tryKill, withTimeout } from "./lib/proc.mjs";
import { fmt, summarize } from "./lib/stats.mjs";

export const meta = { name: "local-hosts", aliases: ["hosts"], title: "trainguard local: SIGTERM spread across the hosts of a stopped job" };

async function stopSpread(sm, data, image, name, hosts) {
  await sm.send(new CreateTrainingJobCommand(request(name, image, hosts)));
  const names = Array.from({ length: hosts }, (_, i) => `algo-${i + 1}`);
  await until(`${name} to checkpoint on every host`, () => names.every((h) => checkpoints(path.join(data, "jobs", name, h, "checkpoints")) >= 1), 60_000, 50);
  await sm.send(new StopTrainingJobCommand({ TrainingJobName: name }));
  await until(`${name} to be Stopped`, async () => (await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: name }))).TrainingJobStatus === "Stopped", 60_000, 20);
  const sent = JSON.parse(readFileSync(path.join(data, "jobs", name, "job.json"), "utf8")).hosts.map((h) => h.sigtermAt);
  return Math.max(...sent) - Math.min(...sent);
}

async function killSpread(count) {
  const children = Array.from({ length: count }, () => spawn("sleep", ["60"], { stdio: "ignore" }));
  await new Promise((resolve) => setTimeout(resolve, 50));
  const at = children.map((c) => {
    c.kill("SIGTERM");
    return performance.now();
  });
  return at[at.length - 1] - at[0];
}

export async function run(ctx) {
  const runs = ctx.options.runs ?? 10;
  const imageFile = path.join(ctx.tempDir("image"), "saves-at-once.mjs");
  writeFileSync(imageFile, `#!${process.execPath}\n${ALGORITHM}`);
  chmodSync(imageFile, 0o755);
  const image = `file://${imageFile}`;
  const { serve, sm, data } = await startServe(ctx);
  try {
    const rows = [];
    const results = {};
    for (const hosts of [2, 4]) {
      const spreads = [];
      const floor = [];
      for (let i = 0; i < runs; i++) {
        spreads.push(await stopSpread(sm, data, image, `bench-hosts-${hosts}-${i}`, hosts));
        floor.push(await killSpread(hosts));
        ctx.progress(`local-hosts: ${hosts} hosts, ${i + 1}/${runs}`);
      }
      const s = summarize(spreads);
      const f = summarize(floor);
      results[`hosts${hosts}`] = { spreadMs: s, baselineKillSpreadMs: f };
      rows.push([`${hosts} hosts: first to last host's SIGTERM`, s.n, fmt(s.median, 3), fmt(s.p99, 3), fmt(s.max, 3)]);
      rows.push([`  baseline: ${hosts} process.kill in a row`, f.n, fmt(f.median, 3), fmt(f.p99, 3), fmt(f.max, 3)]);
    }
    ctx.progressDone();
    return {
      params: { runs, hosts: [2, 4], stopTimeoutSeconds: 30 },
      results,
      table: { columns: ["measure", "n", "median ms", "p99 ms", "max ms"], rows },
      notes: ["Each host's algorithm saves a 1 MiB checkpoint at start and at once on SIGTERM; the job is stopped once every host has checkpointed."],
    };
  } finally {
    sm.destroy();
    tryKill(serve.child.pid, "SIGTERM");
    await withTimeout(serve.exited, 10_000, "serve to exit").catch(() => tryKill(serve.child.pid));
  }
}
