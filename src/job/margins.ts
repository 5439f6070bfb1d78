/**
 * Every margin of the stop budget, in one place. A stop at time T with grace G gives:
 *
 *   T ............ checkpoint deadline ........ finishing deadline .. exit at .. deadline (T + G)
 *      the algorithm saves  |  packaging, upload, sync  | final status |  margin  |
 *
 * - the checkpoint deadline is the deadline less the packaging reserve (checkpointReserveMs);
 * - finishing work must be done FINAL_WRITE_MS before trainguard exits;
 * - trainguard exits EXIT_MARGIN_MS before the deadline at the latest, whatever still runs.
 */

/** The process exits this long before the deadline at the latest, whatever is still running. */
export const EXIT_MARGIN_MS = 500;
/** Kept back from finishing work for the last status write and exit. */
export const FINAL_WRITE_MS = 250;
/** Without a stop, the final checkpoint sync still ends at some point rather than hanging the exit. */
export const UNBOUNDED_FLUSH_MS = 3_600_000;
/** How often the size of what would be packaged is re-measured while training runs. */
export const ESTIMATE_REFRESH_MS = 10_000;
/**
 * The first estimate waits this long after training starts: measuring loads the packaging code,
 * which a start does not need, and loading it while the algorithm starts would only slow both.
 */
export const FIRST_ESTIMATE_AFTER_MS = 200;

/** Finishing work (flush, packaging, upload) must be done by then: the deadline less the exit margin and the final status write. */
export function finishingDeadline(deadline: number): number {
  return deadline - EXIT_MARGIN_MS - FINAL_WRITE_MS;
}

/*
 * How much of the stop budget is kept back for packaging after the checkpoint deadline.
 *
 * The algorithm gets everything else: a short reserve means more time for its own save, a long one
 * means the newest checkpoint can still be packaged and uploaded. The reserve grows with the bytes
 * that must be packaged (at a conservative packaging rate, with a safety factor), never drops below
 * a floor (start-up of the packer, fsyncs, status writes), and never takes more than half the budget.
 */
export const RESERVE_FLOOR_MS = 2_000;
export const RESERVE_FIXED_OVERHEAD_MS = 1_000;
export const RESERVE_SAFETY_FACTOR = 1.5;
export const RESERVE_MAX_FRACTION = 0.5;
/** Stored-gzip packing to local disk measured ~500 MB/s here; assume 5x slower for cold caches and slow disks. */
export const DEFAULT_PACKAGING_BYTES_PER_SECOND = 100 * 1024 * 1024;

export function checkpointReserveMs(
  bytesToPackage: number,
  graceMs: number,
  packagingBytesPerSecond: number = DEFAULT_PACKAGING_BYTES_PER_SECOND,
): number {
  const packagingMs = (bytesToPackage / packagingBytesPerSecond) * 1000;
  const wanted = Math.max(RESERVE_FLOOR_MS, RESERVE_FIXED_OVERHEAD_MS + RESERVE_SAFETY_FACTOR * packagingMs);
  return Math.round(Math.min(wanted, graceMs * RESERVE_MAX_FRACTION));
}

/** How long the estimate taken at the stop may run: past this the deadline set at the stop stands. */
export const REMEASURE_AT_STOP_MS = 1_000;

/**
 * The checkpoint deadline from the bytes on disk at the stop, or undefined when measuring took
 * longer than REMEASURE_AT_STOP_MS, failed, or found nothing bigger than the estimate had.
 * Runs after the stop signal is out, never before it.
 */
export async function remeasureAtStop(
  measure: () => Promise<number | undefined>,
  stopDeadline: number,
  graceMs: number,
  current: number,
): Promise<number | undefined> {
  const timeout = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), REMEASURE_AT_STOP_MS).unref());
  const bytes = await Promise.race([measure().catch(() => undefined), timeout]);
  if (bytes === undefined) return undefined;
  const deadline = stopDeadline - checkpointReserveMs(bytes, graceMs);
  return deadline < current ? deadline : undefined;
}
