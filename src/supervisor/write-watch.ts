import { closeSync, readSync } from "node:fs";
import { loadLibc } from "../job/index.js";
import type { Logger } from "../log/index.js";
import { errorMessage } from "../contract/index.js";

const IN_MODIFY = 0x2;
const IN_CLOSE_WRITE = 0x8;
const IN_MOVED_FROM = 0x40;
const IN_MOVED_TO = 0x80;
const IN_CREATE = 0x100;
const IN_DELETE = 0x200;
const IN_Q_OVERFLOW = 0x4000;
const IN_ISDIR = 0x40000000;
const IN_NONBLOCK = 0o4000;
const IN_CLOEXEC = 0o2000000;
const EVENT_HEADER_BYTES = 16;
/** The kernel queues events between reads (16,384 by default): a read every 50 ms loses none. */
const POLL_MS = 50;

interface FileState {
  /** A write began (create, truncate, write) and no close of a writable descriptor followed yet. */
  writing: boolean;
  /** Epoch ms of the read that saw the last close-after-write (or the rename into the dir). */
  closedSeenAt: number;
  /** Which read (see `mark`) saw it. */
  closedInPoll: number;
  /** Bumped by every write: a copy taken while it changed is not a copy of one version. */
  generation: number;
}

type Inotify = { init: (flags: number) => number; addWatch: (fd: number, path: string, mask: number) => number };

/**
 * Watches the top level of the checkpoint dir with inotify while the algorithm runs, so that
 * trainguard knows which files were being written when the algorithm ended, whatever ended it.
 *
 * A process that dies mid-write has its descriptors closed by the kernel, which reports that
 * close exactly like a finished one (IN_CLOSE_WRITE). So a close is trusted only when it came
 * before anything could have cut the writer short: before the stop was forwarded and not within
 * the moments before an abnormal exit was noticed. Node's fs.watch reports neither closes nor
 * their kind, hence inotify itself, through koffi (already here for the reaper).
 */
export class WriteWatch {
  private readonly files = new Map<string, FileState>();
  private timer: NodeJS.Timeout | undefined;
  private overflowed = false;
  private polls = 0;
  private readonly buffer = Buffer.alloc(64 * 1024);

  private constructor(
    private fd: number,
    private readonly log: Logger,
    private readonly onFinished: (name: string, generation: number) => void,
  ) {}

  /** Undefined when inotify is unavailable (then the stop path relies on the /proc scan and the file formats). */
  static start(dir: string, log: Logger, onFinished: (name: string, generation: number) => void): WriteWatch | undefined {
    let fd = -1;
    try {
      const inotify = loadInotify();
      fd = inotify.init(IN_NONBLOCK | IN_CLOEXEC);
      if (fd < 0) throw new Error("inotify_init1 failed");
      if (inotify.addWatch(fd, dir, IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE) < 0) throw new Error(`inotify_add_watch ${dir} failed`);
    } catch (err) {
      if (fd >= 0) closeSync(fd);
      log.warn({ event: "watch.unavailable", dir, err: errorMessage(err) }, "cannot watch the checkpoint dir for writes");
      return undefined;
    }
    const watch = new WriteWatch(fd, log, onFinished);
    watch.timer = setInterval(() => watch.poll(), POLL_MS);
    watch.timer.unref();
    return watch;
  }

  /** Reads every queued event now. */
  poll(): void {
    if (this.fd < 0) return;
    const seenAt = Date.now();
    this.polls++;
    for (;;) {
      let n: number;
      try {
        n = readSync(this.fd, this.buffer, 0, this.buffer.length, null);
      } catch {
        return; // EAGAIN: nothing more queued
      }
      if (n <= 0) return;
      for (let off = 0; off + EVENT_HEADER_BYTES <= n; ) {
        const mask = this.buffer.readUInt32LE(off + 4);
        const len = this.buffer.readUInt32LE(off + 12);
        const raw = this.buffer.subarray(off + EVENT_HEADER_BYTES, off + EVENT_HEADER_BYTES + len);
        const nul = raw.indexOf(0);
        const name = raw.subarray(0, nul === -1 ? raw.length : nul).toString("utf8");
        off += EVENT_HEADER_BYTES + len;
        if (mask & IN_Q_OVERFLOW) this.overflowed = true;
        if (name === "" || mask & IN_ISDIR) continue;
        this.apply(name, mask, seenAt);
      }
    }
  }

  private apply(name: string, mask: number, seenAt: number): void {
    if (mask & (IN_DELETE | IN_MOVED_FROM)) {
      this.files.delete(name);
      return;
    }
    const state = this.files.get(name) ?? { writing: false, closedSeenAt: 0, closedInPoll: 0, generation: 0 };
    this.files.set(name, state);
    if (mask & (IN_CREATE | IN_MODIFY)) {
      state.writing = true;
      state.generation++;
    }
    if (mask & (IN_CLOSE_WRITE | IN_MOVED_TO)) {
      const wasWriting = state.writing || (mask & IN_MOVED_TO) !== 0;
      state.writing = false;
      state.closedSeenAt = seenAt;
      state.closedInPoll = this.polls;
      if (mask & IN_MOVED_TO) state.generation++;
      if (wasWriting) this.onFinished(name, state.generation);
    }
  }

  /** Changes whenever `name` is written: equal before and after a copy means the copy is one version. */
  generation(name: string): number {
    this.poll();
    return this.files.get(name)?.generation ?? 0;
  }

  /** Reads what is queued; closes read from now on come after the returned mark. */
  mark(): number {
    this.poll();
    return this.polls;
  }

  /**
   * Files whose last write may not have finished: still being written now, or closed only after
   * `cutFrom` (epoch ms from which a close may be the kernel's, after the writer was killed) or
   * after the mark `afterMark`.
   */
  unfinished(cutFrom: number | undefined, afterMark: number | undefined): Map<string, string> {
    this.poll();
    const out = new Map<string, string>();
    for (const [name, state] of this.files) {
      if (state.writing) out.set(name, "it was being written when the algorithm ended");
      else if ((cutFrom !== undefined && state.closedSeenAt >= cutFrom) || (afterMark !== undefined && state.closedInPoll > afterMark)) {
        out.set(name, "its last write ended as the algorithm was killed or died");
      }
    }
    if (this.overflowed) this.log.warn({ event: "watch.overflow" }, "inotify queue overflowed: some writes were not seen");
    return out;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

function loadInotify(): Inotify {
  const libc = loadLibc();
  return {
    init: libc.func("int inotify_init1(int flags)") as (flags: number) => number,
    addWatch: libc.func("int inotify_add_watch(int fd, const char *path, uint32_t mask)") as (fd: number, path: string, mask: number) => number,
  };
}
