import { processStats, readProcStat } from "../proc/index.js";

/** The same process still runs: the pid exists, is no zombie, and started when ours did (pids are recycled). */
export function stillRunning(pid: number, startTicks: string): boolean {
  const stat = readProcStat(pid);
  return stat !== undefined && stat.startTicks === startTicks && stat.state !== "Z" && stat.state !== "X";
}

/** `pid` and every process below it, parents first. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const stat of processStats()) children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), stat.pid]);
  const out: number[] = [];
  const visit = (p: number) => {
    out.push(p);
    for (const child of children.get(p) ?? []) visit(child);
  };
  visit(pid);
  return out;
}
