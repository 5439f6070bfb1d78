import type { ChildProcess } from "node:child_process";
import type { HostBackend, HostLaunch } from "./host-backend.js";
import type { HostRecord, JobRecord, ProcessRef } from "./job-record.js";
import { killJob, sendStop, signalAllReady, startProcess, stillRunningRef, waitForExit, type Isolation } from "./process-backend.js";
import type { TrainingRequest } from "./training-request.js";

type ProcessHost = HostRecord & { process: ProcessRef };
const hasProcess = (h: HostRecord): h is ProcessHost => h.process !== undefined;

/** The process backend: each host is trainguard run as a process of this machine (file:// images). */
export class ProcessHosts implements HostBackend {
  /** The processes this `serve` spawned, by pid: their exit event beats polling /proc. */
  private readonly children = new Map<number, ChildProcess>();

  constructor(
    private readonly isolation: Isolation,
    /** argv that runs `trainguard train`. */
    private readonly trainguard: readonly string[],
    private readonly baseEnv: Readonly<Record<string, string>>,
  ) {}

  async refuse(): Promise<string | undefined> {
    return undefined;
  }

  async start(_job: JobRecord, request: TrainingRequest, hosts: readonly HostLaunch[]): Promise<HostRecord[]> {
    return hosts.map((h) => {
      const env = { ...this.baseEnv, ...h.env, TRAINGUARD_COMMAND: JSON.stringify(request.argv), TRAINGUARD_ML_ROOT: h.mlRoot };
      const started = startProcess(this.trainguard, env, h.log, this.isolation, h.mlRoot);
      this.children.set(started.ref.pid, started.child);
      started.child.once("exit", () => setImmediate(() => this.children.delete(started.ref.pid)));
      return { name: h.name, process: started.ref };
    });
  }

  async adopt(): Promise<void> {
    // A ProcessRef (pid and start time) is all a restarted `serve` needs.
  }

  async terminate(hosts: readonly HostRecord[], ready: (host: HostRecord) => () => boolean): Promise<(number | undefined)[]> {
    const targets = hosts.map((h) => (hasProcess(h) ? { ref: h.process, ready: ready(h) } : undefined));
    const listed = targets.flatMap((t) => (t === undefined ? [] : [t]));
    const burst = signalAllReady(listed, "SIGTERM");
    let i = 0;
    return Promise.all(
      targets.map(async (t) => {
        if (t === undefined) return undefined;
        // A host still starting is signalled once trainguard listens (sendStop waits for it).
        return burst[i++] ?? (await sendStop(t.ref, "SIGTERM", t.ready));
      }),
    );
  }

  async running(host: HostRecord): Promise<boolean> {
    return hasProcess(host) && stillRunningRef(host.process);
  }

  async kill(host: HostRecord): Promise<void> {
    if (hasProcess(host)) killJob(host.process);
  }

  async waitForExit(host: HostRecord): Promise<void> {
    if (hasProcess(host)) await waitForExit(host.process, this.children.get(host.process.pid));
  }

  async release(): Promise<void> {
    // Nothing outlives a process job but its files, which are the job's.
  }
}
