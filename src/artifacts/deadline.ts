import { PackagingError } from "./errors.js";

export interface Cancellation {
  readonly signal: AbortSignal;
  dispose(): void;
}

/**
 * One signal for "stop now", whose reason is the PackagingError to throw: the caller's abort and
 * the deadline both end the same way, and the reason tells which.
 */
export function cancellation(deadline: number | undefined, outer: AbortSignal | undefined): Cancellation {
  const controller = new AbortController();
  const onAbort = (): void => {
    controller.abort(new PackagingError("ABORTED", `packaging aborted: ${describeReason(outer?.reason)}`));
  };
  let timer: NodeJS.Timeout | undefined;
  if (outer?.aborted) onAbort();
  else outer?.addEventListener("abort", onAbort, { once: true });
  if (deadline !== undefined && !controller.signal.aborted) {
    const fire = (): void => {
      controller.abort(
        new PackagingError("DEADLINE", `packaging did not finish by the deadline ${new Date(deadline).toISOString()}`),
      );
    };
    const ms = deadline - Date.now();
    if (ms <= 0) fire();
    // setTimeout fires at once past 2^31-1 ms (24.8 days): a deadline that far is no deadline.
    else if (ms <= 0x7fffffff) timer = setTimeout(fire, ms);
  }
  return {
    signal: controller.signal,
    dispose() {
      if (timer) clearTimeout(timer);
      outer?.removeEventListener("abort", onAbort);
    },
  };
}

function describeReason(reason: unknown): string {
  if (reason instanceof Error) return reason.message;
  if (reason === undefined) return "signal aborted";
  return String(reason);
}
