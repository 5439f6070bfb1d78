import { existsSync } from "node:fs";
import path from "node:path";
import { mlPaths } from "../contract/index.js";
import type { ChildProcess } from "node:child_process";
import type { S3Client } from "@aws-sdk/client-s3";
import type { Logger } from "../log/index.js";
import { downloadChannels } from "./channels.js";
import { isEnded, transition, type JobRecord } from "./job-record.js";
import { prepareMlRoot } from "./ml-config.js";
import { readOutcome } from "./outcome.js";
import { uploadOutputs } from "./output-upload.js";
import { killJob, sendStop, startProcess, stillRunningRef, waitForExit, type Isolation } from "./process-backend.js";
import type { JobRegistry } from "./registry.js";
import { readTrainingRequest, type TrainingRequest } from "./training-request.js";

const MAX_TIMER_MS = 2 ** 31 - 1;

export interface RunnerSettings {
  readonly registry: JobRegistry;
  readonly s3: S3Client;
  /** What every job's process gets besides its own variables: PATH, the S3 endpoint and keys. */
  readonly baseEnv: Readonly<Record<string, string>>;
  readonly isolation: Isolation;
  readonly stopTimeoutMs: number;
  /** argv that runs `trainguard train`. */
  readonly trainguard: readonly string[];
  readonly log: Logger;
}

/**
 * Plays SageMaker's part for each job: Starting, Downloading (S3 channels), Training (the
 * process), Stopping (SIGTERM, SIGKILL after the stop timeout), Uploading (model.tar.gz and
 * output.tar.gz), then Completed, Failed or Stopped. Every change is written to the registry
 * before it is acted on, so a restarted `serve` can pick any job up where it was (`resume`).
 */
export class JobRunner {
  private readonly timers = new Map<string, NodeJS.Timeout[]>();
  private readonly finishing = new Map<string, Promise<void>>();

  constructor(private readonly s: RunnerSettings) {}

  mlRoot(name: string): string {
    return path.join(this.s.registry.jobDir(name), "ml");
  }

  /** A new job: run it in the background; its record is already in the registry. */
  start(job: JobRecord): void {
    void this.run(job).catch((err: unknown) => this.s.log.error({ event: "local.job.error", job: job.name, err }, "job runner failed"));
  }

  /** After a restart of `serve`: follow a job whose process still runs, finish one whose process is gone. */
  resume(job: JobRecord): void {
    if (isEnded(job.status)) return;
    if (job.process === undefined) return this.start(job);
    this.arm(job);
    void this.follow(job, undefined);
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
    if (job.process !== undefined) {
      await sendStop(job.process, "SIGTERM", this.listening(job.name));
      this.arm(job);
    }
    return true;
  }

  private async run(job: JobRecord): Promise<void> {
    const request = readTrainingRequest(job.request);
    const mlRoot = this.mlRoot(job.name);
    try {
      await prepareMlRoot(mlRoot, request);
      if (request.channels.length > 0 && job.stopRequestedAt === undefined) {
        await this.set(job, "Downloading");
        await downloadChannels(mlRoot, request, this.s.s3, this.s.log);
      }
    } catch (err) {
      return this.end(job, { status: "Failed", failureReason: `ClientError: ${(err as Error).message}`.slice(0, 1024) });
    }
    if (job.stopRequestedAt !== undefined) return this.finish(job, request);
    job.trainingStartTime = Date.now();
    await this.set(job, "Training");
    const started = startProcess(this.s.trainguard, this.jobEnv(job, request, mlRoot), path.join(this.s.registry.jobDir(job.name), "algo-1.log"), this.s.isolation, mlRoot);
    job.process = started.ref;
    await this.s.registry.save(job);
    this.s.log.info({ event: "local.job.start", job: job.name, pid: started.ref.pid, isolation: started.ref.isolation }, `started ${job.name}`);
    // A stop that came while the process was being started has not reached it yet.
    if (job.stopRequestedAt !== undefined) await sendStop(started.ref, "SIGTERM", this.listening(job.name));
    this.arm(job);
    await this.follow(job, started.child);
  }

  /** trainguard writes its status.json only after its signal handlers are attached. */
  private listening(name: string): () => boolean {
    const statusFile = mlPaths(this.mlRoot(name)).statusFile;
    return () => existsSync(statusFile);
  }

  private jobEnv(job: JobRecord, request: TrainingRequest, mlRoot: string): NodeJS.ProcessEnv {
    return {
      ...this.s.baseEnv,
      TRAINGUARD_GRACE: String(this.s.stopTimeoutMs / 1000),
      ...request.environment,
      TRAINING_JOB_NAME: job.name,
      TRAINING_JOB_ARN: job.arn,
      TRAINGUARD_COMMAND: JSON.stringify(request.argv),
      TRAINGUARD_ML_ROOT: mlRoot,
    };
  }

  /** Timers that outlive a restart because they are computed from the record: MaxRuntime and the stop's SIGKILL. */
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
    if (job.stopRequestedAt !== undefined && job.process !== undefined) {
      const ref = job.process;
      at(job.stopRequestedAt + this.s.stopTimeoutMs, () => {
        if (!stillRunningRef(ref)) return;
        this.s.log.warn({ event: "local.job.kill", job: job.name }, `${job.name} still running ${this.s.stopTimeoutMs / 1000} s after SIGTERM: SIGKILL`);
        killJob(ref);
      });
    }
    this.timers.set(job.name, timers);
  }

  private disarm(name: string): void {
    for (const timer of this.timers.get(name) ?? []) clearTimeout(timer);
    this.timers.delete(name);
  }

  private async follow(job: JobRecord, child: ChildProcess | undefined): Promise<void> {
    if (job.process !== undefined) await waitForExit(job.process, child);
    this.disarm(job.name);
    await this.finish(job, readTrainingRequest(job.request));
  }

  private finish(job: JobRecord, request: TrainingRequest): Promise<void> {
    let running = this.finishing.get(job.name);
    if (running === undefined) {
      running = this.upload(job, request).finally(() => this.finishing.delete(job.name));
      this.finishing.set(job.name, running);
    }
    return running;
  }

  private async upload(job: JobRecord, request: TrainingRequest): Promise<void> {
    const mlRoot = this.mlRoot(job.name);
    job.trainingEndTime ??= Date.now();
    await this.set(job, "Uploading");
    const outcome = await readOutcome(mlRoot, job.stopRequestedAt !== undefined);
    try {
      job.s3ModelArtifacts = await uploadOutputs(mlRoot, request, this.s.s3, this.s.log);
    } catch (err) {
      return this.end(job, { status: "Failed", failureReason: `InternalServerError: uploading the model to ${request.outputPath} failed: ${(err as Error).message}`.slice(0, 1024) });
    }
    await this.end(job, outcome);
  }

  private async end(job: JobRecord, outcome: { status: "Completed" | "Failed" | "Stopped"; failureReason?: string }): Promise<void> {
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
