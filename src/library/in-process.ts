import { mkdirSync, rmSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import type { StopReason } from "../artifacts/index.js";
import { ConfigError, EXIT_CONFIG_ERROR, mlPaths, readJobConfig, resolveJobName, type JobConfig, type MlPaths } from "../contract/index.js";
import type { Logger } from "../log/index.js";
import {
  EXIT_MARGIN_MS,
  JobArtifacts,
  StatusFile,
  EXIT_INTERNAL_ERROR,
  checkpointReserveMs,
  exitCodeForSignal,
  finishingDeadline,
  hardExit,
  judge,
  setAsideStaleFailureFile,
  writeFailureFile,
  writeStopRequest,
  type ArtifactStatus,
} from "../supervisor/index.js";
import { CheckpointKeeper } from "./checkpoint-keeper.js";
import { COMMIT_MARKER, removeStaleStaging } from "./checkpoints.js";
import { createContext, type TrainingContext } from "./context.js";
import { trainErrorReason } from "./failure-reason.js";
import { jobInfoFromConfig } from "./job-info.js";
import type { ResolvedOptions } from "./options.js";
import { EXIT_TRAIN_FAILED, writeFailureFileSync, type TrainFunction, type TrainingResult } from "./result.js";
import type { StopListener, StopNotice } from "./stop-listener.js";
import { StopState } from "./stop-state.js";

interface Stop {
  readonly source: NodeJS.Signals | "stop-file";
  readonly requestedAt: number;
  readonly deadline: number;
  readonly checkpointDeadline: number;
}

/** How the training function's part ended. */
type TrainOutcome = { kind: "returned" } | { kind: "threw"; error: unknown } | { kind: "overdue" };

interface JobVerdict {
  readonly status: "Completed" | "Stopped" | "Failed";
  readonly reason: StopReason;
  readonly exitCode: number;
  readonly failureReason: string | null;
  readonly message?: string;
}

type Phase = "starting" | "training" | "finishing" | "done";

/**
 * No supervisor around us: runTraining does its job in this process, with the supervisor's parts
 * (StatusFile, the stop request file, checkpointReserveMs, JobArtifacts for the output, the
 * checkpoint remote and packaging, the failure file) and the same rules: status.json lifecycle,
 * deadline = stop + grace, checkpoint deadline = deadline - packaging reserve, the newest complete checkpoint packaged for
 * Stopped and Failed jobs, the process gone before the deadline.
 *
 * What it cannot do is kill the training function: it shares this thread. At the checkpoint
 * deadline it stops waiting for it, refuses further checkpoint commits and packages what is
 * complete; a function that never yields to the event loop blocks all of this (README).
 */
export class InProcessJob {
  private readonly paths: MlPaths;
  private readonly graceMs: number;
  private readonly stopState = new StopState();
  private readonly starting = new AbortController();
  private readonly finishing = new AbortController();
  private readonly timers: NodeJS.Timeout[] = [];
  private status!: StatusFile;
  private phase: Phase = "starting";
  private stop: Stop | undefined;
  private checkpointDir = "";
  private markers: readonly string[] | undefined;
  /** The model dir, the output and the checkpoint remote, once the configuration is read. */
  private artifacts: JobArtifacts | undefined;
  private checkpoints: CheckpointKeeper | undefined;
  private estimatedPackageBytes = 0;
  private overdue!: () => void;
  private readonly overduePromise = new Promise<TrainOutcome>((resolve) => {
    this.overdue = () => resolve({ kind: "overdue" });
  });

  constructor(
    private readonly options: ResolvedOptions,
    mlRoot: string,
    private readonly log: Logger,
  ) {
    this.paths = mlPaths(mlRoot);
    this.graceMs = options.graceSeconds * 1000;
  }

  async run(train: TrainFunction, listener: StopListener, env: NodeJS.ProcessEnv): Promise<TrainingResult> {
    let jobName: string | null = null;
    let configError: unknown;
    try {
      jobName = resolveJobName(this.options.jobName, env);
    } catch (err) {
      configError = err;
    }
    this.status = new StatusFile(this.paths.statusFile, { jobName, command: process.argv });
    // A stop file from an earlier run would read as a stop of this one.
    mkdirSync(this.paths.trainguardDir, { recursive: true });
    rmSync(this.paths.stopRequestFile, { force: true });
    listener.onStop((notice) => this.onStop(notice));
    listener.onRepeatedStop((notice) => {
      this.log.info({ event: "stop.repeated", signal: notice.source, deadline: this.stop ? new Date(this.stop.deadline).toISOString() : undefined }, "stop already requested; deadline unchanged");
    });
    const onUncaught = (error: unknown): void => this.recordCrash(error);
    process.on("uncaughtExceptionMonitor", onUncaught);
    try {
      return await this.runJob(train, jobName, configError, env);
    } catch (err) {
      return await this.failInternally(err);
    } finally {
      this.phase = "done";
      for (const timer of this.timers) clearTimeout(timer);
      process.off("uncaughtExceptionMonitor", onUncaught);
    }
  }

  private async runJob(train: TrainFunction, jobName: string | null, configError: unknown, env: NodeJS.ProcessEnv): Promise<TrainingResult> {
    if (await setAsideStaleFailureFile(this.paths.failureFile)) {
      this.log.info({ event: "failure.previous", path: `${this.paths.failureFile}.previous` }, "kept an earlier run's failure file aside");
    }
    await this.status.flush();
    this.log.info({ event: "job.start", mode: "in-process", jobName, mlRoot: this.paths.root, graceSeconds: this.options.graceSeconds, pid1: process.pid === 1 }, "job starting (in-process)");

    if (configError !== undefined) return this.failBeforeStart(configError);
    let config: JobConfig;
    try {
      config = await readJobConfig(this.paths);
    } catch (err) {
      return this.failBeforeStart(err);
    }
    this.checkpointDir = this.options.checkpointDir ?? config.checkpoint.localPath ?? this.paths.defaultCheckpointDir;
    this.markers = this.options.commitMarkers ? [...new Set([COMMIT_MARKER, ...this.options.commitMarkers])] : undefined;
    await Promise.all([this.checkpointDir, this.paths.modelDir, this.paths.outputDataDir].map((dir) => mkdir(dir, { recursive: true })));
    for (const stale of await removeStaleStaging(this.checkpointDir)) {
      this.log.info({ event: "checkpoint.cleanup", staged: stale }, "removed a save an earlier run left unfinished");
    }
    try {
      this.artifacts = await JobArtifacts.open({
        settings: this.options,
        paths: this.paths,
        config,
        jobName: jobName ?? "",
        checkpointDir: this.checkpointDir,
        markers: this.markers,
        env,
        log: this.log,
        status: this.status,
        optionNames: { output: "output", checkpointUri: "checkpointUri", modelLayout: "model layout" },
        algorithmNoun: "the training function",
      });
    } catch (err) {
      return this.failBeforeStart(err);
    }
    this.log.info({ event: "config.loaded", host: config.resource.currentHost, hosts: config.resource.hosts.length, channels: config.channels.map((c) => c.name), checkpointDir: this.checkpointDir }, "configuration read");

    if (this.stop) return this.finishNotStarted();
    const resumed = await this.artifacts.resume(this.starting.signal, () => this.stop !== undefined);
    if (resumed.kind === "failed") return this.finish(judge({ kind: "resume-failed", problem: resumed.problem }, this.verdictContext()));
    if (this.stop) return this.finishNotStarted();
    await this.refreshEstimate();

    this.checkpoints = new CheckpointKeeper(this.checkpointDir, this.options.keep, this.markers, () => void this.refreshEstimate());
    const job = jobInfoFromConfig(this.paths, config, jobName ?? "", this.checkpointDir);
    const ctx = createContext(job, this.stopState, this.checkpoints, this.log.child({ scope: "train" }), false);
    this.phase = "training";
    void this.status.update({ pid: process.pid }, false);
    if (!this.stop) void this.status.transition("InProgress", "Training");
    this.artifacts.startSync();
    this.log.info({ event: "algorithm.start", mode: "in-process", pid: process.pid }, "training function started");

    const outcome = await this.runTrain(train, ctx);
    this.phase = "finishing";
    this.log.info({ event: "algorithm.exit", outcome: outcome.kind }, outcome.kind === "overdue" ? "training function did not return by the checkpoint deadline" : `training function ${outcome.kind}`);
    return this.finish(this.judgeTraining(outcome));
  }

  /** The training function, or the checkpoint deadline if that comes first. */
  private async runTrain(train: TrainFunction, ctx: TrainingContext): Promise<TrainOutcome> {
    const settled = (async (): Promise<TrainOutcome> => {
      try {
        await train(ctx);
        return { kind: "returned" };
      } catch (error) {
        return { kind: "threw", error };
      }
    })();
    const outcome = await Promise.race([settled, this.overduePromise]);
    if (outcome.kind === "overdue") {
      // From here the checkpoint to package is chosen: no new one may replace or rotate it away.
      this.checkpoints?.freeze("the checkpoint deadline passed and trainguard is packaging the newest complete checkpoint");
      void settled.then((late) => {
        if (this.phase !== "done") this.log.warn({ event: "algorithm.late", outcome: late.kind }, "the training function ended after the checkpoint deadline; its result is ignored");
      });
    }
    return outcome;
  }

  private judgeTraining(outcome: TrainOutcome): JobVerdict {
    const stop = this.stop;
    switch (outcome.kind) {
      case "returned":
        return stop ? { status: "Stopped", reason: "Stopped", exitCode: 0, failureReason: null } : { status: "Completed", reason: "Completed", exitCode: 0, failureReason: null };
      case "threw": {
        const failureReason = trainErrorReason(outcome.error);
        // A crash while saving leaves the job Stopped (it was asked to stop), with the crash as reason.
        return stop
          ? { status: "Stopped", reason: "Stopped", exitCode: EXIT_TRAIN_FAILED, failureReason, message: "training function failed while stopping" }
          : { status: "Failed", reason: "Failed", exitCode: EXIT_TRAIN_FAILED, failureReason };
      }
      case "overdue":
        void this.status.update({ escalated: true }, false);
        return { status: "Stopped", reason: "Stopped", exitCode: this.stopExitCode(), failureReason: null, message: "training function did not return by the checkpoint deadline" };
    }
  }

  private onStop(notice: StopNotice): void {
    // After the job ended (exit: false, the caller still running) a stop is no longer ours.
    if (this.phase === "done") return;
    const deadline = notice.at + this.graceMs;
    const checkpointDeadline = deadline - checkpointReserveMs(this.estimatedPackageBytes, this.graceMs);
    const stop: Stop = { source: notice.source, requestedAt: notice.at, deadline, checkpointDeadline };
    this.stop = stop;
    // The file first (the supervisor's order): code that polls it learns of the stop as the signal does.
    try {
      writeStopRequest(this.paths.stopRequestFile, {
        signal: notice.source,
        requestedAt: new Date(notice.at).toISOString(),
        deadline: new Date(deadline).toISOString(),
        checkpointDeadline: new Date(checkpointDeadline).toISOString(),
        graceSeconds: this.options.graceSeconds,
      });
    } catch (err) {
      this.log.error({ event: "stop.file-error", err }, "could not write the stop request file");
    }
    this.stopState.request(notice.source, checkpointDeadline);
    this.log.info({ event: "stop.requested", signal: notice.source, phase: this.phase, deadline: new Date(deadline).toISOString(), checkpointDeadline: new Date(checkpointDeadline).toISOString() }, `stop requested by ${notice.source}`);
    if (this.phase === "starting") this.starting.abort(new Error(`stopped by ${notice.source}`));
    this.timers.push(setTimeout(() => this.overdue(), Math.max(0, checkpointDeadline - Date.now())));
    if (this.phase === "finishing") {
      this.timers.push(setTimeout(() => this.finishing.abort(new Error("stop deadline reached")), Math.max(0, finishingDeadline(stop.deadline) - Date.now())));
    }
    this.armExitWatchdog(stop);
    void this.status.update(
      {
        stopRequestedAt: new Date(notice.at).toISOString(),
        stopSignal: notice.source,
        deadline: new Date(deadline).toISOString(),
        checkpointDeadline: new Date(checkpointDeadline).toISOString(),
      },
      false,
    );
    void this.status.transition("Stopping", "Stopping");
  }

  /**
   * The last line of defence for "always gone before the deadline": whatever still runs at the
   * deadline less a margin, record what is known and exit, whatever `exit: false` asked.
   */
  private armExitWatchdog(stop: Stop): void {
    this.timers.push(
      setTimeout(() => {
        if (this.phase === "done") return;
        const exitCode = this.status.current.trainguardExitCode ?? this.stopExitCode();
        this.log.error({ event: "deadline.exit", exitCode }, "stop deadline reached before the job finished; exiting now");
        this.status.transitionSync("Stopped", "Stopped", "deadline reached before trainguard finished", {
          endedAt: new Date().toISOString(),
          failureReason: this.status.current.failureReason ?? "trainguard reached the stop deadline before it finished",
          trainguardExitCode: exitCode,
        });
        // Not process.exit: a threadpool thread stuck on a hung mount would keep it from returning.
        hardExit(exitCode);
      }, Math.max(0, stop.deadline - EXIT_MARGIN_MS - Date.now())),
    );
  }

  /** From the verdict to the job's end: packaging, checkpoint flush, failure file, final status. */
  private async finish(verdict: JobVerdict): Promise<TrainingResult> {
    this.phase = "finishing";
    if (verdict.failureReason !== null) this.log.error({ event: "job.failure", reason: verdict.failureReason }, verdict.failureReason.split("\n")[0]);
    const deadline = (): number | undefined => (this.stop ? finishingDeadline(this.stop.deadline) : undefined);
    const flushing = this.artifacts?.flush(deadline(), this.finishing.signal);
    const packaging = this.artifacts
      ? await this.artifacts.package(verdict.reason, { stopping: this.stop !== undefined, deadline, signal: this.finishing.signal })
      : { artifact: null, problem: null };
    await flushing;
    // A training function abandoned at the deadline may be mid-save: its staged files would only
    // wait for the next run's clean-up. (A save that finishes later is refused and cleans up itself.)
    if (this.checkpoints?.frozen) await removeStaleStaging(this.checkpointDir).catch(() => undefined);
    const failureReason = [verdict.failureReason, packaging.problem].filter((r): r is string => r !== null).join("\n") || null;
    if (failureReason !== null) await writeFailureFile(this.paths.failureFile, failureReason);
    // A stop that arrived while finishing still ends the job Stopped.
    const status = this.stop ? "Stopped" : verdict.status;
    return this.end(status, verdict.exitCode, { failureReason, artifact: packaging.artifact }, verdict.message);
  }

  private finishNotStarted(): Promise<TrainingResult> {
    return this.finish(judge({ kind: "not-started" }, this.verdictContext()));
  }

  private verdictContext(): Parameters<typeof judge>[1] {
    return { stop: this.stop && { signal: this.stopSignal() }, stopSignal: "SIGTERM", escalated: false, command: process.argv, commandSource: "runTraining", stderrTail: "" };
  }

  private async failBeforeStart(err: unknown): Promise<TrainingResult> {
    if (!(err instanceof ConfigError)) throw err;
    this.log.error({ event: "config.invalid", source: err.source, field: err.field, problem: err.problem }, err.message);
    const reason = `trainguard: invalid configuration, the training function was not started.\n${err.message}`;
    await writeFailureFile(this.paths.failureFile, reason);
    return this.end("Failed", EXIT_CONFIG_ERROR, { failureReason: reason });
  }

  /** A bug or an unwritable ml-root: said in the failure file and status, exit 70 like the CLI. */
  private async failInternally(err: unknown): Promise<TrainingResult> {
    this.log.error({ event: "internal.error", err }, "trainguard failed internally");
    const reason = `trainguard: internal error: ${err instanceof Error ? err.message : String(err)}`;
    await writeFailureFile(this.paths.failureFile, reason).catch(() => undefined);
    return this.end(this.stop ? "Stopped" : "Failed", EXIT_INTERNAL_ERROR, { failureReason: reason });
  }

  private async end(status: "Stopped" | "Completed" | "Failed", exitCode: number, fields: { failureReason: string | null; artifact?: ArtifactStatus | null }, message?: string): Promise<TrainingResult> {
    await this.status.update({ ...fields, endedAt: new Date().toISOString(), trainguardExitCode: exitCode });
    await this.status.transition(status, status, message);
    await this.status.flush(true);
    this.phase = "done";
    const stop = this.stop;
    this.log.info({ event: "job.end", mode: "in-process", status, exitCode, stopDurationMs: stop ? Date.now() - stop.requestedAt : undefined, failureReason: fields.failureReason ?? undefined }, `job ${status}`);
    return { status, exitCode };
  }

  /** An uncaught exception is about to end the process: leave the two files a platform reads. */
  private recordCrash(error: unknown): void {
    if (this.phase === "done") return;
    const reason = trainErrorReason(error);
    writeFailureFileSync(this.paths.failureFile, reason);
    try {
      this.status.transitionSync(this.stop ? "Stopped" : "Failed", this.stop ? "Stopped" : "Failed", "uncaught exception", {
        endedAt: new Date().toISOString(),
        failureReason: reason,
        trainguardExitCode: 1,
      });
    } catch {
      // The process is dying anyway; the failure file is the more important of the two.
    }
  }

  private async refreshEstimate(): Promise<void> {
    const bytes = await this.artifacts?.estimatePackageBytes();
    if (bytes !== undefined) this.estimatedPackageBytes = bytes;
  }

  private stopSignal(): NodeJS.Signals {
    const source = this.stop?.source;
    return source === undefined || source === "stop-file" ? "SIGTERM" : source;
  }

  /** A stop the training function did not finish: what an unhandled stop signal would have exited with. */
  private stopExitCode(): number {
    return exitCodeForSignal(this.stopSignal());
  }
}
