import { readFile, readdir, readlink } from "node:fs/promises";

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

export async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  });
  await Promise.all(workers);
}
