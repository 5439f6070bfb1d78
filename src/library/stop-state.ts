/** The reason `ctx.signal` is aborted with: a stop was requested, save and return by `deadline`. */
export class StopRequested extends Error {
  override readonly name = "StopRequested";
  constructor(
    /** The signal that asked for the stop, or "stop-file". */
    readonly source: string,
    /** When the training function must have returned (the checkpoint deadline). */
    readonly deadline: Date,
  ) {
    super(`stop requested (${source}): save and return by ${deadline.toISOString()}`);
  }
}

/**
 * What the training function sees of a stop: the AbortSignal and the checkpoint deadline. Set
 * once; a later stop never moves the deadline.
 */
export class StopState {
  private readonly controller = new AbortController();
  private checkpointDeadline: number | undefined;

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get deadline(): Date | null {
    return this.checkpointDeadline === undefined ? null : new Date(this.checkpointDeadline);
  }

  /** Milliseconds until the checkpoint deadline (never negative), or Infinity before a stop. */
  timeLeftMs(): number {
    return this.checkpointDeadline === undefined ? Number.POSITIVE_INFINITY : Math.max(0, this.checkpointDeadline - Date.now());
  }

  /** The checkpoint on disk was bigger than estimated: the deadline comes earlier (never later). */
  moveDeadlineEarlier(checkpointDeadline: number): void {
    if (this.checkpointDeadline !== undefined && checkpointDeadline < this.checkpointDeadline) this.checkpointDeadline = checkpointDeadline;
  }

  /** Deadline first, then the abort: an `abort` listener that reads the deadline finds it. */
  request(source: string, checkpointDeadline: number): void {
    if (this.checkpointDeadline !== undefined) return;
    this.checkpointDeadline = checkpointDeadline;
    this.controller.abort(new StopRequested(source, new Date(checkpointDeadline)));
  }
}
