import { expect } from "vitest";
import type { JobStatusDocument } from "../../src/contract/index.js";
import { ms, type Job } from "./job.js";

/** A job stopped while its algorithm trained, then packaged: the steps status.json goes through. */
export const STOPPED_WHILE_TRAINING = [
  ["InProgress", "Starting"],
  ["InProgress", "Training"],
  ["Stopping", "Stopping"],
  ["Stopping", "Uploading"],
  ["Stopped", "Stopped"],
] as const;

/** A job whose algorithm failed on its own, its newest checkpoint then packaged. */
export const FAILED_AFTER_TRAINING = [
  ["InProgress", "Starting"],
  ["InProgress", "Training"],
  ["InProgress", "Uploading"],
  ["Failed", "Failed"],
] as const;

/** The (status, secondaryStatus) steps of status.json, in order, with non-decreasing timestamps. */
export function expectTransitions(status: JobStatusDocument, steps: ReadonlyArray<readonly [string, string]>): void {
  expect(status.transitions.map((t) => [t.status, t.secondaryStatus])).toEqual(steps.map((s) => [...s]));
  const times = status.transitions.map((t) => ms(t.at));
  for (let i = 1; i < times.length; i += 1) expect(times[i]).toBeGreaterThanOrEqual(times[i - 1] as number);
  const last = steps[steps.length - 1];
  if (last) {
    expect(status.TrainingJobStatus).toBe(last[0]);
    expect(status.SecondaryStatus).toBe(last[1]);
  }
}

/** `names` occur in the log in this order (each at least once; other events may come between). */
export function expectEventOrder(job: Job, names: readonly string[]): void {
  const seen = job.eventNames();
  let from = 0;
  for (const name of names) {
    const at = seen.indexOf(name, from);
    expect(at, `event ${name} after ${names.slice(0, names.indexOf(name)).join(", ") || "start"} in ${JSON.stringify(seen)}`).toBeGreaterThanOrEqual(0);
    from = at + 1;
  }
}
