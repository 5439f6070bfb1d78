import { readFile } from "node:fs/promises";
import path from "node:path";
import type { JobRecord } from "../../src/local/job-record.js";
import { docker } from "../docker/docker.js";
import { waitFor } from "../helpers/wait.js";
import type { Serve } from "./helpers.js";

export { describeWithDocker, docker, dockerOk, PYTHON_IMAGE, SHELL_IMAGE, NODE_IMAGE, PYTORCH_IMAGE } from "../docker/docker.js";

/** The platform's record of a job, as `serve` wrote it. */
export async function jobRecord(serve: Serve, name: string): Promise<JobRecord> {
  return JSON.parse(await readFile(path.join(serve.dataDir, "jobs", name, "job.json"), "utf8")) as JobRecord;
}

/** A file of a host's ml-root (its /opt/ml). */
export function hostFile(serve: Serve, name: string, host: string, rel: string): Promise<string> {
  return readFile(path.join(serve.dataDir, "jobs", name, host, rel), "utf8");
}

/** The containers and networks the platform made for a job, by its label, that still exist. */
export async function leftovers(name: string): Promise<{ containers: string[]; networks: string[] }> {
  const containers = (await docker(["ps", "--all", "--quiet", "--filter", `label=trainguard.job=${name}`])).stdout.split("\n").filter(Boolean);
  const networks = (await docker(["network", "ls", "--quiet", "--filter", `label=trainguard.job=${name}`])).stdout.split("\n").filter(Boolean);
  return { containers, networks };
}

/** Waits until the platform removed the job's containers and network (after recording its outcome). */
export async function gone(name: string): Promise<void> {
  await waitFor(`the containers and network of ${name} to be removed`, async () => {
    const left = await leftovers(name);
    return left.containers.length + left.networks.length === 0 ? true : undefined;
  }, { timeoutMs: 20_000, intervalMs: 200 });
}
