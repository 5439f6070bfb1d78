import { existsSync } from "node:fs";
import type { Job } from "./job.js";
import { caughtSignals, hasSignalBits, isAlive, readStatus } from "./procfs.js";
import { sleepSync } from "./wait.js";
import { SIG } from "./e2e.js";

/**
 * Every signal trainguard's SignalInbox installs, in one synchronous loop, first thing in the entry
 * point. SIGTERM's bit alone proves nothing: Node's own start-up (node.cc PlatformInit) registers a
 * native SIGINT/SIGTERM handler (SignalExit, SA_RESETHAND) to restore the terminal, which as PID 1
 * resets itself and drops the signal. SIGHUP, SIGUSR2 and SIGWINCH are caught only once the JS
 * handlers exist, so the whole set is the honest witness that a stop signal will be heard.
 */
export const INBOX_SIGNALS = [SIG.SIGTERM, SIG.SIGINT, SIG.SIGHUP, SIG.SIGQUIT, SIG.SIGUSR2, SIG.SIGWINCH] as const;

export interface StartupTimeline {
  /** Epoch ms: PID 1 first seen (still the forked unshare, before exec). */
  readonly pid1SeenAt: number;
  /** When PID 1 had become node (comm no longer "unshare"). */
  readonly execAt: number | undefined;
  /** When SigCgt first showed SIGTERM (Node's native handler). */
  readonly nativeTermAt: number | undefined;
  /** When SigCgt showed every signal of trainguard's inbox (its JS handler). */
  readonly handlerAt: number | undefined;
}

/**
 * Polls PID 1's /proc status every 0.5 ms (synchronously, so nothing delays the observation) until
 * trainguard's handlers are installed, then runs `atHandler` at once. Bounded by `timeoutMs`.
 */
export function watchStartup(job: Job, atHandler: () => void, timeoutMs = 5_000): StartupTimeline {
  const pid = job.findPid1Sync();
  const pid1SeenAt = job.pid1SeenAt as number;
  let execAt: number | undefined;
  let nativeTermAt: number | undefined;
  let handlerAt: number | undefined;
  while (handlerAt === undefined) {
    const now = Date.now();
    if (now - pid1SeenAt > timeoutMs) throw new Error(`trainguard's signal handlers did not appear within ${timeoutMs} ms\n${job.describe()}`);
    const status = readStatus(pid);
    if (status === undefined) throw new Error(`PID 1 vanished during start-up\n${job.describe()}`);
    const name = /^Name:\s*(.*)$/m.exec(status)?.[1];
    if (execAt === undefined && name !== undefined && name !== "unshare") execAt = now;
    if (execAt !== undefined) {
      const mask = caughtSignals(pid) ?? 0n;
      if (nativeTermAt === undefined && hasSignalBits(mask, [SIG.SIGTERM])) nativeTermAt = now;
      if (hasSignalBits(mask, INBOX_SIGNALS)) {
        handlerAt = now;
        atHandler();
      }
    }
    sleepSync(0.5);
  }
  return { pid1SeenAt, execAt, nativeTermAt, handlerAt };
}

export interface SpamResult {
  readonly pid1SeenAt: number;
  readonly firstSentAt: number;
  readonly lastSentAt: number;
  readonly sent: number;
  /** When stop-request.json was first seen, if it was. */
  readonly stopFileSeenAt: number | undefined;
  readonly endedBy: "stop-file" | "pid1-exited" | "timeout";
}

/**
 * What a platform that re-sends its stop does: `signal` to PID 1 every `everyMs` from the moment the
 * process exists until stop-request.json appears (or PID 1 is gone, or `timeoutMs`). Synchronous.
 */
export function spamUntilStopFile(job: Job, signal: NodeJS.Signals, everyMs: number, timeoutMs: number): SpamResult {
  const pid = job.findPid1Sync();
  const pid1SeenAt = job.pid1SeenAt as number;
  const stopFile = job.mlPath("output", "trainguard", "stop-request.json");
  let sent = 0;
  let firstSentAt = 0;
  let lastSentAt = 0;
  for (;;) {
    const now = Date.now();
    if (existsSync(stopFile)) return { pid1SeenAt, firstSentAt, lastSentAt, sent, stopFileSeenAt: now, endedBy: "stop-file" };
    if (!isAlive(pid)) return { pid1SeenAt, firstSentAt, lastSentAt, sent, stopFileSeenAt: undefined, endedBy: "pid1-exited" };
    if (now - pid1SeenAt > timeoutMs) return { pid1SeenAt, firstSentAt, lastSentAt, sent, stopFileSeenAt: undefined, endedBy: "timeout" };
    try {
      process.kill(pid, signal);
      if (sent === 0) firstSentAt = now;
      lastSentAt = now;
      sent += 1;
    } catch {
      // exited between the check and the kill
    }
    sleepSync(everyMs);
  }
}
