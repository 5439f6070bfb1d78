import { setTimeout as sleep } from "node:timers/promises";
import { Cancelled, DeadlineReached } from "./errors.js";

/** Sleep that ends early (without throwing) when the signal fires. */
export async function pause(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0) return;
  await sleep(ms, undefined, signal === undefined ? {} : { signal }).catch(() => undefined);
}

/**
 * Time kept back before a deadline to cancel requests and return: a tenth of what is left,
 * between 50 ms and 1 s (the same rule the store's uploads follow).
 */
export function reserveMs(deadline: number, now = Date.now()): number {
  return Math.min(1_000, Math.max(50, (deadline - now) * 0.1));
}

export interface Limit {
  readonly signal: AbortSignal;
  dispose(): void;
}

/**
 * A signal that fires at `deadline - reserve` (reason DeadlineReached) or when `outer` fires
 * (reason Cancelled, or the outer reason when it is one of ours).
 */
export function limitSignal(deadline: number | undefined, outer: AbortSignal | undefined, what: string): Limit {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  if (deadline !== undefined) {
    const at = deadline - reserveMs(deadline);
    const fire = () => controller.abort(new DeadlineReached(`${what}: deadline reached`));
    if (at <= Date.now()) fire();
    else timer = setTimeout(fire, at - Date.now());
  }
  const onAbort = () => {
    const reason: unknown = outer?.reason;
    controller.abort(reason instanceof DeadlineReached || reason instanceof Cancelled ? reason : new Cancelled(`${what}: cancelled`));
  };
  if (outer?.aborted === true) onAbort();
  else outer?.addEventListener("abort", onAbort, { once: true });
  return {
    signal: controller.signal,
    dispose() {
      if (timer !== undefined) clearTimeout(timer);
      outer?.removeEventListener("abort", onAbort);
    },
  };
}
