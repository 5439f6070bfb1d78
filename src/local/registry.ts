import { mkdir, readFile, readdir, symlink } from "node:fs/promises";
import path from "node:path";
import { writeFileAtomic } from "../contract/index.js";
import type { JobRecord, ProcessRef } from "./job-record.js";

type LegacyRecord = JobRecord & { process?: ProcessRef };

/**
 * The jobs, on disk under `<data>/jobs/<name>/job.json`, each replaced atomically (and durably:
 * a restart of `serve` must find every job it accepted). Names are checked against the service's
 * pattern before they get here, so a name is always one plain path segment.
 */
export class JobRegistry {
  private readonly jobs = new Map<string, JobRecord>();
  /** One write at a time per job, in order: the last state written is the last state set. */
  private readonly writes = new Map<string, Promise<void>>();

  private constructor(readonly dataDir: string) {}

  static async open(dataDir: string): Promise<JobRegistry> {
    const registry = new JobRegistry(dataDir);
    await mkdir(registry.jobsDir, { recursive: true });
    for (const name of await readdir(registry.jobsDir)) {
      const text = await readFile(path.join(registry.jobsDir, name, "job.json"), "utf8").catch(() => undefined);
      if (text !== undefined) registry.jobs.set(name, await registry.upgrade(JSON.parse(text) as LegacyRecord));
    }
    return registry;
  }

  /**
   * A record written before jobs had several hosts: its one process and ml-root (`ml/`) become
   * host algo-1, the ml-root reached through an `algo-1` link, since a job still running writes
   * to the old path.
   */
  private async upgrade(job: LegacyRecord): Promise<JobRecord> {
    const { process: legacy, ...rest } = job;
    if (legacy === undefined || rest.hosts !== undefined) return rest;
    await symlink("ml", path.join(this.jobDir(job.name), "algo-1")).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "EEXIST") throw err;
    });
    return { ...rest, hosts: [{ name: "algo-1", process: legacy }] };
  }

  get jobsDir(): string {
    return path.join(this.dataDir, "jobs");
  }

  jobDir(name: string): string {
    return path.join(this.jobsDir, name);
  }

  get(name: string): JobRecord | undefined {
    return this.jobs.get(name);
  }

  all(): JobRecord[] {
    return [...this.jobs.values()];
  }

  /** Adds a new job (false when the name is taken) and writes it before answering. */
  async add(job: JobRecord): Promise<boolean> {
    if (this.jobs.has(job.name)) return false;
    this.jobs.set(job.name, job);
    await mkdir(this.jobDir(job.name), { recursive: true });
    await this.save(job);
    return true;
  }

  /** Writes the job's current state; resolves once it (or a later state) is on disk. */
  save(job: JobRecord): Promise<void> {
    const snapshot = JSON.stringify(job, null, 2);
    const previous = this.writes.get(job.name) ?? Promise.resolve();
    const next = previous.then(() => writeFileAtomic(path.join(this.jobDir(job.name), "job.json"), snapshot, true));
    this.writes.set(job.name, next.catch(() => undefined));
    return next;
  }
}
