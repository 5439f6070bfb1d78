import type { FlatGuard } from "../artifacts/index.js";
import type { JobConfig, MlPaths } from "../contract/index.js";
import type { StopClock, StopSource } from "./clock.js";
import type { Outcome } from "./outcome.js";

/** What the lifecycle knows once the configuration is read. */
export interface JobSetup {
  readonly jobName: string;
  readonly paths: MlPaths;
  readonly config: JobConfig;
  readonly checkpointDir: string;
}

/** How training ended, with what the stop path needs to know of it. */
export interface TrainingEnd {
  readonly outcome: Outcome;
  /** Flat checkpoint files whose writes had not finished when training ended, and kept intact copies. */
  readonly guard?: FlatGuard;
}

export interface StartedTraining {
  /** Recorded in status.json. */
  readonly pid: number;
  readonly ended: Promise<TrainingEnd>;
}

/** What a runner may ask of the job it runs in. */
export interface JobControl {
  /** A stop signal (or the stop file) arrived at `at`; the first one starts the stop clock. */
  requestStop(source: StopSource, at: number): void;
  /** A checkpoint was just committed: what a stop would package is measured again. */
  checkpointSaved(): void;
  /** The process is about to die (an uncaught exception): record the end synchronously. */
  recordDeathSync(failureReason: string, exitCode: number): void;
}

/**
 * The one step in which `trainguard run` and runTraining differ: how training runs, how it hears
 * of a stop and how it is ended. Everything around it (configuration, resume, the stop clock,
 * verdict, packaging, status, the exit code) is the lifecycle's (lifecycle.ts).
 */
export interface TrainingRunner {
  /** "the algorithm" or "the training function", in messages. */
  readonly noun: string;
  /** Added to the job's start and end log lines ({ mode: "in-process" } for runTraining). */
  readonly logFields: Readonly<Record<string, unknown>>;
  /** The signal the training code is sent as its checkpoint request; its exit code means "ended by the stop". */
  readonly stopSignal: NodeJS.Signals;
  /** The command line recorded in status.json and named in start failures, and where it came from. */
  readonly command: readonly string[];
  readonly commandSource: string;
  /** Once the trainguard dir exists: from here stop requests reach `job`. */
  attach(job: JobControl): void;
  /** Before remote checkpoints are opened: what could refuse the start later (exec limits, stale saves). Throws ConfigError. */
  prepare(setup: JobSetup): Promise<void>;
  /** Starts training from `resumedFrom` (a checkpoint dir, or "" to start fresh); a failed start is an outcome. */
  start(setup: JobSetup, resumedFrom: string): Promise<StartedTraining | TrainingEnd>;
  /** The checkpoint request, once, after the stop file is written. Time-critical: no logging before the request is out. */
  requestCheckpoint(clock: StopClock): void;
  /** The checkpoint deadline moved earlier (the checkpoint on disk is bigger than estimated). */
  checkpointDeadlineMoved(clock: StopClock): void;
  /** The checkpoint deadline passed and training still runs: end it (SIGKILL) or stop waiting for it. */
  checkpointDeadlineReached(): void;
  /** The process exits now: end whatever training still runs; returns the exit code that ending means. */
  killNow(clock: StopClock | undefined): number;
  /** The last of what training wrote to stderr, for the failure reason. */
  stderrTail(): string;
  /** Bytes packaging must reserve time for beyond the checkpoint dir's (intact copies kept aside). */
  extraPackageBytes(): number;
  /** After packaging, before the final status. */
  afterFinishing(): Promise<void>;
  /** The job ended: listeners, timers and watchers go. */
  close(): void;
}
