import { readFileSync, readdirSync } from "node:fs";

interface Stat {
  readonly state: string;
  readonly ppid: number;
  readonly startTicks: string;
}

/** /proc/<pid>/stat: state, parent and start time (comm may hold spaces and ')', so split after the last one). */
export function readProcStat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return undefined;
  }
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { state: fields[0] ?? "?", ppid: Number(fields[1]), startTicks: fields[19] ?? "" };
}

/** The same process still runs: the pid exists, is no zombie, and started when ours did (pids are recycled). */
export function stillRunning(pid: number, startTicks: string): boolean {
  const stat = readProcStat(pid);
  return stat !== undefined && stat.startTicks === startTicks && stat.state !== "Z" && stat.state !== "X";
}

/** `pid` and every process below it, parents first. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProcStat(Number(entry));
    if (stat) children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), Number(entry)]);
  }
  const out: number[] = [];
  const visit = (p: number) => {
    out.push(p);
    for (const child of children.get(p) ?? []) visit(child);
  };
  visit(pid);
  return out;
}

