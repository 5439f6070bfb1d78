/**
 * `promise`, unless `signal` fires first (then its reason). For work that takes no signal of its
 * own (a listing, a file open): it runs on, the caller stops waiting for it, and its later
 * rejection is handled here. Not Promise.race against one long-lived abort promise: every race
 * would stay attached to it and keep its value alive (a 1 MiB chunk each, measured: RSS grew with
 * the archive).
 */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  promise.catch(() => undefined);
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}
