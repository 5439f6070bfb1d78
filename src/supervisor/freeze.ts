import { readFile, readdir } from "node:fs/promises";
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
    if (!(await anyRunning(pgid))) return true;
    if (Date.now() >= until) return false;
    await sleep(2);
  }
}

/** A member of the group that is not yet stopped (T), dead (Z, X) or gone. */
async function anyRunning(pgid: number): Promise<boolean> {
  let pids: string[];
  try {
    pids = (await readdir("/proc")).filter((n) => /^\d+$/.test(n));
  } catch {
    return false;
  }
  const states = await Promise.all(
    pids.map(async (pid) => {
      try {
        const stat = await readFile(`/proc/${pid}/stat`, "latin1");
        // The command name is in parentheses and may itself contain spaces or ')'.
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        return Number(fields[2]) === pgid ? fields[0] : undefined;
      } catch {
        return undefined;
      }
    }),
  );
  return states.some((s) => s !== undefined && !["T", "t", "Z", "X"].includes(s));
}
