import { mkdir } from "node:fs/promises";
import path from "node:path";
import { writeFileAtomic, writeFileAtomicSync, type JobStatusDocument, type SecondaryStatus, type TrainingJobStatus } from "../contract/index.js";

// The document's type is a fixed interface: it lives in contract/, with everything status.json holds.
export type { JobStatusDocument, SecondaryStatus, TrainingJobStatus, ArtifactStatus, StatusTransition } from "../contract/index.js";

/**
 * Owns status.json. Every change replaces the file atomically; writes are chained so an older
 * state can never land after a newer one. A write that fails (a full or read-only output dir) is
 * reported to `onWriteError` and never rejects: the job goes on, and the next change writes the
 * whole document again, which is the retry.
 */
export class StatusFile {
  private readonly doc: JobStatusDocument;
  private chain: Promise<void> = Promise.resolve();
  private readonly onWriteError: (err: unknown) => void;

  constructor(
    private readonly file: string,
    init: { jobName: string | null; command: readonly string[]; now?: Date; onWriteError?: (err: unknown) => void },
  ) {
    this.onWriteError = init.onWriteError ?? (() => undefined);
    const at = (init.now ?? new Date()).toISOString();
    this.doc = {
      TrainingJobName: init.jobName,
      TrainingJobStatus: "InProgress",
      SecondaryStatus: "Starting",
      transitions: [{ status: "InProgress", secondaryStatus: "Starting", at }],
      startedAt: at,
      stopRequestedAt: null,
      stopSignal: null,
      deadline: null,
      checkpointDeadline: null,
      endedAt: null,
      command: init.command,
      pid: null,
      exitCode: null,
      signal: null,
      escalated: false,
      failureReason: null,
      artifact: null,
      resumedFrom: null,
      checkpointSync: null,
      trainguardExitCode: null,
    };
  }

  get current(): Readonly<JobStatusDocument> {
    return this.doc;
  }

  /** Record a lifecycle step; repeated identical steps are not recorded twice. */
  transition(status: TrainingJobStatus, secondaryStatus: SecondaryStatus, message?: string): Promise<void> {
    if (this.doc.TrainingJobStatus !== status || this.doc.SecondaryStatus !== secondaryStatus) {
      this.doc.TrainingJobStatus = status;
      this.doc.SecondaryStatus = secondaryStatus;
      this.doc.transitions.push({ status, secondaryStatus, at: new Date().toISOString(), ...(message ? { message } : {}) });
    }
    return this.flush();
  }

  /** Change fields; `write: false` folds them into the next write instead of writing now. */
  update(fields: Partial<Omit<JobStatusDocument, "transitions" | "TrainingJobStatus" | "SecondaryStatus">>, write = true): Promise<void> {
    Object.assign(this.doc, fields);
    return write ? this.flush() : this.chain;
  }

  /**
   * For the moment just before a forced exit, when no promise will get to run: writes now,
   * synchronously, and a queued asynchronous write cannot land after it because the process ends.
   */
  transitionSync(
    status: TrainingJobStatus,
    secondaryStatus: SecondaryStatus,
    message: string,
    fields: Partial<Omit<JobStatusDocument, "transitions" | "TrainingJobStatus" | "SecondaryStatus">>,
  ): void {
    Object.assign(this.doc, fields);
    this.doc.TrainingJobStatus = status;
    this.doc.SecondaryStatus = secondaryStatus;
    this.doc.transitions.push({ status, secondaryStatus, at: new Date().toISOString(), message });
    try {
      writeFileAtomicSync(this.file, `${JSON.stringify(this.doc, null, 2)}\n`, { createDir: true });
    } catch (err) {
      this.onWriteError(err);
    }
  }

  /** Waits for every queued write; `durable` fsyncs the final one. Never rejects. */
  flush(durable = false): Promise<void> {
    const snapshot = `${JSON.stringify(this.doc, null, 2)}\n`;
    this.chain = this.chain.then(async () => {
      try {
        await mkdir(path.dirname(this.file), { recursive: true });
        await writeFileAtomic(this.file, snapshot, durable);
      } catch (err) {
        this.onWriteError(err);
      }
    });
    return this.chain;
  }
}
