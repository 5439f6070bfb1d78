import path from "node:path";
import type { FlatGuard } from "../artifacts/index.js";
import type { Logger } from "../log/index.js";
import type { AlgorithmExit } from "../job/index.js";
import { freezeGroup } from "./freeze.js";
import { IntactCopies } from "./intact-copies.js";
import type { IntactBudget } from "../options/index.js";
import { WriteWatch } from "./write-watch.js";

/** At most this long for the group to stop (SIGSTOP) before the scan, then at most this long for the scan. */
const FREEZE_MS = 500;
const SCAN_MS = 300;
/**
 * A close the watch saw this long before an abnormal exit was noticed may be the kernel's close
 * of a killed writer: exit closes descriptors last, and the exit event waits for stderr to drain.
 */
const DEATH_WINDOW_MS = 1_000;

/**
 * Everything trainguard learns, while the algorithm runs and as it ends, about writes in a flat
 * checkpoint dir that did not finish: the inotify watch, the intact copies, and the scan of open
 * descriptors when the algorithm is killed at the checkpoint deadline. Its verdict, `guard()`,
 * tells packaging which live files not to trust and what to package in their place.
 */
export class WriteGuard {
  private stopForwardedAt: number | undefined;
  /** The watch's mark as the group was SIGKILLed (after the leader exited, or at escalation). */
  private groupKilledMark: number | undefined;
  private cutAtKill = new Map<string, string>();

  private constructor(
    private readonly watch: WriteWatch | undefined,
    private readonly copies: IntactCopies | undefined,
  ) {}

  static async start(checkpointDir: string, copiesDir: string, budget: IntactBudget, log: Logger): Promise<WriteGuard> {
    let copies: IntactCopies | undefined;
    const watch = WriteWatch.start(checkpointDir, log, (name, generation) => copies?.finished(name, generation));
    if (watch && budget !== "off") {
      copies = new IntactCopies(checkpointDir, copiesDir, budget, (name) => watch.generation(name), log);
      await copies.reset();
    }
    return new WriteGuard(watch, copies);
  }

  /** The stop request went out: closes from now on may be those of a writer the signal killed. */
  stopForwarded(at: number): void {
    this.stopForwardedAt ??= at;
  }

  /**
   * Freezes the group, notes the files it holds open for writing, then SIGKILLs it (bounded:
   * the kill comes within FREEZE_MS + SCAN_MS whatever happens).
   */
  async killNoting(pgid: number, dir: string, kill: () => void, log: Logger): Promise<void> {
    try {
      await freezeGroup(pgid, FREEZE_MS);
      // artifacts/ is loaded on first use (not at start-up); the job's first estimate has loaded it long before.
      const scan = import("../artifacts/index.js").then(({ filesBeingWritten }) => filesBeingWritten(dir)).then((files) => {
        this.cutAtKill = files;
        if (files.size > 0) log.warn({ event: "algorithm.cut-off", files: [...files.keys()] }, "files still being written when the algorithm is killed will not be packaged as they are");
      });
      await Promise.race([scan, new Promise((resolve) => setTimeout(resolve, SCAN_MS))]);
    } finally {
      this.groupKilledMark ??= this.watch?.mark();
      kill();
    }
  }

  /**
   * Bytes of the intact copies: mid-save the live flat file is only as long as what was written
   * so far, and its intact version may be what gets packaged.
   */
  keptBytes(): number {
    return this.copies?.bytes() ?? 0;
  }

  /**
   * Called as the leader's exit is seen, just before whatever it left in its group is SIGKILLed:
   * the leader's own closes are read now, so only those of the killed members count as cut.
   */
  groupKilled(): void {
    this.groupKilledMark ??= this.watch?.mark();
  }

  /** Called once the algorithm is gone: which flat files not to trust, and their intact versions. */
  guard(exit: AlgorithmExit, exitSeenAt: number): FlatGuard {
    const abnormal = exit.signal !== null || exit.exitCode !== 0;
    const cutFrom = abnormal ? Math.min(exitSeenAt - DEATH_WINDOW_MS, this.stopForwardedAt ?? Infinity) : undefined;
    const unfinished = new Map(this.watch?.unfinished(cutFrom, this.groupKilledMark));
    for (const [name, why] of this.cutAtKill) unfinished.set(name, why);
    const intactCopies = this.copies?.stop();
    this.watch?.close();
    return { unfinished, ...(intactCopies ? { intactCopies } : {}) };
  }

  close(): void {
    this.copies?.stop();
    this.watch?.close();
  }
}

/** Where intact copies are kept: beside status.json, outside the checkpoint dir (which is packaged and synced). */
export function intactCopiesDir(trainguardDir: string): string {
  return path.join(trainguardDir, "intact");
}
