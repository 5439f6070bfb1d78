import { processStats } from "../proc/index.js";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * Stops every process of group `pgid` (SIGSTOP) and waits, at most `timeoutMs`, until none of
 * them runs. A writer that is inside open(O_TRUNC) has already emptied its file but shows no
 * descriptor in /proc yet; once it is stopped the open has completed and the descriptor shows.
 */
export async function freezeGroup(pgid: number, timeoutMs: number): Promise<boolean> {
  try {
    process.kill(-pgid, "SIGSTOP");
  } catch {
    return false;
  }
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (!anyRunning(pgid)) return true;
    if (Date.now() >= until) return false;
    await sleep(2);
  }
}

/** A member of the group that is not yet stopped (T), dead (Z, X) or gone. */
function anyRunning(pgid: number): boolean {
  return processStats().some((p) => p.pgid === pgid && !["T", "t", "Z", "X"].includes(p.state));
}
