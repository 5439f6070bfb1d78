import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";

export interface StopRequest {
  readonly signal: string;
  readonly requestedAt: string;
  /** When trainguard must be done: first stop signal + grace. */
  readonly deadline: string;
  /** When the algorithm is SIGKILLed if still running: deadline minus the packaging reserve. */
  readonly checkpointDeadline: string;
  readonly graceSeconds: number;
}

/**
 * Written before the stop signal is forwarded, so an algorithm whose handler reads
 * TRAINGUARD_STOP_FILE finds it. Synchronous on purpose: it is a few hundred bytes, and the
 * signal must not wait for a round trip through the thread pool.
 */
export function writeStopRequest(file: string, request: StopRequest): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(request, null, 2)}\n`);
  renameSync(tmp, file);
}
