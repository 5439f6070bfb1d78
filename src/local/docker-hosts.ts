import { createHash } from "node:crypto";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "../log/index.js";
import { docker, dockerEnv, dockerOk } from "./docker-cli.js";
import { findContainers, LABEL, labelArgs, removeContainers, removeEnded } from "./docker-labels.js";
import type { HostBackend, HostLaunch } from "./host-backend.js";
import type { HostRecord, JobRecord } from "./job-record.js";
import { startProcess } from "./process-backend.js";
import type { ContainerImage, TrainingRequest } from "./training-request.js";

/**
 * A stop that comes in a container's first seconds waits (until this long after its start) for
 * its trainguard to listen. Not longer: an image without trainguard never says it listens, and
 * gets its SIGTERM at once after that, as from `docker stop`.
 */
const READY_WAIT_MS = 5_000;

type ContainerHost = HostRecord & { container: string };
const hasContainer = (h: HostRecord): h is ContainerHost => h.container !== undefined;

/**
 * The docker backend: each host is a container of a local image, `docker run <image> train` as
 * SageMaker runs it, with the host's ml-root at /opt/ml, its name (algo-K) as host name, and the
 * job's own network on which every host name resolves to its container. Containers are started
 * detached and labelled (job, host, data dir): they run on while `serve` restarts, and the next
 * `serve` follows them to their end with `docker wait`. They and the network are removed once
 * the job's outcome is recorded (their output is in the host logs, their files in the ml-roots).
 */
export class DockerHosts implements HostBackend {
  /** Names of this data dir's containers and networks carry this, so two data dirs never collide. */
  private readonly tag: string;

  private readonly dataDir: string;

  constructor(
    dataDir: string,
    private readonly log: Logger,
  ) {
    this.dataDir = path.resolve(dataDir);
    this.tag = createHash("sha256").update(this.dataDir).digest("hex").slice(0, 8);
  }

  /** No registry is reachable: an image must already be in the local engine, and is never pulled. */
  async refuse(request: TrainingRequest): Promise<string | undefined> {
    // --mount is comma-separated: a source path with a comma would be cut there.
    if (this.dataDir.includes(",")) return `ClientError: the docker backend cannot mount a data dir whose path holds a comma (${this.dataDir}): start serve with another --data`;
    const image = (request.container as ContainerImage).image;
    const r = await docker(["image", "inspect", "--format", "{{.Id}}", image]);
    if (r.code === 0) return undefined;
    if (/no such image/i.test(r.stderr)) return `ClientError: the training image ${image} is not in the local Docker engine, and trainguard local pulls nothing: build or load it first (docker build -t ${image} ..., docker load)`;
    return `ClientError: cannot check the training image ${image} with the local Docker engine: ${r.stderr.trim()}`;
  }

  async start(job: JobRecord, request: TrainingRequest, hosts: readonly HostLaunch[]): Promise<HostRecord[]> {
    const found = await findContainers(job.name, this.dataDir);
    const network = this.networkName(job.name);
    if ((await docker(["network", "inspect", network])).code !== 0) {
      await dockerOk(["network", "create", "--driver", "bridge", ...labelArgs(job.name, this.dataDir), network]);
    }
    const records: HostRecord[] = [];
    try {
      for (const h of hosts) {
        // Found by its label: started by a `serve` that ended before it could record it.
        const id = found.get(h.name) ?? (await this.run(job.name, request.container as ContainerImage, h, network));
        records.push({ name: h.name, container: id });
        if (!found.has(h.name)) this.followLogs(id, h);
      }
    } catch (err) {
      await removeContainers(job.name, this.dataDir, network);
      throw err;
    }
    return records;
  }

  private async run(job: string, image: ContainerImage, h: HostLaunch, network: string): Promise<string> {
    const args = [
      "run", "--detach", "--pull", "never",
      "--name", `trainguard-${job}-${h.name}-${this.tag}`,
      "--hostname", h.name, "--network", network, "--network-alias", h.name,
      ...labelArgs(job, this.dataDir), "--label", `${LABEL.host}=${h.name}`,
      "--mount", `type=bind,source=${path.resolve(h.mlRoot)},target=/opt/ml`,
      ...Object.entries(h.env).flatMap(([k, v]) => ["--env", `${k}=${v}`]),
      // --entrypoint takes one word: the rest of ContainerEntrypoint goes first among the arguments.
      ...(image.entrypoint !== undefined ? ["--entrypoint", image.entrypoint[0] as string] : []),
      image.image,
      ...(image.entrypoint?.slice(1) ?? []),
      ...image.args,
    ];
    return dockerOk(args);
  }

  /** `docker logs -f` into the host's log writer, both detached: the output is recorded across a restart of `serve`, and the follower ends with the container. */
  private followLogs(id: string, h: HostLaunch): void {
    const follower = startProcess(["docker", "logs", "--follow", id], dockerEnv(), h.log, { kind: "process-group" }, h.mlRoot);
    follower.child.once("exit", (code) => {
      if (code !== 0) this.log.warn({ event: "local.docker.logs", container: id, code }, `docker logs of ${h.name} ended with ${code}`);
    });
  }

  private networkName(job: string): string {
    return `trainguard-${job}-${this.tag}`;
  }

  async adopt(job: JobRecord): Promise<void> {
    const found = await findContainers(job.name, this.dataDir);
    for (const h of job.hosts ?? []) h.container ??= found.get(h.name);
  }

  /**
   * One `docker kill --signal TERM` for every host: the CLI sends the engine one request per
   * container, concurrently (receipt spread median 17 ms for 2 hosts on a loaded machine, against
   * 28 ms with one CLI process per host: BENCHMARKS.md). It waits until every
   * host's trainguard listens (see READY_WAIT_MS): PID 1 drops a SIGTERM that comes before its
   * handlers are attached, where `docker kill` would lose it. Each host's time is when the engine
   * confirmed the delivery, an upper bound; trainguard records its own receipt in status.json.
   */
  async terminate(hosts: readonly HostRecord[], ready: (host: HostRecord) => () => boolean): Promise<(number | undefined)[]> {
    const waiting = await Promise.all(hosts.map(async (h) => (hasContainer(h) && (await this.waitReady(h, ready(h))) ? h.container : undefined)));
    const ids = waiting.flatMap((id) => (id === undefined ? [] : [id]));
    if (ids.length === 0) return hosts.map(() => undefined);
    const r = await docker(["kill", "--signal", "TERM", ...ids]);
    const at = performance.timeOrigin + performance.now();
    // It prints each container it signalled, as named; those it could not (ended meanwhile) are in stderr.
    const signalled = new Set(r.stdout.split("\n").map((l) => l.trim()));
    return waiting.map((id) => (id !== undefined && signalled.has(id) ? at : undefined));
  }

  /** True once `isReady()`, or READY_WAIT_MS after the container started; false when it is no longer running. */
  private async waitReady(h: ContainerHost, isReady: () => boolean): Promise<boolean> {
    if (isReady()) return true;
    const r = await docker(["inspect", "--format", "{{.State.Running}} {{.State.StartedAt}}", h.container]);
    const [running, startedAt] = r.stdout.trim().split(" ");
    if (r.code !== 0 || running !== "true") return false;
    const giveUpAt = Date.parse(startedAt ?? "") + READY_WAIT_MS;
    while (!isReady() && Date.now() < giveUpAt) {
      await sleep(20);
      if (!(await this.running(h))) return false;
    }
    return true;
  }

  async running(host: HostRecord): Promise<boolean> {
    if (!hasContainer(host)) return false;
    const r = await docker(["inspect", "--format", "{{.State.Running}}", host.container]);
    return r.code === 0 && r.stdout.trim() === "true";
  }

  async kill(host: HostRecord): Promise<void> {
    if (hasContainer(host)) await docker(["kill", "--signal", "KILL", host.container]);
  }

  /** `docker wait` also answers at once for a container that ended while `serve` was down. */
  async waitForExit(host: HostRecord): Promise<void> {
    if (!hasContainer(host)) return;
    for (;;) {
      const r = await docker(["wait", host.container], 0);
      if (r.code === 0) {
        host.exitCode = Number(r.stdout.trim());
        return;
      }
      if (/no such container/i.test(r.stderr)) return;
      // The engine restarting, or busy: ask again.
      this.log.warn({ event: "local.docker.wait", container: host.container, err: r.stderr.trim() }, `docker wait ${host.name}: ${r.stderr.trim()}`);
      await sleep(1000);
    }
  }

  async release(job: JobRecord): Promise<void> {
    await removeContainers(job.name, this.dataDir, this.networkName(job.name));
  }

  /** At start: what a `serve` that went down between recording a job's outcome and removing its containers left. */
  removeEnded(ended: ReadonlySet<string>): Promise<void> {
    return removeEnded(ended, this.dataDir);
  }
}
