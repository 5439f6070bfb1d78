import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { processStats, readProcStat, type ProcStat } from "../../src/proc/index.js";

// The stat reader is the product's own: the tests judge processes as trainguard reads them.
export type { ProcStat };

/** Alive means: exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  const stat = readProcStat(pid);
  return stat !== undefined && stat.state !== "Z" && stat.state !== "X";
}

/**
 * Every process of the PID namespace whose init is `pid1HostPid`: that process and all its
 * descendants (orphans of the namespace are re-parented to its init, so they are descendants too).
 */
export function namespaceProcesses(pid1HostPid: number): ProcStat[] {
  const procs = processStats();
  const byParent = new Map<number, ProcStat[]>();
  for (const p of procs) {
    const list = byParent.get(p.ppid) ?? [];
    list.push(p);
    byParent.set(p.ppid, list);
  }
  const root = procs.find((p) => p.pid === pid1HostPid);
  if (!root) return [];
  const out: ProcStat[] = [root];
  for (let i = 0; i < out.length; i += 1) out.push(...(byParent.get((out[i] as ProcStat).pid) ?? []));
  return out;
}

/** Zombies anywhere in the namespace (PID 1 itself excluded). */
export function zombiesInNamespace(pid1HostPid: number): ProcStat[] {
  return namespaceProcesses(pid1HostPid).filter((p) => p.pid !== pid1HostPid && p.state === "Z");
}

function readNul(file: string): string[] {
  try {
    return readFileSync(file, "latin1").split("\0");
  } catch {
    return [];
  }
}

export interface MarkedProcess extends ProcStat {
  readonly cmdline: string;
}

/**
 * Every process on the host whose environment or command line carries `marker` (the harness puts
 * it in the job's environment, which every descendant inherits). A zombie has no readable environ
 * and is not listed: zombies are counted with zombiesInNamespace().
 */
export function processesWithMarker(marker: string, exclude: readonly number[] = []): MarkedProcess[] {
  const out: MarkedProcess[] = [];
  for (const stat of processStats()) {
    if (stat.pid === process.pid || exclude.includes(stat.pid)) continue;
    const env = readNul(`/proc/${stat.pid}/environ`);
    const cmdline = readNul(`/proc/${stat.pid}/cmdline`);
    if (!env.some((e) => e.includes(marker)) && !cmdline.some((a) => a.includes(marker))) continue;
    out.push({ ...stat, cmdline: cmdline.filter((a) => a !== "").join(" ") });
  }
  return out;
}

/** The SigCgt mask of a process (bit n-1 set when signal n has a handler), undefined when gone. */
export function caughtSignals(pid: number): bigint | undefined {
  const status = readStatus(pid);
  const line = status?.split("\n").find((l) => l.startsWith("SigCgt:"));
  return line === undefined ? undefined : BigInt(`0x${line.split(/\s+/)[1]}`);
}

export function hasSignalBits(mask: bigint, signals: readonly number[]): boolean {
  return signals.every((n) => (mask & (1n << BigInt(n - 1))) !== 0n);
}

export function readStatus(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/status`, "latin1");
  } catch {
    return undefined;
  }
}

/** Children created by the main thread of `pid` (enough for unshare, which is single-threaded). */
export function threadChildren(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "latin1").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** The host pid of the process that is `nsPid` inside the namespace of `pid1HostPid`. */
export function hostPidOf(pid1HostPid: number, nsPid: number): number | undefined {
  let ns: string;
  try {
    ns = readlinkSync(`/proc/${pid1HostPid}/ns/pid`);
  } catch {
    return undefined;
  }
  for (const p of namespaceProcesses(pid1HostPid)) {
    const line = readStatus(p.pid)?.split("\n").find((l) => l.startsWith("NSpid:"));
    const ids = line?.split(/\s+/).slice(1).map(Number) ?? [];
    if (ids[ids.length - 1] !== nsPid) continue;
    try {
      if (readlinkSync(`/proc/${p.pid}/ns/pid`) === ns) return p.pid;
    } catch {
      // gone
    }
  }
  return undefined;
}

/** The TCP ports `pid` listens on (IPv4 and IPv6): its socket inodes matched against /proc/net/tcp{,6} in LISTEN state. */
export function listeningTcpPorts(pid: number): number[] {
  const inodes = new Set<string>();
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return [];
  }
  for (const fd of fds) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match?.[1]) inodes.add(match[1]);
    } catch {
      // closed between readdir and readlink
    }
  }
  const ports: number[] = [];
  for (const table of [`/proc/${pid}/net/tcp`, `/proc/${pid}/net/tcp6`]) {
    let text = "";
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is HEX_IP:HEX_PORT, st 0A is LISTEN, inode is the tenth field.
      const [, local, , state, , , , , , inode] = fields;
      if (state === "0A" && inode !== undefined && inodes.has(inode) && local) ports.push(Number.parseInt(local.split(":")[1] ?? "", 16));
    }
  }
  return ports;
}
