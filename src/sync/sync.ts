import { selectCheckpoint, DEFAULT_COMMIT_MARKERS } from "../artifacts/index.js";
import { ConfigError, describeError } from "../contract/index.js";
import type { Logger } from "../log/index.js";
import type { ObjectStore } from "../storage/index.js";
import { Cancelled, DeadlineReached, LocalChanged } from "./errors.js";
import { HashCache } from "./hashing.js";
import { normalizePrefix } from "./layout.js";
import { commitTime, listCheckpointFiles, scanLocal, type LocalCheckpoint, type LocalFile } from "./local-scan.js";
import { pruneRemote, pruneVictims } from "./prune.js";
import { RemoteState, isComplete, type RemoteCheckpoint } from "./remote-state.js";
import { jitteredBackoff, raceAbort } from "../async/index.js";
import { limitSignal, pause } from "./signals.js";
import type { CheckpointSyncOptions, CopyObject, FlushOptions, FlushResult, SyncLag } from "./types.js";
import { uploadCheckpoint, type SentDelta, type UploadContext } from "./upload.js";

const DEFAULTS = { keep: 3, pollMs: 2_000, concurrency: 2, retryInitialMs: 1_000, retryMaxMs: 30_000 } as const;
/** S3 parts in flight per file in the background: memory stays near concurrency x 2 x 8 MiB. */
const BACKGROUND_QUEUE_SIZE = 2;
/** On the stop path, throughput matters more than manners. */
const FLUSH_QUEUE_SIZE = 4;

interface Job {
  readonly name: string;
  readonly controller: AbortController;
  /** Set when a flush adopts the job: later requests carry it. */
  deadline: number | undefined;
  readonly done: Promise<unknown>;
}

interface Walked {
  readonly committedAtMs: number;
  readonly files: LocalFile[];
}

type SentCounts = { bytes: number; files: number; copied: number; skipped: number };

/**
 * Background upload of complete checkpoints while the algorithm trains, so that a stop has at most
 * one checkpoint's missing files left to send. One checkpoint at a time, newest first, a few files
 * at once; failures are logged and retried later, never thrown.
 */
export class CheckpointSync {
  private readonly dir: string;
  private readonly store: ObjectStore;
  private readonly prefix: string;
  private readonly markers: readonly string[];
  private readonly keep: number;
  private readonly pollMs: number;
  private readonly concurrency: number;
  private readonly log: Logger;
  private readonly copyObject: CopyObject | undefined;
  private readonly onLag: ((lag: SyncLag) => void) | undefined;
  private readonly retryInitialMs: number;
  private readonly retryMaxMs: number;

  private readonly hashes = new HashCache();
  private readonly walked = new Map<string, Walked>();
  private readonly warned = new Set<string>();
  private readonly sent = new Map<string, SentCounts>();
  private remote: RemoteState | undefined;
  private remoteLoading: Promise<RemoteState> | undefined;
  private loop: Promise<void> | undefined;
  private current: Job | undefined;
  private stopping = false;
  private paused = false;
  private readonly stopController = new AbortController();
  private wake: AbortController = new AbortController();
  private lastLag: SyncLag = { checkpoints: 0, bytes: 0 };
  private lastLagJson = JSON.stringify(this.lastLag);

  constructor(opts: CheckpointSyncOptions) {
    const source = "checkpoint sync";
    this.dir = opts.checkpointDir;
    this.store = opts.store;
    this.prefix = normalizePrefix(opts.prefix, source);
    this.markers = opts.markers ?? DEFAULT_COMMIT_MARKERS;
    this.keep = positiveInt(opts.keep ?? DEFAULTS.keep, source, "keep");
    this.pollMs = positiveInt(opts.pollMs ?? DEFAULTS.pollMs, source, "pollMs");
    this.concurrency = positiveInt(opts.concurrency ?? DEFAULTS.concurrency, source, "concurrency");
    this.retryInitialMs = positiveInt(opts.retryDelayMs?.initial ?? DEFAULTS.retryInitialMs, source, "retryDelayMs.initial");
    this.retryMaxMs = Math.max(this.retryInitialMs, positiveInt(opts.retryDelayMs?.max ?? DEFAULTS.retryMaxMs, source, "retryDelayMs.max"));
    if (this.markers.length === 0) throw new ConfigError(source, "markers", "at least one commit marker name is needed");
    this.log = opts.log.child({ component: "sync", remote: this.store.uri(this.prefix) });
    this.copyObject = opts.copyObject;
    this.onLag = opts.onLag;
  }

  /** Starts the background loop (idempotent). */
  start(): void {
    if (this.loop !== undefined || this.stopping) return;
    this.log.info({ event: "sync.start", checkpointDir: this.dir, keep: this.keep }, "checkpoint sync started");
    this.loop = this.run().catch((err: unknown) => {
      // run() catches everything itself; this is the last line of defence for the process.
      this.log.error({ event: "sync.error", error: describeError(err) }, "checkpoint sync loop ended unexpectedly");
    });
  }

  /** Ends the loop; an upload in progress is cancelled (nothing partial becomes visible). */
  async stop(): Promise<void> {
    this.stopping = true;
    this.stopController.abort(new Cancelled("sync stopped"));
    this.current?.controller.abort(new Cancelled("sync stopped"));
    this.wake.abort();
    await this.loop;
    this.log.info({ event: "sync.stop", lag: this.lastLag }, "checkpoint sync stopped");
  }

  lag(): SyncLag {
    return this.lastLag;
  }

  /**
   * The stop path: make the newest complete local checkpoint (the one selectCheckpoint, and so the
   * packaging, picks) remote by `deadline`, sending only what is missing. The background loop
   * pauses for good; an upload it has in progress is kept if it is for that checkpoint (and bound
   * by the deadline from then on), cancelled otherwise. Never rejects.
   */
  async flush(opts: FlushOptions): Promise<FlushResult> {
    const started = Date.now();
    this.paused = true;
    this.wake.abort();
    const outer = opts.signal === undefined ? this.stopController.signal : AbortSignal.any([opts.signal, this.stopController.signal]);
    const limit = limitSignal(opts.deadline, outer, "flush");
    const signal = limit.signal;
    let name: string | undefined;
    let before: SentCounts = zeroCounts();
    const counts = () => {
      const now = name === undefined ? zeroCounts() : (this.sent.get(name) ?? zeroCounts());
      return { files: now.files - before.files, bytes: now.bytes - before.bytes, copiedFiles: now.copied - before.copied, ms: Date.now() - started };
    };
    this.log.info({ event: "sync.flush.start", deadline: new Date(opts.deadline).toISOString() }, "flushing the newest checkpoint");
    try {
      const selection = await raceAbort(selectCheckpoint(this.dir, { markers: [...this.markers] }), signal);
      if (selection.kind !== "directory") {
        this.current?.controller.abort(new Cancelled("flush: nothing to flush"));
        const reason = selection.kind === "none" ? selection.reason : `${this.dir} has no checkpoint subdirectories`;
        this.log.warn({ event: "sync.flush.none", reason }, "no complete checkpoint to flush");
        return { ok: false, code: "NO_CHECKPOINT", reason, ...counts() };
      }
      name = selection.name;
      before = { ...(this.sent.get(name) ?? zeroCounts()) };
      const committedAtMs = await raceAbort(commitTime(selection.dir, this.markers), signal);
      if (committedAtMs === undefined) throw new LocalChanged(`checkpoint ${name} lost its marker`);
      const target: LocalCheckpoint = { name, dir: selection.dir, committedAtMs };

      const job = this.current;
      if (job !== undefined) {
        if (job.name === name) {
          job.deadline = opts.deadline;
          const bound = () => job.controller.abort(signal.reason);
          if (signal.aborted) bound();
          else signal.addEventListener("abort", bound, { once: true });
        } else {
          job.controller.abort(new Cancelled(`flush: ${name} comes first`));
        }
        await raceAbort(job.done.catch(() => undefined), signal);
      }

      for (let failures = 0, ran = false; ; ) {
        try {
          const remote = await this.remoteState(signal);
          const files = await raceAbort(this.filesOf(target), signal);
          if (this.inSync(remote.get(name), target, files)) {
            const c = counts();
            const done = { ok: true as const, checkpoint: name, skippedFiles: ran ? Math.max(0, files.length - c.files - c.copiedFiles) : files.length, ...c };
            this.log.info({ event: "sync.flush.done", ...done }, "newest checkpoint is remote");
            // --keep holds after the stop too: the flushed checkpoint may push an older one out.
            if (pruneVictims(remote, this.keep).length > 0) {
              await pruneRemote({ store: this.store, prefix: this.prefix, markers: this.markers, remote, keep: this.keep, log: this.log, signal }).catch((err: unknown) =>
                this.log.warn({ event: "sync.error", phase: "prune", error: describeError(err) }, "could not remove old remote checkpoints"),
              );
            }
            // status.json shows lag: it should say the stop left nothing behind.
            await raceAbort(this.plan(remote), signal).catch(() => undefined);
            return done;
          }
          ran = true;
          await this.runJob(target, files, { signal, deadline: opts.deadline, queueSize: FLUSH_QUEUE_SIZE, background: false });
        } catch (err) {
          if (signal.aborted) throw signal.reason;
          if (err instanceof LocalChanged) throw err;
          failures++;
          const delay = jitteredBackoff(failures, 200, 2_000);
          this.log.warn({ event: "sync.error", checkpoint: name, phase: "flush", error: describeError(err), retryInMs: delay }, "flush attempt failed; retrying");
          await pause(delay, signal);
        }
      }
    } catch (err) {
      const reason: unknown = signal.aborted ? signal.reason : err;
      const code = reason instanceof DeadlineReached ? "DEADLINE" : reason instanceof Cancelled ? "ABORTED" : "ERROR";
      const failed: FlushResult = { ok: false, code, reason: describeError(reason), ...(name === undefined ? {} : { checkpoint: name }), ...counts() };
      this.log.warn({ event: "sync.flush.failed", ...failed }, "flush did not make the newest checkpoint remote");
      return failed;
    } finally {
      limit.dispose();
    }
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      let delay = this.pollMs;
      if (!this.paused) {
        try {
          const more = await this.round();
          failures = 0;
          if (more) delay = 0;
        } catch (err) {
          if (this.stopping) break;
          if (err instanceof LocalChanged) {
            // The algorithm rotated or rewrote a checkpoint mid-upload: look again soon, not an error.
            this.log.debug({ event: "sync.local-changed", reason: err.message }, "checkpoint changed under the upload");
          } else if (!(this.paused && err instanceof Cancelled)) {
            failures++;
            delay = jitteredBackoff(failures, this.retryInitialMs, this.retryMaxMs);
            this.log.warn({ event: "sync.error", error: describeError(err), failures, retryInMs: delay }, "checkpoint sync failed; retrying later");
          }
        }
      }
      if (this.stopping) break;
      if (this.wake.signal.aborted) this.wake = new AbortController();
      await pause(delay, this.wake.signal);
    }
  }

  /** One look at the checkpoint dir; uploads at most one checkpoint. True when there may be more to do. */
  private async round(): Promise<boolean> {
    const remote = await this.remoteState(this.stopController.signal);
    const next = await this.plan(remote);
    if (this.paused || this.stopping) return false;
    if (next !== undefined) {
      await this.runJob(next.checkpoint, next.files, {
        signal: this.stopController.signal,
        deadline: undefined,
        queueSize: BACKGROUND_QUEUE_SIZE,
        background: true,
      });
    }
    // Also with nothing to upload: a new run with a smaller `keep`, or an interrupted deletion.
    if (pruneVictims(remote, this.keep).length > 0 && !this.paused && !this.stopping) {
      await pruneRemote({ store: this.store, prefix: this.prefix, markers: this.markers, remote, keep: this.keep, log: this.log, signal: this.stopController.signal });
    }
    if (next === undefined) return false;
    await this.plan(remote);
    return true;
  }

  private remoteState(signal: AbortSignal): Promise<RemoteState> {
    if (this.remote !== undefined) return Promise.resolve(this.remote);
    this.remoteLoading ??= RemoteState.load({ store: this.store, prefix: this.prefix, markers: this.markers, log: this.log }).then(
      (state) => {
        this.remote = state;
        this.log.info(
          { event: "sync.remote-loaded", checkpoints: state.checkpoints.size, complete: state.complete().map((c) => c.name) },
          "remote checkpoints read",
        );
        return state;
      },
      (err: unknown) => {
        this.remoteLoading = undefined;
        throw err;
      },
    );
    return raceAbort(this.remoteLoading, signal);
  }

  /**
   * Which local checkpoints should be remote and are not, newest first, and the lag they make.
   * Only the newest `keep` count, and none that pruning would delete at once (at least `keep`
   * newer ones are remote already).
   */
  private async plan(remote: RemoteState): Promise<{ checkpoint: LocalCheckpoint; files: LocalFile[] } | undefined> {
    const local = await scanLocal(this.dir, this.markers);
    for (const name of this.walked.keys()) if (!local.some((c) => c.name === name)) this.walked.delete(name);
    const completeRemote = remote.complete();
    const pending: Array<{ checkpoint: LocalCheckpoint; files: LocalFile[]; bytes: number }> = [];
    for (const checkpoint of local.slice(0, this.keep)) {
      const newer = completeRemote.filter((r) => r.name !== checkpoint.name && r.hasIndex && (r.committedAtMs ?? -Infinity) > checkpoint.committedAtMs);
      if (newer.length >= this.keep) continue;
      let files: LocalFile[];
      try {
        files = await this.filesOf(checkpoint);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
        throw err;
      }
      const rc = remote.get(checkpoint.name);
      if (this.inSync(rc, checkpoint, files)) continue;
      const bytes = files.reduce((sum, f) => (rc?.files.get(f.rel)?.size === f.size ? sum : sum + f.size), 0);
      pending.push({ checkpoint, files, bytes });
    }
    const newestRemote = completeRemote[0]?.name;
    const newestLocal = local[0]?.name;
    this.setLag({
      checkpoints: pending.length,
      bytes: pending.reduce((sum, p) => sum + p.bytes, 0),
      ...(newestLocal === undefined ? {} : { newestLocal }),
      ...(newestRemote === undefined ? {} : { newestRemote }),
    });
    const next = pending[0];
    return next === undefined ? undefined : { checkpoint: next.checkpoint, files: next.files };
  }

  /**
   * Remote holds this very commit: complete, indexed with the same marker time (the sync writes
   * it; a resume puts it back on the marker), every file stored at its size. No file is read.
   */
  private inSync(rc: RemoteCheckpoint | undefined, local: LocalCheckpoint, files: readonly LocalFile[]): boolean {
    if (rc === undefined || !isComplete(rc) || rc.committedAtMs === undefined) return false;
    if (Math.abs(rc.committedAtMs - local.committedAtMs) >= 1) return false;
    return files.every((f) => rc.files.get(f.rel)?.size === f.size);
  }

  /** A committed checkpoint does not change: walk it once per commit. */
  private async filesOf(checkpoint: LocalCheckpoint): Promise<LocalFile[]> {
    const cached = this.walked.get(checkpoint.name);
    if (cached !== undefined && cached.committedAtMs === checkpoint.committedAtMs) return cached.files;
    const listing = await listCheckpointFiles(checkpoint.dir);
    for (const s of listing.skipped) {
      const key = `${checkpoint.name}/${s.rel}`;
      if (this.warned.has(key)) continue;
      this.warned.add(key);
      this.log.warn({ event: "sync.skip", checkpoint: checkpoint.name, path: s.rel, reason: s.reason }, "not synced");
    }
    this.walked.set(checkpoint.name, { committedAtMs: checkpoint.committedAtMs, files: listing.files });
    return listing.files;
  }

  private async runJob(
    checkpoint: LocalCheckpoint,
    files: readonly LocalFile[],
    opts: { signal: AbortSignal; deadline: number | undefined; queueSize: number; background: boolean },
  ): Promise<unknown> {
    const remote = await this.remoteState(opts.signal);
    // Checked after the last await before the job exists: a flush that began meanwhile sees either
    // this job in `current` or no job at all, never two jobs on one checkpoint.
    if (opts.background && (this.paused || this.stopping)) throw new Cancelled("sync paused");
    const controller = new AbortController();
    const forward = () => controller.abort(opts.signal.reason);
    if (opts.signal.aborted) forward();
    else opts.signal.addEventListener("abort", forward, { once: true });
    const ctx: UploadContext = {
      store: this.store,
      prefix: this.prefix,
      markers: this.markers,
      log: this.log,
      remote,
      hashes: this.hashes,
      copyObject: this.copyObject,
      concurrency: this.concurrency,
      queueSize: opts.queueSize,
      onSent: (name, delta) => this.recordSent(name, delta),
    };
    let job: Job | undefined;
    const done = uploadCheckpoint(ctx, checkpoint, files, { signal: controller.signal, deadline: () => job?.deadline });
    job = { name: checkpoint.name, controller, deadline: opts.deadline, done };
    this.current = job;
    try {
      return await done;
    } finally {
      opts.signal.removeEventListener("abort", forward);
      if (this.current === job) this.current = undefined;
    }
  }

  private recordSent(name: string, delta: SentDelta): void {
    const counts = this.sent.get(name) ?? zeroCounts();
    counts.bytes += delta.bytes;
    counts.files += delta.files;
    counts.copied += delta.copied;
    counts.skipped += delta.skipped;
    this.sent.set(name, counts);
    // Lag in bytes moves with every file, not only between checkpoints.
    if (delta.bytes > 0 && this.lastLag.checkpoints > 0) {
      this.setLag({ ...this.lastLag, bytes: Math.max(0, this.lastLag.bytes - delta.bytes) });
    }
  }

  private setLag(lag: SyncLag): void {
    const json = JSON.stringify(lag);
    if (json === this.lastLagJson) return;
    const level = lag.checkpoints !== this.lastLag.checkpoints || lag.newestRemote !== this.lastLag.newestRemote ? "info" : "debug";
    this.log[level]({ event: "sync.lag", ...lag }, "sync lag changed");
    this.lastLag = lag;
    this.lastLagJson = json;
    try {
      this.onLag?.(lag);
    } catch (err) {
      this.log.warn({ event: "sync.error", error: describeError(err) }, "onLag callback threw");
    }
  }
}

function zeroCounts(): SentCounts {
  return { bytes: 0, files: 0, copied: 0, skipped: 0 };
}

function positiveInt(value: number, source: string, field: string): number {
  if (!Number.isInteger(value) || value < 1) throw new ConfigError(source, field, `must be a positive integer, got ${value}`);
  return value;
}
