import { EXIT_MARGIN_MS, finishingDeadline } from "./margins.js";

/**
 * A budget that ends at `deadline`: finishing work must be done by `finishingDeadline`, when
 * `signal` aborts it, and the process exits by `exitAt` whatever still runs. A job gets one when a
 * stop arrives (StopClock) and, without a stop, one when training ends: the work after training
 * is bounded too, by --grace from then.
 */
export class BudgetClock {
  readonly finishingDeadline: number;
  readonly exitAt: number;
  private controller: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;

  /** Arithmetic only: a stop computes its deadlines and sends its checkpoint request before any timer exists. */
  constructor(
    readonly deadline: number,
    private readonly reason: string,
  ) {
    this.finishingDeadline = finishingDeadline(deadline);
    this.exitAt = deadline - EXIT_MARGIN_MS;
  }

  /** Arms the abort at the finishing deadline (once; reading `signal` arms it too). */
  start(): void {
    if (this.controller) return;
    const controller = new AbortController();
    this.controller = controller;
    this.timer = setTimeout(() => controller.abort(new Error(this.reason)), Math.max(0, this.finishingDeadline - Date.now()));
    // The budget alone must never keep a finished process alive.
    this.timer.unref();
  }

  /** Aborted at the finishing deadline. */
  get signal(): AbortSignal {
    this.start();
    return (this.controller as AbortController).signal;
  }

  /** Milliseconds left for finishing work (negative once it is over). */
  msLeft(now = Date.now()): number {
    return this.finishingDeadline - now;
  }

  dispose(): void {
    clearTimeout(this.timer);
  }
}

/**
 * What finishing work (flush, packaging, upload) sees of the job's clocks: the earliest finishing
 * deadline so far (undefined while there is no budget; asked again when each piece of work
 * starts, since a stop may come while it runs) and the signal that aborts it all.
 */
export interface FinishingLimits {
  deadline(): number | undefined;
  readonly signal: AbortSignal;
}

/** What asked for the stop: a signal, or (runTraining under a supervisor) the stop file. */
export type StopSource = NodeJS.Signals | "stop-file";

/**
 * Created at the first stop and never replaced: the deadline is the stop plus --grace, the
 * checkpoint deadline is the deadline less the packaging reserve. The checkpoint deadline only
 * ever moves earlier (a checkpoint on disk bigger than estimated), never later.
 */
export class StopClock extends BudgetClock {
  private checkpointAt: number;

  constructor(
    readonly source: StopSource,
    readonly requestedAt: number,
    graceMs: number,
    reserveMs: number,
  ) {
    super(requestedAt + graceMs, "stop deadline reached");
    this.checkpointAt = this.deadline - reserveMs;
  }

  /** When training that still runs is ended (SIGKILL) or abandoned (in-process). */
  get checkpointDeadline(): number {
    return this.checkpointAt;
  }

  /** The signal a stop stands for: the stop file stands for SIGTERM. */
  get signalName(): NodeJS.Signals {
    return this.source === "stop-file" ? "SIGTERM" : this.source;
  }

  /** Moves the checkpoint deadline to `at` if that is earlier; returns whether it moved. */
  moveCheckpointDeadline(at: number): boolean {
    if (at >= this.checkpointAt) return false;
    this.checkpointAt = at;
    return true;
  }
}
