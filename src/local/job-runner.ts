import { existsSync } from "node:fs";
import path from "node:path";
import { verifyArchive } from "../artifacts/index.js";
import { errorMessage, mlPaths } from "../contract/index.js";
import type { S3Client } from "@aws-sdk/client-s3";
import type { Logger } from "../log/index.js";
import { downloadChannels } from "./channels.js";
import { DockerHosts } from "./docker-hosts.js";
import type { HostBackend } from "./host-backend.js";
import { hostNames, isEnded, transition, type HostRecord, type JobRecord } from "./job-record.js";
import { prepareMlRoot } from "./ml-config.js";
import { MergeClash } from "./model-merge.js";
import { FAILURE_REASON_CHARS, readOutcome, type Outcome } from "./outcome.js";
import { mergeOutputs, uploadOutputs } from "./output-upload.js";
import type { Isolation } from "./process-backend.js";
import { ProcessHosts } from "./process-hosts.js";
import type { JobRegistry } from "./registry.js";
import { readTrainingRequest, type TrainingRequest } from "./training-request.js";

const MAX_TIMER_MS = 2 ** 31 - 1;

export interface RunnerSettings {
  readonly registry: JobRegistry;
  readonly s3: S3Client;
  /** What every job's process gets besides its own variables: PATH, the S3 endpoint and keys (not containers: they have their image's). */
  readonly baseEnv: Readonly<Record<string, string>>;
  readonly isolation: Isolation;
  readonly stopTimeoutMs: number;
  /** Each host's log is rotated past this size (one previous generation kept). */
  readonly logMaxBytes: number;
  /** argv that runs `trainguard train`. */
  readonly trainguard: readonly string[];
  readonly log: Logger;
}

/**
 * Plays SageMaker's part for each job: Starting, Downloading (S3 channels, for every host),
 * Training (one process or container per host, algo-1 ... algo-N, on the backend the image
 * asks for: a file:// image runs as processes, any other as Docker containers), Stopping (SIGTERM to every host at once,
 * SIGKILL after the stop timeout), Uploading (the hosts' model dirs merged into model.tar.gz, and
 * output.tar.gz), then Completed, Failed or Stopped. A host that fails on its own fails the job:
 * the others get SIGTERM, as SageMaker ends the other instances. Every change is written to the
 * registry before it is acted on, so a restarted `serve` can pick any job up where it was.
 */
export class JobRunner {
  private readonly timers = new Map<string, NodeJS.Timeout[]>();
  private readonly finishing = new Map<string, Promise<void>>();
  private readonly processes: ProcessHosts;
  private readonly containers: DockerHosts;

  constructor(private readonly s: RunnerSettings) {
    this.processes = new ProcessHosts(s.isolation, s.trainguard, s.baseEnv);
    this.containers = new DockerHosts(s.registry.dataDir, s.log);
  }

  private backend(job: JobRecord): HostBackend {
    return readTrainingRequest(job.request).container === undefined ? this.processes : this.containers;
  }

  /** A host's ml-root, its /opt/ml. */
  mlRoot(name: string, host: string): string {
    return path.join(this.s.registry.jobDir(name), host);
  }

  /** A host's log file (rotated to `<file>.1`). */
  logFile(name: string, host: string): string {
    return path.join(this.s.registry.jobDir(name), `${host}.log`);
  }

  /** A new job: run it in the background; its record is already in the registry. */
  start(job: JobRecord): void {
    void this.run(job).catch((err: unknown) => this.s.log.error({ event: "local.job.error", job: job.name, err }, "job runner failed"));
  }

  /** After a restart of `serve`: follow a job whose processes still run, finish one whose processes are gone. */
  resume(job: JobRecord): void {
    if (isEnded(job.status)) return;
    if (job.hosts === undefined) return this.start(job);
    void this.backend(job)
      .adopt(job)
      .then(() => {
        this.arm(job);
        return this.follow(job);
      })
      .catch((err: unknown) => this.s.log.error({ event: "local.job.error", job: job.name, err }, "job runner failed"));
  }

  /** After a restart of `serve`: what the docker backend left of jobs that ended (none on a machine without docker). */
  async sweep(jobs: readonly JobRecord[]): Promise<void> {
    const ended = jobs.filter((j) => isEnded(j.status) && readTrainingRequest(j.request).container !== undefined);
    if (ended.length > 0) await this.containers.removeEnded(new Set(ended.map((j) => j.name)));
  }

  /** StopTrainingJob or MaxRuntimeInSeconds. Returns false when the job had already ended. */
  async stop(job: JobRecord, cause: NonNullable<JobRecord["stopCause"]>): Promise<boolean> {
    if (isEnded(job.status)) return false;
    if (job.stopRequestedAt !== undefined) return true;
    job.stopRequestedAt = Date.now();
    job.stopCause = cause;
    transition(job, "Stopping", "Stopping");
    await this.s.registry.save(job);
    this.s.log.info({ event: "local.job.stop", job: job.name, cause }, `stopping ${job.name} (${cause})`);
    if (job.hosts !== undefined) {
      await this.terminate(job, job.hosts);
      this.arm(job);
    }
    return true;
  }

  /** SIGTERM to every host given, all at once: none waits for another to be signalled. */
  private async terminate(job: JobRecord, hosts: readonly HostRecord[]): Promise<void> {
    const sentAt = await this.backend(job).terminate(hosts, (h) => this.listening(job.name, h.name));
    hosts.forEach((h, i) => {
      const at = sentAt[i];
      if (at !== undefined) h.sigtermAt ??= at;
    });
    const sent = hosts.flatMap((h) => (h.sigtermAt === undefined ? [] : [h.sigtermAt]));
    if (sent.length > 1) this.s.log.info({ event: "local.job.sigterm", job: job.name, spreadMs: Math.max(...sent) - Math.min(...sent) }, `SIGTERM reached ${sent.length} hosts`);
    await this.s.registry.save(job);
  }

  private async run(job: JobRecord): Promise<void> {
    const request = readTrainingRequest(job.request);
    const names = hostNames(request.instanceCount);
    const backend = this.backend(job);
    try {
      const refused = await backend.refuse(request);
      if (refused !== undefined) return this.end(job, { status: "Failed", failureReason: refused.slice(0, FAILURE_REASON_CHARS) });
      for (const host of names) await prepareMlRoot(this.mlRoot(job.name, host), request, host, names);
      if (request.channels.length > 0 && job.stopRequestedAt === undefined) {
        await this.set(job, "Downloading");
        // FullyReplicated: every host gets all of each channel.
        for (const host of names) await downloadChannels(this.mlRoot(job.name, host), request, this.s.s3, this.s.log);
      }
    } catch (err) {
      return this.end(job, { status: "Failed", failureReason: `ClientError: ${errorMessage(err)}`.slice(0, FAILURE_REASON_CHARS) });
    }
    if (job.stopRequestedAt !== undefined) return this.finish(job, request);
    job.trainingStartTime = Date.now();
    await this.set(job, "Training");
    const launches = names.map((host) => ({
      name: host,
      mlRoot: this.mlRoot(job.name, host),
      log: { file: this.logFile(job.name, host), host, maxBytes: this.s.logMaxBytes },
      env: this.hostEnv(job, request),
    }));
    try {
      job.hosts = await backend.start(job, request, launches);
    } catch (err) {
      return this.end(job, { status: "Failed", failureReason: `InternalServerError: could not start the job's hosts: ${(err as Error).message}`.slice(0, FAILURE_REASON_CHARS) });
    }
    await this.s.registry.save(job);
    const refs = job.hosts.map((h) => h.container ?? h.process?.pid);
    this.s.log.info({ event: "local.job.start", job: job.name, hosts: refs, backend: request.container === undefined ? this.s.isolation.kind : "docker" }, `started ${job.name} on ${names.length} host(s)`);
    // A stop that came while the processes were being started has not reached them yet.
    if (job.stopRequestedAt !== undefined) await this.terminate(job, job.hosts);
    this.arm(job);
    await this.follow(job);
  }

  /** trainguard writes its status.json only after its signal handlers are attached. */
  private listening(name: string, host: string): () => boolean {
    const statusFile = mlPaths(this.mlRoot(name, host)).statusFile;
    return () => existsSync(statusFile);
  }

  /** What SageMaker gives a container (the request's Environment, the job's name and ARN), and trainguard's budget: the platform's stop timeout. */
  private hostEnv(job: JobRecord, request: TrainingRequest): Record<string, string> {
    return {
      TRAINGUARD_GRACE: String(this.s.stopTimeoutMs / 1000),
      ...request.environment,
      TRAINING_JOB_NAME: job.name,
      TRAINING_JOB_ARN: job.arn,
    };
  }

  /** Timers that outlive a restart because they are computed from the record: MaxRuntime and the SIGKILL after a stop or a halt. */
  private arm(job: JobRecord): void {
    this.disarm(job.name);
    const timers: NodeJS.Timeout[] = [];
    // setTimeout fires at once past 2^31-1 ms (24.8 days; MaxRuntimeInSeconds may be 28 days): re-arm instead.
    const at = (epochMs: number, fn: () => void) => {
      const delay = Math.max(0, epochMs - Date.now());
      timers.push(delay > MAX_TIMER_MS ? setTimeout(() => this.arm(job), MAX_TIMER_MS) : setTimeout(fn, delay));
    };
    const request = readTrainingRequest(job.request);
    if (job.stopRequestedAt === undefined && job.trainingStartTime !== undefined) {
      at(job.trainingStartTime + request.maxRuntimeSeconds * 1000, () => void this.stop(job, "MaxRuntimeExceeded"));
    }
    const terminatedAt = job.stopRequestedAt ?? job.haltRequestedAt;
    if (terminatedAt !== undefined && job.hosts !== undefined) {
      const hosts = job.hosts;
      const backend = this.backend(job);
      at(terminatedAt + this.s.stopTimeoutMs, () => {
        void Promise.all(
          hosts.map(async (h) => {
            if (!(await backend.running(h))) return;
            this.s.log.warn({ event: "local.job.kill", job: job.name, host: h.name }, `${job.name} ${h.name} still running ${this.s.stopTimeoutMs / 1000} s after SIGTERM: SIGKILL`);
            await backend.kill(h);
          }),
        );
      });
    }
    this.timers.set(job.name, timers);
  }

  private disarm(name: string): void {
    for (const timer of this.timers.get(name) ?? []) clearTimeout(timer);
    this.timers.delete(name);
  }

  private async follow(job: JobRecord): Promise<void> {
    const backend = this.backend(job);
    await Promise.all(
      (job.hosts ?? []).map(async (h) => {
        await backend.waitForExit(h);
        await this.hostEnded(job, h);
      }),
    );
    this.disarm(job.name);
    await this.finish(job, readTrainingRequest(job.request));
  }

  /** The first host to fail on its own (not stopped) ends the others: SageMaker does not run a job on after an instance failed. */
  private async hostEnded(job: JobRecord, host: HostRecord): Promise<void> {
    if (job.stopRequestedAt !== undefined || job.failedHost !== undefined) return;
    const outcome = await readOutcome(this.mlRoot(job.name, host.name), false, host.exitCode);
    if (outcome.status !== "Failed" || job.failedHost !== undefined) return;
    job.failedHost = host.name;
    job.haltRequestedAt = Date.now();
    await this.s.registry.save(job);
    const backend = this.backend(job);
    const others = [];
    for (const h of job.hosts ?? []) if (h !== host && (await backend.running(h))) others.push(h);
    if (others.length === 0) return;
    this.s.log.info({ event: "local.job.halt", job: job.name, failed: host.name }, `${host.name} of ${job.name} failed: stopping the other hosts`);
    await this.terminate(job, others);
    this.arm(job);
  }

  private finish(job: JobRecord, request: TrainingRequest): Promise<void> {
    let running = this.finishing.get(job.name);
    if (running === undefined) {
      // The hosts' containers go only once the outcome is recorded, whichever way the upload ended.
      running = this.upload(job, request)
        .finally(() => this.backend(job).release(job))
        .finally(() => this.finishing.delete(job.name));
      this.finishing.set(job.name, running);
    }
    return running;
  }

  private async upload(job: JobRecord, request: TrainingRequest): Promise<void> {
    job.trainingEndTime ??= Date.now();
    await this.set(job, "Uploading");
    const names = job.hosts?.map((h) => h.name) ?? hostNames(request.instanceCount);
    const roots = names.map((host) => ({ host, mlRoot: this.mlRoot(job.name, host) }));
    const outcome = await this.jobOutcome(job, names);
    let merged;
    try {
      merged = await mergeOutputs(roots);
    } catch (err) {
      if (!(err instanceof MergeClash)) throw err;
      if (outcome.status === "Failed") return this.end(job, outcome);
      return this.end(job, { status: "Failed", failureReason: `ClientError: the hosts' model dirs do not merge into one model.tar.gz: ${err.message}`.slice(0, FAILURE_REASON_CHARS) });
    }
    try {
      const uploaded = await uploadOutputs(merged, request, this.s.s3, this.s.log, this.modelCopy(job.name));
      job.s3ModelArtifacts = uploaded.uri;
      job.artifact = { ...uploaded };
    } catch (err) {
      return this.end(job, { status: "Failed", failureReason: `InternalServerError: uploading the model to ${request.outputPath} failed: ${errorMessage(err)}`.slice(0, FAILURE_REASON_CHARS) });
    }
    await this.end(job, outcome);
    await this.verify(job);
  }

  /** The platform's copy of model.tar.gz, kept for the console's "verified". */
  private modelCopy(name: string): string {
    return path.join(this.s.registry.jobDir(name), "model.tar.gz");
  }

  /** After the job ended (never in its stop budget): the artifact checked as `trainguard verify` checks it. */
  private async verify(job: JobRecord): Promise<void> {
    if (job.artifact === undefined) return;
    const report = await verifyArchive(this.modelCopy(job.name));
    job.artifact = { ...job.artifact, verified: report.ok, problems: report.problems.slice(0, 5) };
    await this.s.registry.save(job);
  }

  /** Stopped when asked to stop; else Failed when a host failed (named first), Stopped when one was stopped by other means, Completed when all completed. */
  private async jobOutcome(job: JobRecord, names: readonly string[]): Promise<Outcome> {
    const stopRequested = job.stopRequestedAt !== undefined;
    const exitCodes = new Map((job.hosts ?? []).map((h) => [h.name, h.exitCode]));
    const outcomes = await Promise.all(names.map(async (host) => ({ host, ...(await readOutcome(this.mlRoot(job.name, host), stopRequested, exitCodes.get(host))) })));
    if (stopRequested) return { status: "Stopped" };
    const failed = outcomes.find((o) => o.host === job.failedHost) ?? outcomes.find((o) => o.status === "Failed");
    if (failed !== undefined) {
      const reason = names.length > 1 ? `${failed.host}: ${failed.failureReason ?? ""}` : (failed.failureReason ?? "");
      return { status: "Failed", failureReason: reason.slice(0, FAILURE_REASON_CHARS) };
    }
    if (outcomes.some((o) => o.status === "Stopped")) return { status: "Stopped" };
    return { status: "Completed" };
  }

  private async end(job: JobRecord, outcome: Outcome): Promise<void> {
    if (outcome.failureReason !== undefined) job.failureReason = outcome.failureReason;
    job.trainingEndTime ??= Date.now();
    const secondary = outcome.status === "Stopped" && job.stopCause === "MaxRuntimeExceeded" ? "MaxRuntimeExceeded" : outcome.status;
    transition(job, secondary, outcome.status);
    await this.s.registry.save(job);
    this.s.log.info({ event: "local.job.end", job: job.name, status: outcome.status }, `${job.name} ${outcome.status}`);
  }

  private async set(job: JobRecord, secondary: JobRecord["secondaryStatus"]): Promise<void> {
    transition(job, secondary);
    await this.s.registry.save(job);
  }

  close(): void {
    for (const name of [...this.timers.keys()]) this.disarm(name);
  }
}
