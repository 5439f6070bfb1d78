import { readFileSync, readdirSync } from "node:fs";

export interface ProcStat {
  readonly pid: number;
  /** R, S, D, T, t, Z, X, ... */
  readonly state: string;
  readonly ppid: number;
  readonly pgid: number;
}

/** Every process visible in /proc, from /proc/<pid>/stat; those that vanish while read are left out. */
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
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "latin1");
    } catch {
      continue; // exited and reaped between readdir and read
    }
    // The command name is in parentheses and may itself contain spaces or ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    stats.push({ pid: Number(entry), state: fields[0] ?? "", ppid: Number(fields[1]), pgid: Number(fields[2]) });
  }
  return stats;
}
