import { readFileSync, readdirSync } from "node:fs";

export interface ProcStat {
  readonly pid: number;
  /** R, S, D, T, t, Z, X, ... */
  readonly state: string;
  readonly ppid: number;
  readonly pgid: number;
  /** Field 22, the start time in clock ticks since boot: tells a recycled pid from the process we knew. */
  readonly startTicks: string;
}

/** /proc/<pid>/stat, or undefined when the process is gone (or was reaped while being read). */
export function readProcStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return undefined;
  }
  // The command name is in parentheses and may itself contain spaces or ')': split after the last one.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { pid, state: fields[0] ?? "?", ppid: Number(fields[1]), pgid: Number(fields[2]), startTicks: fields[19] ?? "" };
}

/** Every process visible in /proc; those that vanish while read are left out. */
export function processStats(): ProcStat[] {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return [];
  }
  const stats: ProcStat[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProcStat(Number(entry));
    if (stat) stats.push(stat);
  }
  return stats;
}

/** Whether a process with this pid exists (one we may not signal, EPERM, exists too). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
