import path from "node:path";
import {
  ConfigError,
  EXIT_CONFIG_ERROR,
  algorithmEnv,
  checkExecLimits,
  envOrigins,
  withinTimeLimit,
  mlPaths,
  readJobConfig,
  resolveJobName,
  type JobConfig,
  type MlPaths,
} from "../contract/index.js";
import type { CompressionMode, FlatGuard, ModelLayout } from "../artifacts/index.js";
import type { Logger } from "../log/index.js";
import { startAlgorithm, isSpawnFailure, type AlgorithmProcess } from "./algorithm.js";
import { setAsideStaleFailureFile } from "./failure.js";
import { hardExit } from "./hard-exit.js";
import type { OptionSources } from "./options.js";
import { prepareJobDirs, prepareTrainguardDir, recordFailure, statusWriteErrorLogger } from "./start-guards.js";
import { OrphanReaper } from "./reaper.js";
import { checkpointReserveMs } from "./reserve.js";
import { exitCodeForSignal, isStopSignal, type ReceivedSignal, type SignalInbox } from "./signals.js";
import { EXIT_MARGIN_MS, JobArtifacts, finishingDeadline } from "./job-artifacts.js";
import { EXIT_INTERNAL_ERROR, judge, type Outcome } from "./verdict.js";
import { StatusFile, type ArtifactStatus } from "./status.js";
import { writeStopRequest } from "./stop-request.js";
import { WriteGuard, intactCopiesDir } from "./write-guard.js";
import type { IntactBudget } from "./intact-budget.js";
import { remeasureAtStop } from "./reserve.js";

export interface SuperviseOptions {
  /** argv of the algorithm; never run through a shell. */
  readonly command: readonly string[];
  /** Where the command came from, for error messages ("TRAINGUARD_COMMAND", "run arguments"). */
  readonly commandSource: string;
  readonly mlRoot: string;
  readonly graceSeconds: number;
  readonly stopSignal: NodeJS.Signals;
  /** `--checkpoint-dir`; otherwise checkpointconfig.json's LocalPath, otherwise <ml-root>/checkpoints. */
  readonly checkpointDir: string | undefined;
  readonly jobName: string | undefined;
  readonly env: NodeJS.ProcessEnv;
  readonly log: Logger;
  readonly inbox: SignalInbox;
  readonly compression: CompressionMode;
  readonly modelLayout: ModelLayout;
  /** What a Completed job does with its checkpoints: keep the algorithm's own model dir, or package. */
  readonly onComplete: "keep" | "package";
  /** `--output`: where the archive is uploaded (s3:// or file://), as `<output>/<job>/output/model.tar.gz`. */
  readonly output?: string;
  /** `--checkpoint-uri`: remote checkpoints (resume, background sync); else checkpointconfig.json's S3Uri. */
  readonly checkpointUri?: string;
  /** Remote checkpoints kept by the sync. */
  readonly keep: number;
  /** `--s3-endpoint`: an S3-compatible endpoint instead of AWS's. */
  readonly s3Endpoint?: string;
  /** Commit markers that make a checkpoint directory complete (default: artifacts' list). */
  readonly commitMarkers?: readonly string[];
  /** Which option or variable set each value (`--output` or `TRAINGUARD_OUTPUT`), for errors. */
  readonly optionSources?: OptionSources;
  /** `--keep-intact`: disk budget for the last intact version of each flat checkpoint file (default auto). */
  readonly keepIntact?: IntactBudget;
}


/** How often the size of what would be packaged is re-measured while training runs. */
const ESTIMATE_REFRESH_MS = 10_000;

interface StopState {
  readonly signal: NodeJS.Signals;
  readonly requestedAt: number;
  readonly deadline: number;
  checkpointDeadline: number | undefined;
  forwardedAt?: number;
}

type Phase = "starting" | "running" | "finishing" | "done";

/** Runs one job from start to exit code. Resolves with the code the process should exit with. */
export function supervise(options: SuperviseOptions): Promise<number> {
  return new Supervisor(options).run();
}

class Supervisor {
  private readonly log: Logger;
  private readonly paths: MlPaths;
  private readonly graceMs: number;
  private status!: StatusFile;
  private phase: Phase = "starting";
  private stop: StopState | undefined;
  private algorithm: AlgorithmProcess | undefined;
  private estimatedPackageBytes = 0;
  private checkpointDir = "";
  /** The model dir, --output and the checkpoint remote, once the configuration is read. */
  private artifacts: JobArtifacts | undefined;
  /** Writes in the checkpoint dir that had not finished when the algorithm ended, and intact copies. */
  private writes: WriteGuard | undefined;
  private escalation: NodeJS.Timeout | undefined;
  /** Aborts the resume download when a stop arrives before the algorithm started. */
  private readonly starting = new AbortController();
  /** Aborts packaging and uploads that would end after the stop deadline. */
  private readonly finishing = new AbortController();
  private readonly reaper: OrphanReaper;
  private readonly timers: NodeJS.Timeout[] = [];
  /** Without a stop: when the work after the algorithm ended must be done (see limitFinishing). */
  private finishLimit: number | undefined;

  constructor(private readonly options: SuperviseOptions) {
    this.log = options.log;
    this.paths = mlPaths(options.mlRoot);
    this.graceMs = options.graceSeconds * 1000;
    this.reaper = new OrphanReaper(options.log);
  }

  async run(): Promise<number> {
    let jobName: string | null = null;
    let configError: unknown;
    try {
      jobName = resolveJobName(this.options.jobName, this.options.env, this.options.optionSources?.jobName);
    } catch (err) {
      configError = err;
    }
    this.status = new StatusFile(this.paths.statusFile, { jobName, command: this.options.command, onWriteError: statusWriteErrorLogger(this.log) });
    // Before held signals are delivered: a stop that arrived during start-up writes a fresh stop file.
    const unusable = prepareTrainguardDir(this.paths, this.mlRootSource());
    if (unusable) {
      // No status file or failure file can exist under this ml-root: stderr is the only place left.
      this.log.error({ event: "config.invalid", source: unusable.source, problem: unusable.problem }, unusable.message);
      process.stderr.write(`trainguard: invalid configuration: ${unusable.message}\nThe algorithm was not started.\n`);
      this.options.inbox.close();
      return EXIT_CONFIG_ERROR;
    }
    this.options.inbox.attach((received) => this.onSignal(received));
    if (process.pid === 1) this.reaper.start();
    try {
      return await this.runJob(jobName, configError);
    } finally {
      this.phase = "done";
      for (const timer of this.timers) clearTimeout(timer);
      this.reaper.stop();
      this.writes?.close();
    }
  }

  private async runJob(jobName: string | null, configError: unknown): Promise<number> {
    if (await setAsideStaleFailureFile(this.paths.failureFile).catch(() => false)) {
      this.log.info({ event: "failure.previous", path: `${this.paths.failureFile}.previous` }, "kept an earlier run's failure file aside");
    }
    await this.status.flush();
    this.log.info({ event: "job.start", jobName, mlRoot: this.paths.root, command: this.options.command, graceSeconds: this.options.graceSeconds, pid1: process.pid === 1 }, "job starting");

    if (configError !== undefined) return this.failBeforeStart(configError);
    let config: JobConfig;
    try {
      config = await readJobConfig(this.paths);
    } catch (err) {
      return this.failBeforeStart(err);
    }
    const checkpointDir = this.options.checkpointDir ?? config.checkpoint.localPath ?? this.paths.defaultCheckpointDir;
    this.checkpointDir = checkpointDir;
    const sources = this.options.optionSources ?? {};
    const checkpointDirSource =
      this.options.checkpointDir !== undefined ? (sources.checkpointDir ?? "--checkpoint-dir") : config.checkpoint.localPath !== undefined ? `${this.paths.checkpointConfig}: field "LocalPath"` : `${this.mlRootSource()} ${this.paths.root} (checkpoints)`;
    try {
      await prepareJobDirs([
        { dir: checkpointDir, source: checkpointDirSource },
        { dir: this.paths.modelDir, source: `${this.mlRootSource()} ${this.paths.root} (model)` },
        { dir: this.paths.outputDataDir, source: `${this.mlRootSource()} ${this.paths.root} (output/data)` },
      ]);
      this.artifacts = await JobArtifacts.open({
        settings: this.options,
        paths: this.paths,
        config,
        jobName: jobName ?? "",
        checkpointDir,
        markers: this.options.commitMarkers,
        env: this.options.env,
        log: this.log,
        status: this.status,
        optionNames: {
          output: sources.output ?? "--output",
          checkpointUri: sources.checkpointUri ?? "--checkpoint-uri",
          modelLayout: sources.modelLayout ?? "--model-layout",
          s3Endpoint: sources.s3Endpoint ?? "--s3-endpoint",
        },
        algorithmNoun: "the algorithm",
      });
    } catch (err) {
      return this.failBeforeStart(err);
    }
    this.log.info({ event: "config.loaded", host: config.resource.currentHost, hosts: config.resource.hosts.length, channels: config.channels.map((c) => c.name), checkpointDir }, "configuration read");

    if (this.stop) return this.finish({ kind: "not-started" });
    const envFor = (resumedFrom: string): Record<string, string> => ({
      ...algorithmEnv({ jobName: jobName ?? "", paths: this.paths, config, checkpointDir, graceSeconds: this.options.graceSeconds }),
      TRAINGUARD_RESUME_FROM: resumedFrom,
      // The checkpoint request the algorithm will get: a Node algorithm (runTraining) must install
      // a handler for it, or a signal whose default action is to terminate would end it unsaved.
      TRAINGUARD_STOP_SIGNAL: this.options.stopSignal,
    });
    try {
      // Checked before the resume download: a start exec() would refuse (E2BIG, NUL) is the user's input.
      // The resumed path is not known yet; a path as long as any checkpoint's stands in for it.
      checkExecLimits(this.options.command, this.options.commandSource, { ...this.options.env, ...envFor(path.join(checkpointDir, "x".repeat(255))) }, envOrigins(config, this.paths));
    } catch (err) {
      return this.failBeforeStart(err);
    }

    const resumed = await this.artifacts.resume(this.starting.signal, () => this.stop !== undefined);
    if (resumed.kind === "failed") return this.finish({ kind: "resume-failed", problem: resumed.problem });
    if (this.stop) return this.finish({ kind: "not-started" });
    const resumedFrom = resumed.checkpoint === null ? "" : path.join(checkpointDir, resumed.checkpoint);
    // Bounded: a checkpoint dir on a mount that does not answer must not hold the start for ever.
    await withinTimeLimit(this.refreshEstimate(), 10_000, () => new Error("estimate timed out")).catch(() => undefined);
    this.writes = await WriteGuard.start(checkpointDir, intactCopiesDir(this.paths.trainguardDir), this.options.keepIntact ?? "auto", this.log);
    const env = envFor(resumedFrom);
    const started = await startAlgorithm(this.options.command, env, this.log, (pid) => this.reaper.trackOwnChild(pid));
    if (isSpawnFailure(started)) return this.finish({ kind: "spawn-failed", failure: started });

    this.algorithm = started;
    this.phase = "running";
    this.log.info({ event: "algorithm.start", pid: started.pid }, "algorithm started");
    if (this.stop) {
      // The stop arrived while the process was being spawned: it is its checkpoint request now.
      this.forwardStop();
      this.logForwarded();
      void this.status.update({ pid: started.pid });
    } else {
      void this.status.update({ pid: started.pid }, false);
      void this.status.transition("InProgress", "Training");
    }
    this.scheduleEstimateRefresh();
    this.artifacts.startSync();

    const exit = await started.exited;
    const exitSeenAt = Date.now();
    this.reaper.forgetOwnChild(started.pid);
    this.phase = "finishing";
    // Whatever the leader left behind in its group (children that ignored the signal) ends with it.
    this.writes?.groupKilled();
    started.signalGroup("SIGKILL");
    this.log.info({ event: "algorithm.exit", exitCode: exit.exitCode, signal: exit.signal, escalated: this.status.current.escalated }, "algorithm exited");
    return this.finish({ kind: "exited", exit }, this.writes?.guard(exit, exitSeenAt));
  }

  /** How the user chose the ml-root, for errors: --ml-root, TRAINGUARD_ML_ROOT, SAGEMAKER_BASE_DIR or the default. */
  private mlRootSource(): string {
    return this.options.optionSources?.mlRoot ?? (this.options.env.SAGEMAKER_BASE_DIR ? "SAGEMAKER_BASE_DIR" : "ml-root");
  }

  private onSignal({ signal, at }: ReceivedSignal): void {
    if (!isStopSignal(signal)) {
      if (this.phase === "running" && this.algorithm) {
        this.algorithm.signalGroup(signal);
        this.log.info({ event: "signal.forwarded", signal }, `forwarded ${signal} to the algorithm`);
      } else {
        this.log.info({ event: "signal.ignored", signal, phase: this.phase }, `${signal} received with no algorithm running`);
      }
      return;
    }
    if (this.stop) {
      // A repeated stop never moves the deadline, and the algorithm already has its request.
      this.log.info({ event: "stop.repeated", signal, deadline: new Date(this.stop.deadline).toISOString() }, "stop already requested; deadline unchanged");
      return;
    }
    this.stop = { signal, requestedAt: at, deadline: at + this.graceMs, checkpointDeadline: undefined };
    const forwarded = this.phase === "running";
    if (forwarded) this.forwardStop();
    else this.writeStopFile();
    this.log.info({ event: "stop.requested", signal, phase: this.phase, deadline: new Date(this.stop.deadline).toISOString() }, `stop requested by ${signal}`);
    if (forwarded) this.logForwarded();
    if (this.phase === "starting") this.starting.abort(new Error(`stopped by ${signal}`));
    if (this.phase === "finishing") {
      // Packaging already runs without a deadline: it gets one now.
      const timer = setTimeout(() => this.finishing.abort(new Error("stop deadline reached")), Math.max(0, finishingDeadline(this.stop.deadline) - Date.now()));
      this.timers.push(timer);
    }
    this.armExitWatchdog();
    this.recordStopInStatus();
  }

  /**
   * The time-critical part of a stop: the stop file (so a handler that reads TRAINGUARD_STOP_FILE
   * finds it), then the checkpoint request to the whole group. Logging, status and timers come
   * after the signal is out, so they add nothing to the forwarding delay.
   */
  private forwardStop(): void {
    const stop = this.stop;
    const algorithm = this.algorithm;
    if (!stop || !algorithm) return;
    const checkpointDeadline = this.writeStopFile();
    algorithm.signalGroup(this.options.stopSignal);
    stop.forwardedAt = Date.now();
    this.writes?.stopForwarded(stop.forwardedAt);
    this.scheduleEscalation(checkpointDeadline);
    // The estimate may predate a checkpoint written moments ago: measure again, after the signal is out.
    const measure = async (): Promise<number | undefined> => {
      const bytes = await this.artifacts?.estimatePackageBytes();
      return bytes === undefined ? undefined : Math.max(bytes, this.writes?.keptBytes() ?? 0);
    };
    void remeasureAtStop(measure, stop.deadline, this.graceMs, checkpointDeadline).then((earlier) => {
      if (earlier === undefined || this.phase !== "running" || stop.checkpointDeadline === undefined || earlier >= stop.checkpointDeadline) return;
      this.log.info({ event: "stop.reserve", checkpointDeadline: new Date(earlier).toISOString() }, "the checkpoint on disk is bigger than estimated: the checkpoint deadline moves earlier");
      stop.checkpointDeadline = undefined;
      this.writeStopFile(earlier);
      this.scheduleEscalation(earlier);
      this.recordStopInStatus(false);
    });
  }

  private scheduleEscalation(at: number): void {
    if (this.escalation) clearTimeout(this.escalation);
    this.escalation = setTimeout(() => this.escalate(), Math.max(0, at - Date.now()));
    this.timers.push(this.escalation);
  }

  private logForwarded(): void {
    const stop = this.stop;
    if (!stop || stop.forwardedAt === undefined) return;
    this.log.info(
      {
        event: "stop.forwarded",
        signal: this.options.stopSignal,
        pid: this.algorithm?.pid,
        latencyMs: stop.forwardedAt - stop.requestedAt,
        checkpointDeadline: new Date(stop.checkpointDeadline ?? stop.deadline).toISOString(),
      },
      `sent ${this.options.stopSignal} to the algorithm's process group`,
    );
  }

  /** Fixes the checkpoint deadline (once, unless `checkpointDeadline` moves it) and writes stop-request.json; returns the deadline. */
  private writeStopFile(checkpointDeadline?: number): number {
    const stop = this.stop as StopState;
    if (stop.checkpointDeadline !== undefined) return stop.checkpointDeadline;
    stop.checkpointDeadline = checkpointDeadline ?? stop.deadline - checkpointReserveMs(this.estimatedPackageBytes, this.graceMs);
    try {
      writeStopRequest(this.paths.stopRequestFile, {
        signal: stop.signal,
        requestedAt: new Date(stop.requestedAt).toISOString(),
        deadline: new Date(stop.deadline).toISOString(),
        checkpointDeadline: new Date(stop.checkpointDeadline).toISOString(),
        graceSeconds: this.options.graceSeconds,
      });
    } catch (err) {
      this.log.error({ event: "stop.file-error", err }, "could not write the stop request file; signals still go out");
    }
    return stop.checkpointDeadline;
  }

  private recordStopInStatus(transition = true): void {
    const stop = this.stop;
    if (!stop) return;
    void this.status.update(
      {
        stopRequestedAt: new Date(stop.requestedAt).toISOString(),
        stopSignal: stop.signal,
        deadline: new Date(stop.deadline).toISOString(),
        checkpointDeadline: stop.checkpointDeadline === undefined ? null : new Date(stop.checkpointDeadline).toISOString(),
      },
      false,
    );
    if (transition) void this.status.transition("Stopping", "Stopping");
  }

  private escalate(): void {
    if (this.phase !== "running" || !this.algorithm) return;
    const algorithm = this.algorithm;
    this.log.warn({ event: "algorithm.escalate", pid: algorithm.pid }, "checkpoint deadline reached: sending SIGKILL to the algorithm's process group");
    void this.status.update({ escalated: true });
    // What it is writing now will be cut in half by the kill: freeze the group and note it first (bounded).
    const kill = (): void => void algorithm.signalGroup("SIGKILL");
    if (this.writes) void this.writes.killNoting(algorithm.pid, this.checkpointDir, kill, this.log);
    else kill();
  }

  /**
   * The last line of defence for "always exits before the deadline": if finishing work is still
   * running at deadline minus a margin, record what is known and exit now.
   */
  private armExitWatchdog(): void {
    const stop = this.stop;
    if (!stop) return;
    this.armExitAt(stop.deadline, () => ({
      status: "Stopped",
      // Stopped before it started: as an unhandled stop signal would have ended it.
      exitCode: this.status.current.exitCode ?? exitCodeForSignal(this.phase === "starting" ? stop.signal : "SIGKILL"),
      reason: "trainguard reached the stop deadline before it finished",
    }));
  }

  /** Exits at `deadline` minus the margin if the job has not ended by then, recording how it ends. */
  private armExitAt(deadline: number, ending: () => { status: "Stopped" | "Completed" | "Failed"; exitCode: number; reason: string }): void {
    const timer = setTimeout(() => {
      if (this.phase === "done") return;
      this.algorithm?.signalGroup("SIGKILL");
      const { status, exitCode, reason } = ending();
      this.log.error({ event: "deadline.exit", exitCode }, `${reason}; exiting now`);
      this.status.transitionSync(status, status, "deadline reached before trainguard finished", {
        endedAt: new Date().toISOString(),
        failureReason: this.status.current.failureReason ?? reason,
        trainguardExitCode: exitCode,
      });
      // process.exit would wait for a threadpool thread stuck in a filesystem call.
      hardExit(exitCode);
    }, Math.max(0, deadline - EXIT_MARGIN_MS - Date.now()));
    this.timers.push(timer);
  }

  private async refreshEstimate(): Promise<void> {
    const bytes = await this.artifacts?.estimatePackageBytes();
    if (bytes !== undefined) this.estimatedPackageBytes = bytes;
  }

  /** Measured before SIGTERM, so the stop path itself does no directory walk. */
  private scheduleEstimateRefresh(): void {
    const tick = (): void => {
      if (this.phase !== "running" || this.stop) return;
      void this.refreshEstimate().finally(() => {
        const timer = setTimeout(tick, ESTIMATE_REFRESH_MS);
        timer.unref();
        this.timers.push(timer);
      });
    };
    const timer = setTimeout(tick, ESTIMATE_REFRESH_MS);
    timer.unref();
    this.timers.push(timer);
  }

  private async failBeforeStart(err: unknown): Promise<number> {
    if (!(err instanceof ConfigError)) {
      // Not the user's input: trainguard's own error, still reported where the platform looks.
      this.log.error({ event: "internal.error", err }, "internal error before the algorithm started");
      const reason = `trainguard: internal error, the algorithm was not started: ${err instanceof Error ? err.message : String(err)}`;
      await recordFailure(this.paths.failureFile, reason, this.log);
      return this.end("Failed", EXIT_INTERNAL_ERROR, { failureReason: reason });
    }
    this.log.error({ event: "config.invalid", source: err.source, field: err.field, problem: err.problem }, err.message);
    // The first line names the file (or option) and field: it is what a console shows first.
    const reason = `trainguard: invalid configuration: ${err.message}\nThe algorithm was not started.`;
    await recordFailure(this.paths.failureFile, reason, this.log);
    return this.end("Failed", EXIT_CONFIG_ERROR, { failureReason: reason });
  }

  /** From how the algorithm ended to the job's end: verdict, packaging, failure file, final status. */
  private async finish(outcome: Outcome, guard?: FlatGuard): Promise<number> {
    const verdict = judge(outcome, {
      stop: this.stop ? { signal: this.stop.signal } : undefined,
      stopSignal: this.options.stopSignal,
      escalated: this.status.current.escalated,
      command: this.options.command,
      commandSource: this.options.commandSource,
      stderrTail: this.algorithm?.stderrTail() ?? "",
    });
    if (verdict.failureReason !== null) {
      this.log.error({ event: "job.failure", reason: verdict.failureReason }, verdict.failureReason.split("\n")[0]);
    }
    if (!this.stop) this.limitFinishing(verdict.status, verdict.exitCode);
    const deadline = (): number | undefined => {
      const limits = [this.stop?.deadline, this.finishLimit].filter((t): t is number => t !== undefined);
      return limits.length === 0 ? undefined : finishingDeadline(Math.min(...limits));
    };
    const flushing = this.artifacts?.flush(deadline(), this.finishing.signal);
    // An algorithm that never ran produced nothing new: model/ stays exactly as it was.
    const packaging =
      outcome.kind !== "exited" || !this.artifacts
        ? { artifact: null, problem: null }
        : await this.artifacts.package(verdict.reason, { stopping: this.stop !== undefined, deadline, signal: this.finishing.signal, ...(guard ? { guard } : {}) });
    await flushing;
    const failureReason = [verdict.failureReason, packaging.problem].filter((r): r is string => r !== null).join("\n") || null;
    if (failureReason !== null) await recordFailure(this.paths.failureFile, failureReason, this.log);
    // A stop that arrived while packaging still ends the job Stopped.
    const status = this.stop ? "Stopped" : verdict.status;
    return this.end(status, verdict.exitCode, { ...verdict.fields, failureReason, artifact: packaging.artifact }, verdict.message);
  }

  /**
   * Without a stop, the work after the algorithm ended (final sync, packaging, upload) still gets a
   * budget, --grace from now: a remote that never answers must not keep the job from ending.
   */
  private limitFinishing(status: "Stopped" | "Completed" | "Failed", exitCode: number): void {
    const limit = Date.now() + this.graceMs;
    this.finishLimit = limit;
    this.timers.push(setTimeout(() => this.finishing.abort(new Error("finishing took longer than --grace")), Math.max(0, finishingDeadline(limit) - Date.now())));
    this.armExitAt(limit, () => ({ status: this.stop ? "Stopped" : status, exitCode, reason: "trainguard's work after the algorithm ended took longer than --grace" }));
  }

  private async end(
    status: "Stopped" | "Completed" | "Failed",
    exitCode: number,
    fields: { exitCode?: number | null; signal?: string | null; failureReason: string | null; artifact?: ArtifactStatus | null },
    message?: string,
  ): Promise<number> {
    await this.status.update({ ...fields, endedAt: new Date().toISOString(), trainguardExitCode: exitCode });
    await this.status.transition(status, status, message);
    await this.status.flush(true);
    const stop = this.stop;
    this.log.info(
      { event: "job.end", status, exitCode, stopDurationMs: stop ? Date.now() - stop.requestedAt : undefined, failureReason: fields.failureReason ?? undefined },
      `job ${status}`,
    );
    return exitCode;
  }
}

