import type { CheckpointSyncFlush, CheckpointSyncLag } from "../contract/index.js";
import type { Logger } from "../log/index.js";
import type { ObjectStore } from "../storage/index.js";

/**
 * Server-side copy of one object to another key of the same store. With it, a file a new
 * checkpoint shares with one already remote is copied inside the bucket instead of sent again.
 * Rejecting is fine: the file is then uploaded.
 */
export type CopyObject = (fromKey: string, toKey: string, opts: { signal: AbortSignal }) => Promise<void>;

export interface CheckpointSyncOptions {
  /** The local checkpoint dir: each complete subdirectory is one checkpoint. */
  readonly checkpointDir: string;
  readonly store: ObjectStore;
  /** Key prefix in `store` ("" for the store's root). Opaque: a per-host prefix works the same. */
  readonly prefix: string;
  /** Commit marker file names; default DEFAULT_COMMIT_MARKERS. */
  readonly markers?: readonly string[];
  /** Complete remote checkpoints kept (older ones are deleted). Default 3. */
  readonly keep?: number;
  readonly log: Logger;
  /** How often the checkpoint dir is looked at. Default 2000. */
  readonly pollMs?: number;
  /** Files uploaded at once. Default 2. */
  readonly concurrency?: number;
  /** Enables cross-checkpoint dedupe by content (see s3CopyObject). */
  readonly copyObject?: CopyObject;
  /** Called whenever lag() changes. */
  readonly onLag?: (lag: SyncLag) => void;
  /** Wait after a failed round, doubling from `initial` to `max`. Default 1 s to 30 s. */
  readonly retryDelayMs?: { readonly initial?: number; readonly max?: number };
}

export interface FlushOptions {
  /** Epoch ms: the flush settles by then, successful or not. */
  readonly deadline: number;
  readonly signal?: AbortSignal;
}

/** Their shapes are status.json's, where the supervisor records them. */
export type SyncLag = CheckpointSyncLag;
export type FlushResult = CheckpointSyncFlush;

export interface ResumeOptions {
  readonly store: ObjectStore;
  readonly prefix: string;
  readonly checkpointDir: string;
  readonly markers?: readonly string[];
  readonly signal?: AbortSignal;
  /** Epoch ms. */
  readonly deadline?: number;
  readonly log: Logger;
  /** Files downloaded at once. Default 4. */
  readonly concurrency?: number;
}

export interface ResumeResult {
  /** The checkpoint now in `<checkpointDir>/<name>`, or null when no complete remote one exists. */
  readonly checkpoint: string | null;
  readonly downloadedBytes: number;
  /** Files not downloaded because an identical one (size and sha256) was already there. */
  readonly skippedFiles: number;
}
