import path from "node:path";
import { algorithmEnv, checkExecLimits, envOrigins, exitCodeForSignal } from "../contract/index.js";
import type { JobControl, JobSetup, StartedTraining, StopClock, TrainingEnd, TrainingRunner } from "../job/index.js";
import type { Logger } from "../log/index.js";
import { startAlgorithm, isSpawnFailure, type AlgorithmProcess } from "./algorithm.js";
import type { IntactBudget } from "../options/index.js";
import { OrphanReaper } from "./reaper.js";
import { isStopSignal, type ReceivedSignal, type SignalInbox } from "./signals.js";
import { WriteGuard, intactCopiesDir } from "./write-guard.js";

export interface ProcessRunnerOptions {
  /** argv of the algorithm; never run through a shell. */
  readonly command: readonly string[];
  /** Where the command came from, for error messages ("TRAINGUARD_COMMAND", "run arguments"). */
  readonly commandSource: string;
  readonly graceSeconds: number;
  readonly stopSignal: NodeJS.Signals;
  readonly env: NodeJS.ProcessEnv;
  readonly log: Logger;
  readonly inbox: SignalInbox;
  /** `--keep-intact`: disk budget for the last intact version of each flat checkpoint file (default auto). */
  readonly keepIntact?: IntactBudget | undefined;
}

/**
 * Training as a process group, with PID 1's duties around it: the algorithm is the leader of its
 * own group, stop signals go to the job and every other signal to the group, orphans are reaped,
 * the group is SIGKILLed at the checkpoint deadline (frozen first, so the write it cuts is known)
 * and whatever is left of it when the leader exits.
 */
export class ProcessRunner implements TrainingRunner {
  readonly noun = "the algorithm";
  readonly logFields = {};
  private readonly log: Logger;
  private readonly reaper: OrphanReaper;
  private attached = false;
  private algorithm: AlgorithmProcess | undefined;
  private running = false;
  private escalated = false;
  /** Writes in the checkpoint dir that had not finished when the algorithm ended, and intact copies. */
  private writes: WriteGuard | undefined;
  private checkpointDir = "";

  constructor(private readonly options: ProcessRunnerOptions) {
    this.log = options.log;
    this.reaper = new OrphanReaper(options.log);
  }

  get stopSignal(): NodeJS.Signals {
    return this.options.stopSignal;
  }

  get command(): readonly string[] {
    return this.options.command;
  }

  get commandSource(): string {
    return this.options.commandSource;
  }

  attach(job: JobControl): void {
    this.attached = true;
    this.options.inbox.attach((received) => this.onSignal(received, job));
    if (process.pid === 1) this.reaper.start();
  }

  private onSignal({ signal, at }: ReceivedSignal, job: JobControl): void {
    if (isStopSignal(signal)) {
      job.requestStop(signal, at);
    } else if (this.running && this.algorithm) {
      this.algorithm.signalGroup(signal);
      this.log.info({ event: "signal.forwarded", signal }, `forwarded ${signal} to the algorithm`);
    } else {
      this.log.info({ event: "signal.ignored", signal }, `${signal} received with no algorithm running`);
    }
  }

  async prepare(setup: JobSetup): Promise<void> {
    // Checked before the resume download: a start exec() would refuse (E2BIG, NUL) is the user's input.
    // The resumed path is not known yet; a path as long as any checkpoint's stands in for it.
    const longestResume = path.join(setup.checkpointDir, "x".repeat(255));
    checkExecLimits(this.options.command, this.options.commandSource, { ...this.options.env, ...this.algorithmEnv(setup, longestResume) }, envOrigins(setup.config, setup.paths));
  }

  async start(setup: JobSetup, resumedFrom: string): Promise<StartedTraining | TrainingEnd> {
    this.checkpointDir = setup.checkpointDir;
    this.writes = await WriteGuard.start(setup.checkpointDir, intactCopiesDir(setup.paths.trainguardDir), this.options.keepIntact ?? "auto", this.log);
    const started = await startAlgorithm(this.options.command, this.algorithmEnv(setup, resumedFrom), this.log, (pid) => this.reaper.trackOwnChild(pid));
    if (isSpawnFailure(started)) return { outcome: { kind: "spawn-failed", failure: started } };
    this.algorithm = started;
    this.running = true;
    return { pid: started.pid, ended: this.ended(started) };
  }

  private algorithmEnv(setup: JobSetup, resumedFrom: string): Record<string, string> {
    const { jobName, paths, config, checkpointDir } = setup;
    return {
      ...algorithmEnv({ jobName, paths, config, checkpointDir, graceSeconds: this.options.graceSeconds }),
      TRAINGUARD_RESUME_FROM: resumedFrom,
      // The checkpoint request the algorithm will get: a Node algorithm (runTraining) must install
      // a handler for it, or a signal whose default action is to terminate would end it unsaved.
      TRAINGUARD_STOP_SIGNAL: this.options.stopSignal,
    };
  }

  private async ended(algorithm: AlgorithmProcess): Promise<TrainingEnd> {
    const exit = await algorithm.exited;
    const exitSeenAt = Date.now();
    this.running = false;
    this.reaper.forgetOwnChild(algorithm.pid);
    // Whatever the leader left behind in its group (children that ignored the signal) ends with it.
    this.writes?.groupKilled();
    algorithm.signalGroup("SIGKILL");
    this.log.info({ event: "algorithm.exit", exitCode: exit.exitCode, signal: exit.signal, escalated: this.escalated }, "algorithm exited");
    return { outcome: { kind: "exited", exit }, ...(this.writes ? { guard: this.writes.guard(exit, exitSeenAt) } : {}) };
  }

  requestCheckpoint(): void {
    this.algorithm?.signalGroup(this.options.stopSignal);
    this.writes?.stopForwarded(Date.now());
  }

  checkpointDeadlineMoved(_clock: StopClock): void {
    // The lifecycle moves the escalation; nothing of the process's own depends on it.
  }

  checkpointDeadlineReached(): void {
    const algorithm = this.algorithm;
    if (!this.running || !algorithm) return;
    this.escalated = true;
    this.log.warn({ event: "algorithm.escalate", pid: algorithm.pid }, "checkpoint deadline reached: sending SIGKILL to the algorithm's process group");
    // What it is writing now will be cut in half by the kill: freeze the group and note it first (bounded).
    const kill = (): void => void algorithm.signalGroup("SIGKILL");
    if (this.writes) void this.writes.killNoting(algorithm.pid, this.checkpointDir, kill, this.log);
    else kill();
  }

  killNow(): number {
    this.algorithm?.signalGroup("SIGKILL");
    return exitCodeForSignal("SIGKILL");
  }

  stderrTail(): string {
    return this.algorithm?.stderrTail() ?? "";
  }

  extraPackageBytes(): number {
    return this.writes?.keptBytes() ?? 0;
  }

  async afterFinishing(): Promise<void> {
    // Nothing: the group was killed as the leader exited.
  }

  close(): void {
    // Refused before the job began: no handler will take the signals held since start-up.
    if (!this.attached) this.options.inbox.close();
    this.reaper.stop();
    this.writes?.close();
  }
}
