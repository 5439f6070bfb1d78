import { rmSync } from "node:fs";
import path from "node:path";
import { writeFileAtomicSync } from "../contract/index.js";
import { StopClock } from "./clock.js";
import { checkpointReserveMs } from "./margins.js";

export interface StopRequest {
  readonly signal: string;
  readonly requestedAt: string;
  /** When trainguard must be done: first stop signal + grace. */
  readonly deadline: string;
  /** When the algorithm is SIGKILLed if still running: deadline minus the packaging reserve. */
  readonly checkpointDeadline: string;
  readonly graceSeconds: number;
}

/** The stop file's content for a stop clock. */
export function stopRequestFor(clock: StopClock, graceSeconds: number): StopRequest {
  return {
    signal: clock.source,
    requestedAt: new Date(clock.requestedAt).toISOString(),
    deadline: new Date(clock.deadline).toISOString(),
    checkpointDeadline: new Date(clock.checkpointDeadline).toISOString(),
    graceSeconds,
  };
}

/**
 * Written before the stop signal is forwarded, so an algorithm whose handler reads
 * TRAINGUARD_STOP_FILE finds it. Synchronous on purpose: it is a few hundred bytes, and the
 * signal must not wait for a round trip through the thread pool.
 */
export function writeStopRequest(file: string, request: StopRequest): void {
  // The directory is made at start-up; only when something removed it since is it made here.
  writeFileAtomicSync(file, `${JSON.stringify(request, null, 2)}\n`, { createDir: true });
}

/**
 * Runs a stop's clock and stop-file write once, on a scratch file beside the real one, at
 * start-up (no timer is armed). The first run of a code path in Node pays for compiling it (the
 * clock, fs internals, JSON, dates: about a millisecond measured here), and the real stop file is
 * written between the SIGTERM and the forwarded signal, where that millisecond counts.
 */
export function rehearseStopRequest(file: string, graceSeconds: number): void {
  const scratch = path.join(path.dirname(file), `.rehearsal-${path.basename(file)}`);
  const graceMs = graceSeconds * 1000;
  const clock = new StopClock("SIGTERM", Date.now(), graceMs, checkpointReserveMs(0, graceMs));
  writeStopRequest(scratch, stopRequestFor(clock, graceSeconds));
  rmSync(scratch, { force: true });
}
