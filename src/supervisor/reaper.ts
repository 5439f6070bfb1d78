import { processStats } from "../proc/index.js";
import { loadLibc } from "../job/index.js";
import type { Logger } from "../log/index.js";

/**
 * Reaps orphans re-parented to us when we are PID 1, without ever stealing the exit status of a
 * child Node spawned itself.
 *
 * Why not `waitpid(-1)`: libuv reaps its own children with `waitpid(pid)`; a wildcard wait would
 * consume their statuses, their `exit` events would never fire, and the supervisor would hang
 * (reproduced). So on every SIGCHLD we list zombies whose parent is us from /proc and reap each
 * one by pid, skipping the pids Node owns.
 */
export class OrphanReaper {
  private readonly ownChildren = new Set<number>();
  private waitpid: ((pid: number, status: null, options: number) => number) | undefined;
  private scheduled = false;
  private reapedCount = 0;

  constructor(private readonly log: Logger) {}

  /** Children spawned by Node (libuv reaps them): registered synchronously right after spawn. */
  trackOwnChild(pid: number): void {
    this.ownChildren.add(pid);
  }

  /** Called once libuv has reaped the child: its pid may be reused by an orphan from then on. */
  forgetOwnChild(pid: number): void {
    this.ownChildren.delete(pid);
  }

  get reaped(): number {
    return this.reapedCount;
  }

  start(): void {
    this.waitpid = loadWaitpid();
    process.on("SIGCHLD", this.onSigchld);
    // Orphans may already be zombies (re-parented before we listened).
    this.onSigchld();
  }

  stop(): void {
    process.off("SIGCHLD", this.onSigchld);
  }

  private readonly onSigchld = (): void => {
    // SIGCHLDs coalesce: one scan per burst is enough, and it must run after libuv's own reaping.
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.reapOnce();
    });
  };

  /** One pass; returns how many zombies were reaped. Exposed for tests. */
  reapOnce(): number {
    const waitpid = this.waitpid;
    if (waitpid === undefined) return 0;
    let count = 0;
    for (const pid of zombieChildren(process.pid)) {
      if (this.ownChildren.has(pid)) continue;
      if (waitpid(pid, null, WNOHANG) === pid) count += 1;
    }
    if (count > 0) {
      this.reapedCount += count;
      this.log.debug({ event: "orphans.reaped", count, total: this.reapedCount }, "reaped orphaned processes");
    }
    return count;
  }
}

const WNOHANG = 1;

function loadWaitpid(): (pid: number, status: null, options: number) => number {
  // koffi ships prebuilt binaries in its npm package: no compiler needed in the image.
  return loadLibc().func("int waitpid(int pid, _Out_ int *status, int options)") as (
    pid: number,
    status: null,
    options: number,
  ) => number;
}

/** Pids in state Z whose parent is `parentPid`, read from /proc/<pid>/stat. */
export function zombieChildren(parentPid: number): number[] {
  return processStats()
    .filter((p) => p.state === "Z" && p.ppid === parentPid)
    .map((p) => p.pid);
}
