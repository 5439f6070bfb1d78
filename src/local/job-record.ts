/** What the platform keeps about one training job: the request as validated, and what happened. */

import type { SecondaryStatus, TrainingJobStatus } from "../contract/index.js";

export type JobStatus = TrainingJobStatus;
/** The platform never reports Interrupted: it has no spot instances to lose. */
export type JobSecondaryStatus = Exclude<SecondaryStatus, "Interrupted">;

export interface Transition {
  readonly Status: JobSecondaryStatus;
  /** Epoch ms; the API shows seconds. */
  readonly StartTime: number;
  EndTime?: number;
  readonly StatusMessage: string;
}

/** How to find the job's process again after a restart of `serve`. */
export interface ProcessRef {
  /** The process the platform spawned (`unshare`, or trainguard itself in its own process group). */
  readonly pid: number;
  /** Field 22 of /proc/<pid>/stat: tells a recycled pid from ours. */
  readonly startTicks: string;
  readonly isolation: "pid-namespace" | "process-group";
}

/** One host (`algo-1` ... `algo-N`) of a job: its ml-root is `<job dir>/<name>`, its log `<job dir>/<name>.log`. */
export interface HostRecord {
  readonly name: string;
  process?: ProcessRef;
  /** The docker backend: the host's container (its id), found again by its labels after a restart. */
  container?: string;
  /** The container's exit code, once the engine reported it (the docker backend only). */
  exitCode?: number;
  /**
   * Epoch ms, fractional: when the platform's SIGTERM was sent to this host (process backend), or
   * when the engine confirmed it for all the job's containers at once (docker backend: one
   * `docker kill` for all; each host's trainguard records its own receipt in its status.json).
   */
  sigtermAt?: number;
}

export interface JobRecord {
  readonly name: string;
  readonly arn: string;
  /** The CreateTrainingJob request, as received (validated). */
  readonly request: Readonly<Record<string, unknown>>;
  status: JobStatus;
  secondaryStatus: JobSecondaryStatus;
  transitions: Transition[];
  readonly creationTime: number;
  lastModifiedTime: number;
  trainingStartTime?: number;
  trainingEndTime?: number;
  failureReason?: string;
  s3ModelArtifacts?: string;
  stopRequestedAt?: number;
  stopCause?: "StopTrainingJob" | "MaxRuntimeExceeded";
  /** model.tar.gz as uploaded; `verified` is set once the platform's copy was checked against trainguard's manifest. */
  artifact?: { uri: string; bytes: number; sha256: string; verified?: boolean; problems?: string[] };
  /** Set once the hosts were started, in order; the first is the leader. */
  hosts?: HostRecord[];
  /** The first host that failed on its own; the others were sent SIGTERM at `haltRequestedAt`. */
  failedHost?: string;
  haltRequestedAt?: number;
}

export const hostNames = (count: number): string[] => Array.from({ length: count }, (_, i) => `algo-${i + 1}`);

export const STATUS_MESSAGES: Record<JobSecondaryStatus, string> = {
  Starting: "Preparing the instances for training",
  Downloading: "Downloading input data",
  Training: "Training image download completed. Training in progress.",
  Stopping: "Stopping the training job",
  Uploading: "Uploading generated training model",
  Stopped: "Training job stopped",
  Completed: "Training job completed",
  Failed: "Training job failed",
  MaxRuntimeExceeded: "Job stopped because it exceeded MaxRuntimeInSeconds",
};

export const isEnded = (status: JobStatus): boolean => status === "Completed" || status === "Failed" || status === "Stopped";

/** Record a new secondary status (and the primary one when it changes), closing the previous. */
export function transition(job: JobRecord, secondary: JobSecondaryStatus, status: JobStatus = job.status, now = Date.now(), message = STATUS_MESSAGES[secondary]): void {
  const last = job.transitions.at(-1);
  if (last && last.EndTime === undefined) last.EndTime = now;
  job.transitions.push({ Status: secondary, StartTime: now, StatusMessage: message });
  job.secondaryStatus = secondary;
  job.status = status;
  job.lastModifiedTime = now;
  if (isEnded(status)) job.transitions.at(-1)!.EndTime = now;
}
