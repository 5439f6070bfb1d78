/**
 * Exponential backoff with jitter: `initialMs` doubling per failure up to `maxMs`, then a random
 * point in the upper half, so that many requests failing together do not retry in lockstep.
 */
export function jitteredBackoff(failures: number, initialMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.max(0, failures - 1));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}
