import { EXIT_TRAIN_FAILED, exitCodeForSignal, resolveMlRoot } from "../contract/index.js";
import { runJob, type JobControl, type JobSetup, type StartedTraining, type StopClock, type TrainingEnd, type TrainingRunner } from "../job/index.js";
import type { Outcome } from "../job/index.js";
import type { Logger } from "../log/index.js";
import { CheckpointKeeper } from "./checkpoint-keeper.js";
import { commitMarkersWith, removeStaleStaging } from "./checkpoints.js";
import { createContext, type TrainingContext } from "./context.js";
import { trainErrorReason } from "./failure-reason.js";
import { jobInfoFromConfig } from "./job-info.js";
import type { ResolvedOptions } from "./options.js";
import type { TrainFunction, TrainingResult } from "./result.js";
import type { StopListener } from "./stop-listener.js";
import { StopState } from "./stop-state.js";

/**
 * No supervisor around us: runTraining's job runs in this process, with the lifecycle every job
 * has (status.json, the stop file, the deadline, the newest complete checkpoint packaged for
 * Stopped and Failed jobs, the process gone before the deadline).
 */
export function runInProcess(train: TrainFunction, options: ResolvedOptions, listener: StopListener, log: Logger, env: NodeJS.ProcessEnv): Promise<TrainingResult> {
  const markers = commitMarkersWith(options.commitMarkers);
  return runJob({
    mlRoot: resolveMlRoot(options.mlRoot, env),
    graceSeconds: options.graceSeconds,
    jobName: options.jobName,
    checkpointDir: options.checkpointDir,
    settings: options,
    markers,
    env,
    log,
    names: {
      mlRoot: options.sources.mlRoot ?? "mlRoot",
      checkpointDir: options.sources.checkpointDir ?? "checkpointDir",
      jobName: options.sources.jobName,
      output: "output",
      checkpointUri: "checkpointUri",
      modelLayout: "model layout",
      s3Endpoint: "s3Endpoint",
    },
    runner: new FunctionRunner(train, listener, options.keep, markers, log),
  });
}

/**
 * Training as a function in this thread. What it cannot do is kill the function: at the
 * checkpoint deadline it stops waiting for it, refuses further checkpoint commits and lets the
 * newest complete checkpoint be packaged; a function that never yields to the event loop blocks
 * all of this (README).
 */
class FunctionRunner implements TrainingRunner {
  readonly noun = "the training function";
  readonly logFields = { mode: "in-process" };
  readonly stopSignal = "SIGTERM";
  readonly command = process.argv;
  readonly commandSource = "runTraining";
  private readonly stopState = new StopState();
  private checkpoints: CheckpointKeeper | undefined;
  private checkpointDir = "";
  private closed = false;
  private overdue: () => void = () => undefined;
  private readonly overduePromise = new Promise<Outcome>((resolve) => {
    this.overdue = () => resolve({ kind: "overdue" });
  });
  private onUncaught: ((error: unknown) => void) | undefined;
  private job: JobControl | undefined;

  constructor(
    private readonly train: TrainFunction,
    private readonly listener: StopListener,
    private readonly keep: number,
    private readonly markers: readonly string[] | undefined,
    private readonly log: Logger,
  ) {}

  attach(job: JobControl): void {
    this.job = job;
    this.listener.onStop((notice) => job.requestStop(notice.source, notice.at));
    this.listener.onRepeatedStop((notice) => job.requestStop(notice.source, notice.at));
    // An uncaught exception is about to end the process: leave the two files a platform reads.
    this.onUncaught = (error) => job.recordDeathSync(trainErrorReason(error), EXIT_TRAIN_FAILED);
    process.on("uncaughtExceptionMonitor", this.onUncaught);
  }

  async prepare(setup: JobSetup): Promise<void> {
    for (const stale of await removeStaleStaging(setup.checkpointDir)) {
      this.log.info({ event: "checkpoint.cleanup", staged: stale }, "removed a save an earlier run left unfinished");
    }
  }

  async start(setup: JobSetup): Promise<StartedTraining> {
    this.checkpointDir = setup.checkpointDir;
    this.checkpoints = new CheckpointKeeper(setup.checkpointDir, this.keep, this.markers, () => this.job?.checkpointSaved());
    const info = jobInfoFromConfig(setup.paths, setup.config, setup.jobName, setup.checkpointDir);
    const ctx = createContext(info, this.stopState, this.checkpoints, this.log.child({ scope: "train" }), false);
    return { pid: process.pid, ended: this.run(ctx) };
  }

  /** The training function, or the checkpoint deadline if that comes first. */
  private async run(ctx: TrainingContext): Promise<TrainingEnd> {
    // The job records that training started (and delivers a stop that came first) before the function runs.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const settled = (async (): Promise<Outcome> => {
      try {
        await this.train(ctx);
        return { kind: "returned" };
      } catch (error) {
        return { kind: "threw", failureReason: trainErrorReason(error) };
      }
    })();
    const outcome = await Promise.race([settled, this.overduePromise]);
    if (outcome.kind === "overdue") {
      // From here the checkpoint to package is chosen: no new one may replace or rotate it away.
      this.checkpoints?.freeze("the checkpoint deadline passed and trainguard is packaging the newest complete checkpoint");
      void settled.then((late) => {
        if (!this.closed) this.log.warn({ event: "algorithm.late", outcome: late.kind }, "the training function ended after the checkpoint deadline; its result is ignored");
      });
    }
    this.log.info({ event: "algorithm.exit", outcome: outcome.kind }, outcome.kind === "overdue" ? "training function did not return by the checkpoint deadline" : `training function ${outcome.kind}`);
    return { outcome };
  }

  requestCheckpoint(clock: StopClock): void {
    this.stopState.request(clock.source, clock.checkpointDeadline);
  }

  checkpointDeadlineMoved(clock: StopClock): void {
    this.stopState.moveDeadlineEarlier(clock.checkpointDeadline);
  }

  checkpointDeadlineReached(): void {
    this.overdue();
  }

  /** The function shares this process: what an unhandled stop signal would have exited with. */
  killNow(clock: StopClock | undefined): number {
    return exitCodeForSignal(clock?.signalName ?? "SIGTERM");
  }

  stderrTail(): string {
    return "";
  }

  extraPackageBytes(): number {
    return 0;
  }

  async afterFinishing(): Promise<void> {
    // A function abandoned at the deadline may be mid-save: its staged files would only wait for
    // the next run's clean-up. (A save that finishes later is refused and cleans up after itself.)
    if (this.checkpoints?.frozen) await removeStaleStaging(this.checkpointDir).catch(() => undefined);
  }

  close(): void {
    this.closed = true;
    if (this.onUncaught) process.off("uncaughtExceptionMonitor", this.onUncaught);
  }
}
