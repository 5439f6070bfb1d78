/** One thing to put into the artifact, as found on disk when the checkpoint was selected. */
export interface PackEntry {
  /** Relative, `/`-separated, never absolute, never `..`: the name inside the archive. */
  readonly path: string;
  /** Where it is on disk now. */
  readonly abs: string;
  readonly type: "file" | "directory" | "symlink";
  /** Bytes of content; 0 for directories and symlinks. The tar header is written with this size. */
  readonly size: number;
  /** Permission bits only (no file type bits). */
  readonly mode: number;
  readonly mtimeMs: number;
  /** Relative target, for symlinks. */
  readonly linkTarget?: string;
}

export interface SkippedEntry {
  readonly path: string;
  readonly reason: string;
}

/** Which checkpoint to package. */
export type CheckpointSelection =
  | {
      kind: "directory";
      /** Subdirectory name inside the checkpoint dir. */
      name: string;
      dir: string;
      files: PackEntry[];
      /** Subdirectories without a commit marker: never packaged. */
      incomplete: string[];
      /** Entries that cannot go into an artifact (sockets, FIFOs, devices, escaping links). */
      skipped: SkippedEntry[];
    }
  | {
      kind: "flat";
      dir: string;
      files: PackEntry[];
      skipped: SkippedEntry[];
      /** Files left out because their write had not finished and no intact version was kept (also in `skipped`). */
      unfinished: SkippedEntry[];
      /** What stood in for what (a kept intact version packaged for a torn live file). */
      warnings: string[];
    }
  | { kind: "none"; reason: string; incomplete: string[] };

export type PackableSelection = Exclude<CheckpointSelection, { kind: "none" }>;

export type CompressionMode = "auto" | "gzip" | "fast" | "stored" | "none";
/** What was actually produced: `auto` always resolves to one of these. */
export type EffectiveCompression = Exclude<CompressionMode, "auto">;
export type ModelLayout = "archive" | "files";
export type StopReason = "Stopped" | "Completed" | "Failed";

export interface ManifestFile {
  readonly path: string;
  readonly size: number;
  readonly mode: number;
  /** Of the entry's content: for directories and symlinks that is the empty string's hash. */
  readonly sha256: string;
  readonly type: "file" | "symlink" | "directory";
  readonly linkTarget?: string;
}

export interface Manifest {
  readonly job: string;
  readonly checkpoint: string;
  readonly reason: StopReason;
  readonly createdAt: string;
  readonly trainguardVersion: string;
  readonly compression: EffectiveCompression;
  readonly gzipLevel?: number;
  /** "archive": the manifest is the archive's last entry. "files": it sits in a model dir. */
  readonly layout: ModelLayout;
  readonly files: ManifestFile[];
  /** Left out of the artifact on purpose, with why. */
  readonly skipped: SkippedEntry[];
}

export interface ProgressInfo {
  /** Uncompressed tar bytes produced so far. */
  readonly bytes: number;
  readonly totalBytes: number;
  readonly rateBytesPerSec: number;
  readonly msLeft?: number;
}

export interface ArtifactResult {
  /** The archive, or the model dir for layout "files". */
  readonly path: string;
  /** Size of the archive file (layout "files": sum of the placed files). */
  readonly bytes: number;
  /** Of the archive file (layout "files": of the manifest file). */
  readonly sha256: string;
  readonly compression: EffectiveCompression;
  readonly gzipLevel?: number;
  readonly layout: ModelLayout;
  readonly manifestPath: string;
  /** Regular files in the artifact. */
  readonly files: number;
  readonly durationMs: number;
  readonly checkpoint: string;
  readonly skipped: SkippedEntry[];
  /** Things the caller should surface: skipped entries, rewritten links, why auto chose its level. */
  readonly warnings: string[];
}

export interface VerifyReport {
  /** Every entry matches the manifest. */
  ok: boolean;
  /** The archive could be read to its end (gzip and tar structure intact). */
  readable: boolean;
  problems: string[];
  /** Regular files checked (the manifest itself not counted). */
  files: number;
  /** Their bytes. */
  bytes: number;
  manifest?: Manifest;
  format?: "tar.gz" | "tar" | "directory";
  path: string;
}
