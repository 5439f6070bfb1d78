import type { Logger } from "../log/index.js";
import type { CheckpointKeeper } from "./checkpoint-keeper.js";
import type { SavedCheckpoint } from "./checkpoints.js";
import type { Hyperparameters } from "./hyperparameters.js";
import { printMetric } from "./metric.js";
import type { StopState } from "./stop-state.js";

/** The directories of the container contract the training function reads and writes. */
export interface TrainingDirs {
  /** <ml-root>/model: the final model (a Completed job keeps what is here). */
  readonly model: string;
  /** <ml-root>/output. */
  readonly output: string;
  /** <ml-root>/output/data: extra output the platform uploads. */
  readonly outputData: string;
  /** Where saveCheckpoint writes (SM_CHECKPOINT_DIR). */
  readonly checkpoints: string;
  /** <ml-root>/input (config/ and data/). */
  readonly input: string;
}

/** What runTraining hands the training function. */
export interface TrainingContext {
  readonly jobName: string;
  /** Typed getters: `ctx.hp.number("lr", 0.01)`, `.integer`, `.string`, `.boolean`, `.json`. */
  readonly hp: Hyperparameters;
  /** Every hyperparameter, decoded as the AWS toolkit does (JSON where it parses, the string otherwise). */
  readonly hyperparameters: Readonly<Record<string, unknown>>;
  /** Channel name -> its directory (<ml-root>/input/data/<name>). */
  readonly channels: Readonly<Record<string, string>>;
  readonly dirs: TrainingDirs;
  readonly hosts: readonly string[];
  readonly currentHost: string;
  /** The first host: the one that should write checkpoints and the model in multi-host jobs. */
  readonly isLeader: boolean;
  /** True under `trainguard run`/`train` (the supervisor packages); false in-process. */
  readonly supervised: boolean;
  /** Aborted (reason: StopRequested) when the stop request arrives: save, then return. */
  readonly signal: AbortSignal;
  /** When the training function must have returned, once a stop was requested; null before. */
  readonly deadline: Date | null;
  /** Milliseconds until `deadline` (0 when past), Infinity before a stop. */
  timeLeftMs(): number;
  /**
   * `writer` fills a fresh directory; then every file is fsynced, the commit marker written last
   * and the directory renamed to <checkpoints>/<name>: complete or invisible. Saves run one at a
   * time; only the newest `keep` are kept.
   */
  saveCheckpoint(name: string, writer: (dir: string) => Promise<void>): Promise<SavedCheckpoint>;
  /** The newest complete checkpoint (what a resume downloaded included), or null. */
  latestCheckpoint(): Promise<SavedCheckpoint | null>;
  readonly log: Logger;
  /** Prints `METRIC <name>=<value>[ step=<step>]` on stdout (see metricRegex for SageMaker). */
  metric(name: string, value: number, step?: number): void;
}

/** The job's side of the context: the same in both modes, whoever read the configuration. */
export interface JobInfo {
  readonly jobName: string;
  readonly hp: Hyperparameters;
  readonly channels: Readonly<Record<string, string>>;
  readonly dirs: TrainingDirs;
  readonly hosts: readonly string[];
  readonly currentHost: string;
}

export function createContext(job: JobInfo, stop: StopState, checkpoints: CheckpointKeeper, log: Logger, supervised: boolean): TrainingContext {
  // Plain functions (not methods) so `const { saveCheckpoint } = ctx` works too.
  return Object.freeze({
    jobName: job.jobName,
    hp: job.hp,
    hyperparameters: job.hp.all,
    channels: job.channels,
    dirs: job.dirs,
    hosts: job.hosts,
    currentHost: job.currentHost,
    isLeader: job.hosts[0] === job.currentHost,
    supervised,
    signal: stop.signal,
    get deadline() {
      return stop.deadline;
    },
    timeLeftMs: () => stop.timeLeftMs(),
    saveCheckpoint: (name: string, writer: (dir: string) => Promise<void>) => checkpoints.save(name, writer),
    latestCheckpoint: () => checkpoints.latest(),
    log,
    metric: (name: string, value: number, step?: number) => printMetric(name, value, step),
  });
}
