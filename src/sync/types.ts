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

export interface SyncLag {
  /** Complete local checkpoints that are meant to be remote and are not (yet). */
  readonly checkpoints: number;
  /** Their bytes not yet stored under their own keys. */
  readonly bytes: number;
  readonly newestLocal?: string;
  readonly newestRemote?: string;
}

export interface FlushOptions {
  /** Epoch ms: the flush settles by then, successful or not. */
  readonly deadline: number;
  readonly signal?: AbortSignal;
}

interface FlushCounts {
  /** Checkpoint files sent during the flush (markers included, the sync index not). */
  readonly files: number;
  /** Bytes sent during the flush: those files plus the sync index. */
  readonly bytes: number;
  /** Files made remote by a server-side copy instead of an upload. */
  readonly copiedFiles: number;
  readonly ms: number;
}

export type FlushResult =
  | (FlushCounts & {
      readonly ok: true;
      readonly checkpoint: string;
      /** Files that were already remote with the same size and sha256. */
      readonly skippedFiles: number;
    })
  | (FlushCounts & {
      readonly ok: false;
      /**
       * DEADLINE / ABORTED: stopped before its marker was written, so no marker object vouches
       * for it remotely (its files may be partly there; a later sync or flush completes them).
       * NO_CHECKPOINT: nothing complete locally. ERROR: a failure that is not time.
       */
      readonly code: "DEADLINE" | "ABORTED" | "NO_CHECKPOINT" | "ERROR";
      readonly checkpoint?: string;
      readonly reason: string;
    });

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
