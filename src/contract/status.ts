/**
 * The document at <ml-root>/output/trainguard/status.json: a fixed interface that platforms,
 * dashboards and tests read. Field names of the job follow DescribeTrainingJob; every field is
 * always present (null until known), except the optional ones marked below.
 */

export type TrainingJobStatus = "InProgress" | "Stopping" | "Stopped" | "Completed" | "Failed";
export type SecondaryStatus =
  | "Starting"
  | "Downloading"
  | "Training"
  | "Uploading"
  | "Stopping"
  | "Stopped"
  | "Completed"
  | "Failed"
  | "MaxRuntimeExceeded"
  | "Interrupted";

export interface StatusTransition {
  readonly status: TrainingJobStatus;
  readonly secondaryStatus: SecondaryStatus;
  /** ISO 8601. */
  readonly at: string;
  readonly message?: string;
}

/**
 * The model artifact trainguard wrote (and uploaded, when `--output` is set). When nothing could be
 * written locally (`localError` says why) and the archive went straight from the checkpoint files
 * to `--output`, `path` and `manifestPath` are the object's URI and its sidecar's.
 */
export interface ArtifactStatus {
  /** The archive, or the model dir for layout "files"; the object's URI when nothing is local. */
  readonly path: string;
  /** Size of the archive (layout "files": sum of the placed files). */
  readonly bytes: number;
  /** Of the archive (layout "files": of the manifest file). */
  readonly sha256: string;
  /**
   * Where the archive was uploaded; null without `--output` or when the upload failed. With layout
   * "files" it is the archive made from the same checkpoint files, streamed there without a local copy.
   */
  readonly uploadedTo: string | null;
  /** Why the upload failed, when it did. */
  readonly uploadError?: string;
  /**
   * Why nothing was written locally, when so: the model dir cannot be written (named, with the
   * errno), or writing it failed while the upload succeeded.
   */
  readonly localError?: string;
  /** The checkpoint packaged: its directory name, or the checkpoint dir's name when it holds files only. */
  readonly checkpoint: string;
  readonly compression: "gzip" | "fast" | "stored" | "none";
  readonly layout: "archive" | "files";
  /** Regular files in the artifact. */
  readonly files: number;
  /** The sidecar manifest (layout "files": the manifest in the model dir); a URI when nothing is local. */
  readonly manifestPath: string;
  readonly durationMs: number;
}

/** Background checkpoint sync while training: what is complete locally and not yet remote. */
export interface CheckpointSyncLag {
  /** Complete local checkpoints that are meant to be remote and are not (yet). */
  readonly checkpoints: number;
  /** Their bytes not yet stored under their own keys. */
  readonly bytes: number;
  readonly newestLocal?: string;
  readonly newestRemote?: string;
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

/** The stop path's flush of the newest complete checkpoint to the remote checkpoint location. */
export type CheckpointSyncFlush =
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

/** Present only for jobs with a checkpoint URI: `lag` while training, `flush` from the stop path. */
export interface CheckpointSyncStatus {
  readonly lag?: CheckpointSyncLag;
  readonly flush?: CheckpointSyncFlush;
}

export interface JobStatusDocument {
  TrainingJobName: string | null;
  TrainingJobStatus: TrainingJobStatus;
  SecondaryStatus: SecondaryStatus;
  transitions: StatusTransition[];
  /** ISO 8601, like every time below. */
  startedAt: string;
  stopRequestedAt: string | null;
  /** The signal that asked trainguard to stop (SIGTERM, SIGINT). */
  stopSignal: string | null;
  /** When the stop budget ends (the platform's SIGKILL). */
  deadline: string | null;
  /** When the algorithm is killed if it has not exited, so that packaging and upload still fit. */
  checkpointDeadline: string | null;
  endedAt: string | null;
  /** The algorithm's command line (runTraining: the Node process's). */
  command: readonly string[];
  pid: number | null;
  /** The algorithm's exit: its code, or the signal that ended it. */
  exitCode: number | null;
  signal: string | null;
  /** Whether the algorithm had to be killed at the checkpoint deadline. */
  escalated: boolean;
  /** What is (or would be) in <ml-root>/output/failure. */
  failureReason: string | null;
  artifact: ArtifactStatus | null;
  /** The remote checkpoint the algorithm resumed from (checkpoint name), when one was downloaded. */
  resumedFrom: string | null;
  checkpointSync: CheckpointSyncStatus | null;
  /** trainguard's own exit code, once it ends. */
  trainguardExitCode: number | null;
}
