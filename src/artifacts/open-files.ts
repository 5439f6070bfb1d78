import { readFile, readdir, readlink, realpath } from "node:fs/promises";
import path from "node:path";
import { forEachLimited } from "./limit.js";

const O_ACCMODE = 0o3;

/**
 * Which of `paths` (absolute, canonical) some process holds open for writing, with those pids.
 * As PID 1 of the container every process is visible in /proc; processes we may not inspect
 * are skipped, since they cannot be the algorithm we started.
 */
export async function openForWriting(paths: ReadonlySet<string>): Promise<Map<string, number[]>> {
  const found = new Map<string, number[]>();
  if (paths.size === 0) return found;
  let pids: string[];
  try {
    pids = (await readdir("/proc")).filter((n) => /^\d+$/.test(n));
  } catch {
    return found;
  }
  await forEachLimited(pids, 16, async (pid) => {
    let fds: string[];
    try {
      fds = await readdir(`/proc/${pid}/fd`);
    } catch {
      return;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = await readlink(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      if (!paths.has(target)) continue;
      if (!(await writableFd(pid, fd))) continue;
      const list = found.get(target) ?? [];
      list.push(Number(pid));
      found.set(target, list);
    }
  });
  return found;
}

async function writableFd(pid: string, fd: string): Promise<boolean> {
  try {
    const info = await readFile(`/proc/${pid}/fdinfo/${fd}`, "utf8");
    const match = /^flags:\s*([0-7]+)/m.exec(info);
    // An fd that closed between readlink and here is no longer a writer.
    if (!match?.[1]) return false;
    return (parseInt(match[1], 8) & O_ACCMODE) !== 0;
  } catch {
    return false;
  }
}

/**
 * The top-level files of `dir` that some process holds open for writing, by name, with why.
 * Called just before the algorithm is SIGKILLed: a file it is writing at that moment is cut in
 * half, and once the writer is dead nothing else could tell.
 */
export async function filesBeingWritten(dir: string): Promise<Map<string, string>> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return new Map();
  }
  const real = await Promise.all(names.map((name) => realpath(path.join(dir, name)).catch(() => undefined)));
  const nameOf = new Map<string, string>();
  real.forEach((p, i) => {
    if (p !== undefined) nameOf.set(p, names[i] as string);
  });
  const out = new Map<string, string>();
  for (const [p, pids] of await openForWriting(new Set(nameOf.keys()))) {
    out.set(nameOf.get(p) as string, `pid ${pids.join(", ")} was writing it when the algorithm was killed at the checkpoint deadline`);
  }
  return out;
}
