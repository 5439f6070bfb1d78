import type { HostRecord, JobRecord } from "./job-record.js";
import type { HostLog } from "./process-backend.js";
import type { TrainingRequest } from "./training-request.js";

/** One host to start: its name (algo-K), ml-root, log, and the variables of its algorithm's environment. */
export interface HostLaunch {
  readonly name: string;
  readonly mlRoot: string;
  readonly log: HostLog;
  readonly env: Readonly<Record<string, string>>;
}

/**
 * What runs a job's hosts: processes of this machine (file:// images) or Docker containers. The
 * job runner drives both through this alone: start, signal, kill, wait; the records it saves are
 * the HostRecords these fill in, from which a restarted `serve` finds the hosts again.
 */
export interface HostBackend {
  /** Why the job cannot run on this backend (a FailureReason), checked before its hosts start. */
  refuse(request: TrainingRequest): Promise<string | undefined>;
  /** Starts every host (throws after undoing what it started); the records in host order. */
  start(job: JobRecord, request: TrainingRequest, hosts: readonly HostLaunch[]): Promise<HostRecord[]>;
  /** After a restart of `serve`: finds the job's hosts again, filling in what the records lack. */
  adopt(job: JobRecord): Promise<void>;
  /**
   * SIGTERM to every host given at once, each once `ready(host)` says its PID 1 listens (or after
   * a while). Resolves with the epoch time (fractional ms) each was signalled, undefined for those
   * that were not (not running).
   */
  terminate(hosts: readonly HostRecord[], ready: (host: HostRecord) => () => boolean): Promise<(number | undefined)[]>;
  running(host: HostRecord): Promise<boolean>;
  /** SIGKILL to the host (every process of it). */
  kill(host: HostRecord): Promise<void>;
  /** Resolves when the host has ended (recording its exit code where the backend knows it). */
  waitForExit(host: HostRecord): Promise<void>;
  /** After the job's outcome is recorded: frees what the backend made for it. */
  release(job: JobRecord): Promise<void>;
}
