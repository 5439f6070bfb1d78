import { writeFileSync } from "node:fs";
import { mkdir, rename, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { errorMessage } from "../contract/index.js";
import type { Logger } from "../log/index.js";

/** SageMaker shows the first 1024 characters of the failure file as FailureReason. */
export const FAILURE_REASON_VISIBLE_CHARS = 1024;

/**
 * Write the failure reason unless a failure file exists already: the algorithm's own reason is
 * better than ours. `wx` makes "check then write" a single atomic step.
 * Returns whether our reason was written.
 */
export async function writeFailureFile(file: string, reason: string): Promise<boolean> {
  await mkdir(path.dirname(file), { recursive: true });
  try {
    await writeFile(file, reason.endsWith("\n") ? reason : `${reason}\n`, { flag: "wx" });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  }
}

/**
 * For the last moment of a process dying of an uncaught exception, when nothing asynchronous will
 * run again: the same rule as writeFailureFile, synchronously.
 */
export function writeFailureFileSync(file: string, reason: string): void {
  try {
    writeFileSync(file, reason.endsWith("\n") ? reason : `${reason}\n`, { flag: "wx" });
  } catch {
    // Exists already (a better reason), or no output dir: nothing more can be done while dying.
  }
}

/** The failure file, when it can be written at all: a read-only or full output dir is logged, not fatal. */
export async function recordFailure(file: string, reason: string, log: Logger): Promise<void> {
  try {
    await writeFailureFile(file, reason);
  } catch (err) {
    log.error({ event: "failure.write-failed", path: file, err: errorMessage(err) }, "could not write the failure file; the reason is in this log");
  }
}

/**
 * A failure file left by an earlier run in the same ml-root (local re-runs, resumes) would hide
 * this run's reason; it is kept beside it as `failure.previous`, not deleted.
 */
export async function setAsideStaleFailureFile(file: string): Promise<boolean> {
  try {
    await stat(file);
  } catch {
    return false;
  }
  await rename(file, `${file}.previous`);
  return true;
}

/**
 * "What ended it" first and the stderr tail after, cut so the whole fits in what SageMaker shows:
 * the last lines of stderr are usually the traceback's conclusion, so the tail is kept, not the head.
 */
export function composeFailureReason(headline: string, stderrTail: string): string {
  const tail = stderrTail.trimEnd();
  if (tail === "") return headline;
  const prefix = `${headline}\nLast lines of the algorithm's stderr:\n`;
  const room = FAILURE_REASON_VISIBLE_CHARS - prefix.length;
  if (room <= 0) return headline.slice(0, FAILURE_REASON_VISIBLE_CHARS);
  const clipped = tail.length > room ? `...${tail.slice(tail.length - room + 3)}` : tail;
  return prefix + clipped;
}
