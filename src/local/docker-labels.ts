import { docker, dockerOk } from "./docker-cli.js";

/** The labels a container (and network) of the platform carries: a restarted `serve` finds its jobs' containers by them. */
export const LABEL = { job: "trainguard.job", host: "trainguard.host", dataDir: "trainguard.data-dir" } as const;

/** `--label` arguments naming the job and the data dir (whose path tells two platforms' jobs of one name apart). */
export function labelArgs(job: string, dataDir: string): string[] {
  return ["--label", `${LABEL.job}=${job}`, "--label", `${LABEL.dataDir}=${dataDir}`];
}

/** The job's containers, running or not, by host name. */
export async function findContainers(job: string, dataDir: string): Promise<Map<string, string>> {
  const out = await dockerOk(["ps", "--all", "--no-trunc", "--filter", `label=${LABEL.job}=${job}`, "--filter", `label=${LABEL.dataDir}=${dataDir}`, "--format", `{{.ID}} {{.Label "${LABEL.host}"}}`]);
  return new Map(idLines(out).map(([id, host]) => [host, id]));
}

/** The job's containers and its network, removed. */
export async function removeContainers(job: string, dataDir: string, network: string): Promise<void> {
  const ids = [...(await findContainers(job, dataDir)).values()];
  if (ids.length > 0) await docker(["rm", "--force", ...ids]);
  await docker(["network", "rm", network]);
}

/** Every container and network of the data dir whose job is among `ended`, removed; nothing at all without an engine. */
export async function removeEnded(ended: ReadonlySet<string>, dataDir: string): Promise<void> {
  const filter = ["--filter", `label=${LABEL.dataDir}=${dataDir}`, "--format", `{{.ID}} {{.Label "${LABEL.job}"}}`];
  const left = async (list: string[]) => {
    const r = await docker([...list, ...filter]);
    return r.code !== 0 ? [] : idLines(r.stdout).flatMap(([id, job]) => (ended.has(job) ? [id] : []));
  };
  const containers = await left(["ps", "--all", "--no-trunc"]);
  if (containers.length > 0) await docker(["rm", "--force", ...containers]);
  const networks = await left(["network", "ls", "--no-trunc"]);
  if (networks.length > 0) await docker(["network", "rm", ...networks]);
}

/** Lines of `<id> <label value>`. */
function idLines(out: string): [string, string][] {
  return out.split("\n").filter((l) => l.includes(" ")).map((l) => [l.slice(0, l.indexOf(" ")), l.slice(l.indexOf(" ") + 1).trim()]);
}
