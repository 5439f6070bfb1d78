import { existsSync } from "node:fs";
import { setTimeout as delay } from "node:timers/promises";

export const sleep = (ms: number): Promise<void> => delay(ms);

const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** Blocks the thread (for tight polling loops that must not yield to the event loop). */
export function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

export interface WaitOptions {
  /** Give up after this long (every wait in the suite is bounded). */
  readonly timeoutMs?: number;
  readonly intervalMs?: number;
}

/**
 * Polls `probe` until it returns something other than undefined/null/false, and resolves with it.
 * Rejects after `timeoutMs` with `what` in the message, plus `describe()` for context.
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  options: WaitOptions & { describe?: () => string } = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 5_000;
  const intervalMs = options.intervalMs ?? 10;
  const start = Date.now();
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() - start >= timeoutMs) {
      const context = options.describe ? `\n${options.describe()}` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${context}`);
    }
    await delay(intervalMs);
  }
}

export function waitForFile(file: string, options: WaitOptions & { describe?: () => string } = {}): Promise<string> {
  return waitFor(`file ${file}`, () => (existsSync(file) ? file : undefined), options);
}

/** Resolves with the promise's value, or rejects if it takes longer than `ms`. */
export async function withTimeout<T>(what: string, promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
