import {
  ConfigError,
  EXIT_CONFIG_ERROR,
  EXIT_INTERNAL_ERROR,
  errorMessage,
  exitCodeForSignal,
  mlPaths,
  readJobConfig,
  resolveJobName,
  type JobConfig,
  type MlPaths,
} from "../contract/index.js";
import type { Logger } from "../log/index.js";
import { JobArtifacts, type ArtifactSettings, type OptionNames } from "./artifacts.js";
import { BudgetClock, StopClock, type FinishingLimits, type StopSource } from "./clock.js";
import { recordFailure, setAsideStaleFailureFile, writeFailureFileSync } from "./failure.js";
import { hardExit } from "./hard-exit.js";
import { ESTIMATE_REFRESH_MS, FIRST_ESTIMATE_AFTER_MS, checkpointReserveMs, remeasureAtStop } from "./margins.js";
import { trainingRan, type Outcome } from "./outcome.js";
import type { JobSetup, TrainingEnd, TrainingRunner } from "./runner.js";
import { prepareJobDirs, prepareTrainguardDir, statusWriteErrorLogger } from "./start-guards.js";
import { StatusFile, type ArtifactStatus, type JobStatusDocument } from "./status.js";
import { stopRequestFor, writeStopRequest } from "./stop-request.js";
import { judge, type Verdict } from "./verdict.js";

export interface JobOptions {
  readonly mlRoot: string;
  readonly graceSeconds: number;
  /** The job name option; otherwise TRAINING_JOB_NAME, otherwise generated. */
  readonly jobName: string | undefined;
  /** The checkpoint dir option; otherwise checkpointconfig.json's LocalPath, otherwise <ml-root>/checkpoints. */
  readonly checkpointDir: string | undefined;
  readonly settings: ArtifactSettings;
  /** Commit markers that make a checkpoint directory complete (default: artifacts' list). */
  readonly markers: readonly string[] | undefined;
  readonly env: NodeJS.ProcessEnv;
  readonly log: Logger;
  /** How the user spelled each option, for errors (`--output` or TRAINGUARD_OUTPUT; `output` for runTraining). */
  readonly names: OptionNames & { readonly mlRoot: string; readonly checkpointDir: string; readonly jobName?: string | undefined };
  readonly runner: TrainingRunner;
}

export type JobStatus = "Stopped" | "Completed" | "Failed";

export interface JobResult {
  readonly status: JobStatus;
  readonly exitCode: number;
}

type Phase = "starting" | "running" | "finishing" | "done";

/** Runs one job from start to exit code, `trainguard run` and runTraining alike. */
export function runJob(options: JobOptions): Promise<JobResult> {
  return new Job(options).run();
}

/**
 * One job's lifecycle, top to bottom: the trainguard dir, configuration, resume, training (the
 * runner's step), the stop, the verdict, packaging and upload, the failure file, status.json and
 * the exit code. Its rules hold whoever runs the training code:
 * - the first stop starts the stop clock (deadline = stop + grace); later ones change nothing;
 * - the stop file is written before the checkpoint request goes out;
 * - training still running at the checkpoint deadline is ended, and the newest complete
 *   checkpoint packaged;
 * - whatever still runs at the deadline less EXIT_MARGIN_MS, the process exits with what is known.
 */
class Job {
  private readonly log: Logger;
  private readonly paths: MlPaths;
  private readonly graceMs: number;
  private readonly runner: TrainingRunner;
  private status!: StatusFile;
  private phase: Phase = "starting";
  private clock: StopClock | undefined;
  /** Without a stop: the work after training is bounded by --grace from its end. */
  private finishBudget: BudgetClock | undefined;
  private artifacts: JobArtifacts | undefined;
  private estimatedPackageBytes = 0;
  /** Aborts the resume download when a stop arrives before training started. */
  private readonly starting = new AbortController();
  /**
   * Aborts a size estimate still walking the checkpoint when training ends: from then on the
   * estimate has no use, and its walk would share the threadpool with packaging's own walk of the
   * same files (measured on a 1,000-file checkpoint: the selection ~25 ms later beside it).
   */
  private readonly estimates = new AbortController();
  /** Aborts flush, packaging and upload when a budget's finishing deadline comes. */
  private readonly finishing = new AbortController();
  private readonly timers: NodeJS.Timeout[] = [];
  private checkpointTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: JobOptions) {
    this.log = options.log;
    this.paths = mlPaths(options.mlRoot);
    this.graceMs = options.graceSeconds * 1000;
    this.runner = options.runner;
  }

  async run(): Promise<JobResult> {
    let jobName: string | null = null;
    let configError: unknown;
    try {
      jobName = resolveJobName(this.options.jobName, this.options.env, this.options.names.jobName);
    } catch (err) {
      configError = err;
    }
    this.status = new StatusFile(this.paths.statusFile, { jobName, command: this.runner.command, onWriteError: statusWriteErrorLogger(this.log) });
    try {
      const unusable = prepareTrainguardDir(this.paths, this.options.names.mlRoot, this.options.graceSeconds);
      if (unusable) return this.refuseUnusableMlRoot(unusable);
      // From here a stop writes a fresh stop file: held signals are delivered now.
      this.runner.attach({
        requestStop: (source, at) => this.requestStop(source, at),
        checkpointSaved: () => void this.refreshEstimate(),
        recordDeathSync: (reason, code) => this.recordDeathSync(reason, code),
      });
      try {
        return await this.runToEnd(jobName, configError);
      } catch (err) {
        return await this.failInternally(err);
      }
    } finally {
      this.phase = "done";
      for (const timer of this.timers) clearTimeout(timer);
      this.clock?.dispose();
      this.finishBudget?.dispose();
      this.runner.close();
    }
  }

  private async runToEnd(jobName: string | null, configError: unknown): Promise<JobResult> {
    if (await setAsideStaleFailureFile(this.paths.failureFile).catch(() => false)) {
      this.log.info({ event: "failure.previous", path: `${this.paths.failureFile}.previous` }, "kept an earlier run's failure file aside");
    }
    await this.status.flush();
    this.log.info({ event: "job.start", ...this.runner.logFields, jobName, mlRoot: this.paths.root, command: this.runner.command, graceSeconds: this.options.graceSeconds, pid1: process.pid === 1 }, "job starting");

    if (configError !== undefined) return this.failBeforeStart(configError);
    let setup: JobSetup;
    try {
      setup = await this.setUp(jobName ?? "");
    } catch (err) {
      return this.failBeforeStart(err);
    }
    const artifacts = this.artifacts as JobArtifacts;
    if (this.clock) return this.finish({ outcome: { kind: "not-started" } });

    const resumed = await artifacts.resume(this.starting.signal, () => this.clock !== undefined);
    if (resumed.kind === "failed") return this.finish({ outcome: { kind: "resume-failed", problem: resumed.problem } });
    if (this.clock) return this.finish({ outcome: { kind: "not-started" } });
    const started = await this.runner.start(setup, resumed.resumedFrom);
    if (!("pid" in started)) return this.finish(started);
    this.phase = "running";
    this.log.info({ event: "algorithm.start", ...this.runner.logFields, pid: started.pid }, `${this.runner.noun} started`);
    if (this.clock) {
      // The stop arrived while training was being started: it is the checkpoint request now.
      void this.status.update({ pid: started.pid });
      this.followDelivery(this.clock, this.deliverStop(this.clock));
    } else {
      void this.status.update({ pid: started.pid }, false);
      void this.status.transition("InProgress", "Training");
    }
    this.scheduleEstimateRefresh(FIRST_ESTIMATE_AFTER_MS);
    artifacts.startSync();

    const end = await started.ended;
    this.phase = "finishing";
    return this.finish(end);
  }

  /** The configuration, the job's directories, the runner's checks, the output and checkpoint remote. Throws ConfigError. */
  private async setUp(jobName: string): Promise<JobSetup> {
    const config: JobConfig = await readJobConfig(this.paths);
    const { names } = this.options;
    const checkpointDir = this.options.checkpointDir ?? config.checkpoint.localPath ?? this.paths.defaultCheckpointDir;
    const checkpointDirSource =
      this.options.checkpointDir !== undefined ? names.checkpointDir : config.checkpoint.localPath !== undefined ? `${this.paths.checkpointConfig}: field "LocalPath"` : `${names.mlRoot} ${this.paths.root} (checkpoints)`;
    await prepareJobDirs([
      { dir: checkpointDir, source: checkpointDirSource },
      { dir: this.paths.modelDir, source: `${names.mlRoot} ${this.paths.root} (model)` },
      { dir: this.paths.outputDataDir, source: `${names.mlRoot} ${this.paths.root} (output/data)` },
    ]);
    const setup: JobSetup = { jobName, paths: this.paths, config, checkpointDir };
    await this.runner.prepare(setup);
    this.artifacts = await JobArtifacts.open({
      settings: this.options.settings,
      paths: this.paths,
      config,
      jobName,
      checkpointDir,
      markers: this.options.markers,
      env: this.options.env,
      log: this.log,
      status: this.status,
      optionNames: names,
      algorithmNoun: this.runner.noun,
    });
    this.log.info({ event: "config.loaded", host: config.resource.currentHost, hosts: config.resource.hosts.length, channels: config.channels.map((c) => c.name), checkpointDir }, "configuration read");
    return setup;
  }

  /** A stop signal or the stop file. The first starts the stop clock; repeats never move the deadline. */
  private requestStop(source: StopSource, at: number): void {
    if (this.phase === "done") return;
    if (this.clock) return this.logRepeatedStop(source, this.clock);
    const clock = new StopClock(source, at, this.graceMs, checkpointReserveMs(this.estimatedPackageBytes, this.graceMs));
    this.clock = clock;
    // Kept this short on purpose (see deliverStop): the rest of the stop comes after the request.
    this.afterStopRequested(clock, this.phase === "running" ? this.deliverStop(clock) : undefined);
  }

  private logRepeatedStop(source: StopSource, clock: StopClock): void {
    this.log.info({ event: "stop.repeated", signal: source, deadline: new Date(clock.deadline).toISOString() }, "stop already requested; deadline unchanged");
  }

  /** Everything a stop does besides the checkpoint request: logs, timers, status. */
  private afterStopRequested(clock: StopClock, deliveredAt: number | undefined): void {
    if (deliveredAt === undefined) this.writeStopFile(clock);
    this.log.info({ event: "stop.requested", signal: clock.source, phase: this.phase, deadline: new Date(clock.deadline).toISOString() }, `stop requested by ${clock.source}`);
    if (deliveredAt !== undefined) this.followDelivery(clock, deliveredAt);
    clock.signal.addEventListener("abort", () => this.finishing.abort(clock.signal.reason), { once: true });
    if (this.phase === "starting") this.starting.abort(new Error(`stopped by ${clock.source}`));
    this.armExitAt(clock.exitAt, () => ({
      status: "Stopped",
      // Stopped before training started: as an unhandled stop signal would have ended it.
      exitCode: this.status.current.exitCode ?? (this.phase === "starting" ? exitCodeForSignal(clock.signalName) : this.runner.killNow(clock)),
      reason: "trainguard reached the stop deadline before it finished",
    }));
    this.recordStopInStatus(clock);
  }

  /**
   * The time-critical part of a stop: the stop file (a handler that reads TRAINGUARD_STOP_FILE
   * finds it), then the runner's checkpoint request. Logging, status and timers come after the
   * request is out, so they add nothing to its delay. The functions on this path are small on
   * purpose: V8 compiles each on its first call, which is the stop itself, at a cost that grows
   * with the function's length (about 0.3 ms for this path when it was one long method, measured
   * on a supervisor idle for a second).
   */
  private deliverStop(clock: StopClock): number {
    this.writeStopFile(clock);
    this.runner.requestCheckpoint(clock);
    return Date.now();
  }

  /** Once the checkpoint request is out: its deadline's timer, the reserve measured again, the log. */
  private followDelivery(clock: StopClock, deliveredAt: number): void {
    this.scheduleCheckpointDeadline(clock);
    // The estimate may predate a checkpoint written moments ago: measure again, after the request is out.
    const measure = async (): Promise<number | undefined> => {
      const bytes = await this.artifacts?.estimatePackageBytes(this.estimates.signal);
      return bytes === undefined ? undefined : Math.max(bytes, this.runner.extraPackageBytes());
    };
    void remeasureAtStop(measure, clock.deadline, this.graceMs, clock.checkpointDeadline).then((earlier) => {
      if (earlier === undefined || this.phase !== "running" || !clock.moveCheckpointDeadline(earlier)) return;
      this.log.info({ event: "stop.reserve", checkpointDeadline: new Date(earlier).toISOString() }, "the checkpoint on disk is bigger than estimated: the checkpoint deadline moves earlier");
      this.writeStopFile(clock);
      this.runner.checkpointDeadlineMoved(clock);
      this.scheduleCheckpointDeadline(clock);
      this.recordStopInStatus(clock, false);
    });
    this.logDelivered(clock, deliveredAt);
  }

  private logDelivered(clock: StopClock, deliveredAt: number): void {
    this.log.info(
      { event: "stop.forwarded", signal: this.runner.stopSignal, pid: this.status.current.pid ?? undefined, latencyMs: deliveredAt - clock.requestedAt, checkpointDeadline: new Date(clock.checkpointDeadline).toISOString() },
      `sent ${this.runner.stopSignal} to ${this.runner.noun}`,
    );
  }

  private scheduleCheckpointDeadline(clock: StopClock): void {
    if (this.checkpointTimer) clearTimeout(this.checkpointTimer);
    this.checkpointTimer = setTimeout(() => {
      if (this.phase !== "running") return;
      void this.status.update({ escalated: true });
      this.runner.checkpointDeadlineReached();
    }, Math.max(0, clock.checkpointDeadline - Date.now()));
    this.timers.push(this.checkpointTimer);
  }

  private writeStopFile(clock: StopClock): void {
    try {
      writeStopRequest(this.paths.stopRequestFile, stopRequestFor(clock, this.options.graceSeconds));
    } catch (err) {
      this.log.error({ event: "stop.file-error", err }, "could not write the stop request file; the checkpoint request still goes out");
    }
  }

  private recordStopInStatus(clock: StopClock, transition = true): void {
    void this.status.update(
      {
        stopRequestedAt: new Date(clock.requestedAt).toISOString(),
        stopSignal: clock.source,
        deadline: new Date(clock.deadline).toISOString(),
        checkpointDeadline: new Date(clock.checkpointDeadline).toISOString(),
      },
      false,
    );
    if (transition) void this.status.transition("Stopping", "Stopping");
  }

  /**
   * The last line of defence for "always gone before the deadline": if the job has not ended by
   * `exitAt`, record what is known and exit now.
   */
  private armExitAt(exitAt: number, ending: () => { status: JobStatus; exitCode: number; reason: string }): void {
    const timer = setTimeout(() => {
      if (this.phase === "done") return;
      const { status, exitCode, reason } = ending();
      this.log.error({ event: "deadline.exit", exitCode }, `${reason}; exiting now`);
      this.status.transitionSync(status, status, "deadline reached before trainguard finished", {
        endedAt: new Date().toISOString(),
        failureReason: this.status.current.failureReason ?? reason,
        trainguardExitCode: exitCode,
      });
      // Not process.exit: it would wait for a threadpool thread stuck in a filesystem call.
      hardExit(exitCode);
    }, Math.max(0, exitAt - Date.now()));
    this.timers.push(timer);
  }

  private async refreshEstimate(): Promise<void> {
    const bytes = await this.artifacts?.estimatePackageBytes(this.estimates.signal);
    if (bytes !== undefined) this.estimatedPackageBytes = bytes;
  }

  /**
   * Measured first shortly after training starts, not before: measuring loads the packaging code
   * (artifacts/), which the start does not need, and loads it before a stop would want it. Then
   * re-measured while training runs, so that the signal path never walks the checkpoint dir: a stop
   * before the first measure keeps the floor reserve and re-measures once its signal is out
   * (remeasureAtStop).
   */
  private scheduleEstimateRefresh(firstAfterMs: number): void {
    const tick = (): void => {
      if (this.phase !== "running" || this.clock) return;
      void this.refreshEstimate().catch(() => undefined).finally(() => {
        const timer = setTimeout(tick, ESTIMATE_REFRESH_MS);
        timer.unref();
        this.timers.push(timer);
      });
    };
    const timer = setTimeout(tick, firstAfterMs);
    timer.unref();
    this.timers.push(timer);
  }

  /** From how training ended to the job's end: verdict, flush, packaging, failure file, final status. */
  private async finish({ outcome, guard }: TrainingEnd): Promise<JobResult> {
    this.phase = "finishing";
    this.estimates.abort();
    const verdict = this.judge(outcome);
    if (verdict.failureReason !== null) this.log.error({ event: "job.failure", reason: verdict.failureReason }, verdict.failureReason.split("\n")[0]);
    if (!this.clock) this.limitFinishing(verdict);
    const limits: FinishingLimits = {
      deadline: () => {
        const deadlines = [this.clock?.finishingDeadline, this.finishBudget?.finishingDeadline].filter((t): t is number => t !== undefined);
        return deadlines.length === 0 ? undefined : Math.min(...deadlines);
      },
      signal: this.finishing.signal,
    };
    const flushing = this.artifacts?.flush(limits);
    // Training that never ran produced nothing new: model/ stays exactly as it was.
    const packaging =
      trainingRan(outcome) && this.artifacts
        ? await this.artifacts.package(verdict.reason, { stopping: this.clock !== undefined, limits, ...(guard ? { guard } : {}) })
        : { artifact: null, problem: null };
    await flushing;
    await this.runner.afterFinishing();
    const failureReason = [verdict.failureReason, packaging.problem].filter((r): r is string => r !== null).join("\n") || null;
    if (failureReason !== null) await recordFailure(this.paths.failureFile, failureReason, this.log);
    // A stop that arrived while finishing still ends the job Stopped.
    const status = this.clock ? "Stopped" : verdict.status;
    return this.end(status, verdict.exitCode, { ...verdict.fields, failureReason, artifact: packaging.artifact }, verdict.message);
  }

  private judge(outcome: Outcome): Verdict {
    return judge(outcome, {
      stop: this.clock ? { signal: this.clock.signalName } : undefined,
      stopSignal: this.runner.stopSignal,
      escalated: this.status.current.escalated,
      command: this.runner.command,
      commandSource: this.runner.commandSource,
      stderrTail: this.runner.stderrTail(),
    });
  }

  /**
   * Without a stop, the work after training (final sync, packaging, upload) still gets a budget,
   * --grace from now: a remote that never answers must not keep the job from ending.
   */
  private limitFinishing(verdict: Verdict): void {
    const budget = new BudgetClock(Date.now() + this.graceMs, "finishing took longer than --grace");
    this.finishBudget = budget;
    budget.signal.addEventListener("abort", () => this.finishing.abort(budget.signal.reason), { once: true });
    this.armExitAt(budget.exitAt, () => ({ status: this.clock ? "Stopped" : verdict.status, exitCode: verdict.exitCode, reason: "trainguard's work after training ended took longer than --grace" }));
  }

  /** An ml-root where no status or failure file can exist: stderr is the only place left to say so. */
  private refuseUnusableMlRoot(unusable: ConfigError): JobResult {
    this.log.error({ event: "config.invalid", source: unusable.source, problem: unusable.problem }, unusable.message);
    process.stderr.write(`trainguard: invalid configuration: ${unusable.message}\n${this.capitalNoun()} was not started.\n`);
    return { status: "Failed", exitCode: EXIT_CONFIG_ERROR };
  }

  private async failBeforeStart(err: unknown): Promise<JobResult> {
    if (!(err instanceof ConfigError)) {
      // Not the user's input: trainguard's own error, still reported where the platform looks.
      this.log.error({ event: "internal.error", err }, "internal error before training started");
      const reason = `trainguard: internal error, ${this.runner.noun} was not started: ${errorMessage(err)}`;
      await recordFailure(this.paths.failureFile, reason, this.log);
      return this.end("Failed", EXIT_INTERNAL_ERROR, { failureReason: reason });
    }
    this.log.error({ event: "config.invalid", source: err.source, field: err.field, problem: err.problem }, err.message);
    // The first line names the file (or option) and field: it is what a console shows first.
    const reason = `trainguard: invalid configuration: ${err.message}\n${this.capitalNoun()} was not started.`;
    await recordFailure(this.paths.failureFile, reason, this.log);
    return this.end("Failed", EXIT_CONFIG_ERROR, { failureReason: reason });
  }

  /** A bug, or an ml-root that became unwritable: said in the failure file and status, exit 70. */
  private async failInternally(err: unknown): Promise<JobResult> {
    this.log.error({ event: "internal.error", err }, "trainguard failed internally");
    const reason = `trainguard: internal error: ${errorMessage(err)}`;
    await recordFailure(this.paths.failureFile, reason, this.log);
    return this.end(this.clock ? "Stopped" : "Failed", EXIT_INTERNAL_ERROR, { failureReason: reason });
  }

  /** The process is dying (an uncaught exception in runTraining's process): the two files a platform reads, synchronously. */
  private recordDeathSync(failureReason: string, exitCode: number): void {
    if (this.phase === "done") return;
    writeFailureFileSync(this.paths.failureFile, failureReason);
    const status = this.clock ? "Stopped" : "Failed";
    this.status.transitionSync(status, status, "uncaught exception", { endedAt: new Date().toISOString(), failureReason, trainguardExitCode: exitCode });
  }

  private async end(status: JobStatus, exitCode: number, fields: Pick<JobStatusDocument, "failureReason"> & Partial<Pick<JobStatusDocument, "exitCode" | "signal">> & { artifact?: ArtifactStatus | null }, message?: string): Promise<JobResult> {
    await this.status.update({ ...fields, endedAt: new Date().toISOString(), trainguardExitCode: exitCode });
    await this.status.transition(status, status, message);
    await this.status.flush(true);
    this.phase = "done";
    const clock = this.clock;
    this.log.info(
      { event: "job.end", ...this.runner.logFields, status, exitCode, stopDurationMs: clock ? Date.now() - clock.requestedAt : undefined, failureReason: fields.failureReason ?? undefined },
      `job ${status}`,
    );
    return { status, exitCode };
  }

  private capitalNoun(): string {
    return this.runner.noun.charAt(0).toUpperCase() + this.runner.noun.slice(1);
  }
}
