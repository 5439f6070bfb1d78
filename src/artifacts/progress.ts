import type { ProgressInfo } from "./types.js";

export interface ProgressMeter {
  add(bytes: number): void;
  /** One last report at the end, whatever the throttle says. */
  finish(): void;
  readonly bytes: number;
}

/** At most one report per `intervalMs`: the callback may log, and logs must stay readable. */
export function progressMeter(
  totalBytes: number,
  onProgress: ((p: ProgressInfo) => void) | undefined,
  intervalMs = 250,
): ProgressMeter {
  const start = Date.now();
  let bytes = 0;
  let last = start;
  const report = (now: number): void => {
    if (!onProgress) return;
    const seconds = (now - start) / 1000;
    const rateBytesPerSec = seconds > 0 ? bytes / seconds : 0;
    const info: ProgressInfo =
      rateBytesPerSec > 0
        ? { bytes, totalBytes, rateBytesPerSec, msLeft: Math.max(0, Math.round(((totalBytes - bytes) / rateBytesPerSec) * 1000)) }
        : { bytes, totalBytes, rateBytesPerSec };
    try {
      onProgress(info);
    } catch {
      // A failing progress callback must not fail the packaging it reports on.
    }
  };
  return {
    add(n) {
      bytes += n;
      if (!onProgress) return;
      const now = Date.now();
      if (now - last >= intervalMs) {
        last = now;
        report(now);
      }
    },
    finish() {
      report(Date.now());
    },
    get bytes() {
      return bytes;
    },
  };
}
