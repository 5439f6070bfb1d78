import { jitteredBackoff } from "../async/index.js";
import type { Logger } from "../log/index.js";
import { describeError } from "../contract/index.js";
import { UploadError } from "./errors.js";
import type { UploadGuard } from "./guard.js";

const TRANSIENT_NAMES = new Set([
  "SlowDown",
  "Throttling",
  "ThrottlingException",
  "RequestThrottled",
  "RequestLimitExceeded",
  "TooManyRequestsException",
  "ServiceUnavailable",
  "InternalError",
  "RequestTimeout",
  "RequestTimeoutException",
  "TimeoutError",
]);
const TRANSIENT_CODES = new Set(["ECONNRESET", "EPIPE", "ECONNREFUSED", "ETIMEDOUT", "ECONNABORTED", "EAI_AGAIN", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH"]);

/**
 * Worth another attempt: throttling, 5xx, timeouts, connection failures. The SDK retries these
 * too, but gives up after maxAttempts; with a deadline, time (not a count) should decide.
 */
export function isTransient(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const e = err as Error & { code?: unknown; $metadata?: { httpStatusCode?: number }; $retryable?: unknown };
  if (TRANSIENT_NAMES.has(e.name)) return true;
  if (typeof e.code === "string" && TRANSIENT_CODES.has(e.code)) return true;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && (status >= 500 || status === 429)) return true;
  if (e.$retryable !== undefined) return true;
  // Node's own wording when a socket closes under a request.
  return /socket hang up|ECONNRESET|EPIPE/i.test(e.message) && e.name !== "AbortError";
}

/** First and longest wait between attempts of one request. */
const BASE_DELAY_MS = 200;
const MAX_DELAY_MS = 5_000;

export interface RetryContext {
  readonly guard: UploadGuard;
  readonly log: Logger;
  readonly uri: string;
  readonly bytesRead: () => number;
  /** Attempts when there is no deadline (with one, attempts go on until the give-up time). */
  readonly maxAttempts: number;
}

/**
 * `send` until it succeeds, a non-transient error, or the guard fails (deadline, cancel). With a
 * deadline a transient failure is retried for as long as time remains, so a permanent fault ends
 * as DEADLINE before the deadline instead of as an error long before it would have had to.
 */
export async function withRetries<T>(ctx: RetryContext, what: string, send: (signal: AbortSignal, attempt: number) => Promise<T>): Promise<T> {
  const { guard } = ctx;
  for (let attempt = 1; ; attempt++) {
    try {
      return await guard.request((signal) => send(signal, attempt));
    } catch (err) {
      guard.check();
      if (!isTransient(err)) {
        throw new UploadError("S3", `${what} for ${ctx.uri} failed: ${describeError(err)}`, ctx.uri, ctx.bytesRead(), { cause: err });
      }
      guard.lastTransientError = `${what}: ${describeError(err)}`;
      const delay = jitteredBackoff(attempt, BASE_DELAY_MS, MAX_DELAY_MS);
      if (guard.deadline === undefined && attempt >= ctx.maxAttempts) {
        throw new UploadError("S3", `${what} for ${ctx.uri} failed ${attempt} times; last: ${describeError(err)}`, ctx.uri, ctx.bytesRead(), {
          cause: err,
        });
      }
      ctx.log.warn({ event: "storage.retry", uri: ctx.uri, what, attempt, delayMs: delay, error: describeError(err) }, "transient storage error, retrying");
      // Out of time: wait for the give-up, which turns this into DEADLINE with the error above.
      await guard.sleep(guard.hasTimeFor(delay) ? delay : Math.max(delay, (guard.giveUpAt ?? 0) - Date.now() + 1));
    }
  }
}
