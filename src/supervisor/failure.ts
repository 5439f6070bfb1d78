import { writeFile, rename, stat } from "node:fs/promises";
import { mkdir } from "node:fs/promises";
import path from "node:path";

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
