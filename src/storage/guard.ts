import { setMaxListeners } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { raceAbort } from "../async/index.js";
import { describeError } from "../contract/index.js";
import { UploadError } from "./errors.js";

export interface GuardOptions {
  readonly uri: string;
  readonly deadline?: number;
  readonly signal?: AbortSignal;
  /** Bytes taken from the source so far, for the error. */
  readonly bytesRead: () => number;
  /** What the upload had done, for the DEADLINE message ("3 of 5 parts stored"). */
  readonly progress: () => string;
}

/**
 * The one place an upload learns that it must stop: at `deadline - reserve` or when the caller's
 * signal fires, it records the UploadError, cancels every request it has handed out a signal for,
 * and ends every wait the upload made through `race` or `sleep`. Retries and errors reported
 * afterwards lose to the first failure, so the caller always sees why the upload really stopped.
 */
export class UploadGuard {
  readonly giveUpAt: number | undefined;
  readonly deadline: number | undefined;
  /** Set by retry loops so a DEADLINE message can say what kept failing. */
  lastTransientError: string | undefined;
  private failure: UploadError | undefined;
  private readonly controller = new AbortController();
  private readonly inFlight = new Set<AbortController>();
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly onAbort: (() => void) | undefined;

  constructor(private readonly opts: GuardOptions) {
    // Parts in flight, the reader and sleeps each listen on it: more than Node's default of 10.
    setMaxListeners(0, this.controller.signal);
    const { deadline, signal } = opts;
    if (deadline !== undefined) {
      const now = Date.now();
      this.deadline = deadline;
      this.giveUpAt = deadline - giveUpReserveMs(deadline - now);
      // Already past: fail now, before the upload sends anything.
      if (this.giveUpAt <= now) this.fail(this.deadlineError());
      else this.timer = setTimeout(() => this.fail(this.deadlineError()), this.giveUpAt - now);
    }
    if (signal !== undefined) {
      this.onAbort = () => this.fail(this.abortedError(signal.reason));
      if (signal.aborted) this.onAbort();
      else signal.addEventListener("abort", this.onAbort, { once: true });
    }
  }

  get failedWith(): UploadError | undefined {
    return this.failure;
  }

  /** Aborted when the upload fails: for streams and waits the guard does not hand out itself. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get requestsInFlight(): number {
    return this.inFlight.size;
  }

  /** Record the failure (the first one wins), cancel everything in flight. */
  fail(error: UploadError): UploadError {
    if (this.failure !== undefined) return this.failure;
    this.failure = error;
    for (const request of this.inFlight) request.abort(error);
    this.inFlight.clear();
    this.controller.abort(error);
    return error;
  }

  /** Throws the recorded failure, if any: call after an await that did not go through `race`. */
  check(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /**
   * Run one request with its own AbortSignal, cancelled if the upload fails meanwhile. One signal
   * per request rather than one shared: listeners would pile up on a shared signal over thousands
   * of parts.
   */
  async request<T>(send: (signal: AbortSignal) => Promise<T>): Promise<T> {
    this.check();
    const request = new AbortController();
    this.inFlight.add(request);
    try {
      return await this.race(send(request.signal));
    } finally {
      this.inFlight.delete(request);
    }
  }

  /** `promise`, unless the upload fails first (then the failure): see raceAbort. */
  race<T>(promise: Promise<T>): Promise<T> {
    return raceAbort(promise, this.controller.signal);
  }

  async sleep(ms: number): Promise<void> {
    try {
      await sleep(ms, undefined, { signal: this.controller.signal });
    } catch {
      this.check();
    }
  }

  /** Whether a retry that starts after `delayMs` still begins before the give-up time. */
  hasTimeFor(delayMs: number): boolean {
    return this.giveUpAt === undefined || Date.now() + delayMs < this.giveUpAt;
  }

  /**
   * A signal for cleanup requests (AbortMultipartUpload, temp-file removal) sent after the failure:
   * they may use the reserve but must end before the deadline itself.
   */
  cleanupSignal(): AbortSignal {
    if (this.deadline === undefined || this.giveUpAt === undefined) return AbortSignal.timeout(CLEANUP_WITHOUT_DEADLINE_MS);
    const reserve = this.deadline - this.giveUpAt;
    const until = this.deadline - reserve / 4;
    // AbortSignal.timeout takes whole milliseconds only: a fraction throws ERR_OUT_OF_RANGE.
    return AbortSignal.timeout(Math.max(1, Math.floor(until - Date.now())));
  }

  dispose(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.onAbort !== undefined) this.opts.signal?.removeEventListener("abort", this.onAbort);
  }

  private deadlineError(): UploadError {
    const { uri, deadline } = this.opts;
    const last = this.lastTransientError === undefined ? "" : `; last transient error: ${this.lastTransientError}`;
    return new UploadError(
      "DEADLINE",
      `upload to ${uri} stopped before its deadline (${new Date(deadline ?? 0).toISOString()}) with ${this.opts.progress()}${last}`,
      uri,
      this.opts.bytesRead(),
    );
  }

  private abortedError(reason: unknown): UploadError {
    const { uri } = this.opts;
    const why = reason === undefined ? "" : `: ${describeError(reason)}`;
    return new UploadError("ABORTED", `upload to ${uri} was cancelled${why} with ${this.opts.progress()}`, uri, this.opts.bytesRead(), {
      cause: reason,
    });
  }
}

/** Below this, cancelling requests and aborting the upload cannot be relied on to fit. */
const MIN_RESERVE_MS = 50;
/** Enough for one AbortMultipartUpload round trip to a distant region. */
const MAX_RESERVE_MS = 1_000;
/** Without a deadline, cleanup requests still may not hang. */
const CLEANUP_WITHOUT_DEADLINE_MS = 10_000;

/** How long before its deadline an upload gives up, to cancel and clean up in time: a tenth of the time left, within bounds. */
export function giveUpReserveMs(msLeft: number): number {
  return Math.min(MAX_RESERVE_MS, Math.max(MIN_RESERVE_MS, msLeft * 0.1));
}
