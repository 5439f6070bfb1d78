export { DEFAULT_COMMIT_MARKERS, selectCheckpoint, estimatePackageBytes, type SelectOptions } from "./select.js";
export { packageCheckpoint, type PackageOptions } from "./package.js";
export { archiveFileName } from "./attempts.js";
export { createArchiveStream, type ArchiveStream, type ArchiveStreamOptions } from "./archive-stream.js";
export { stageFile, commitTogether, writeStreamAtomic, removeStaleTemps, type StagedFile } from "./atomic-file.js";
export { planCompression, type CompressionPlan, type CompressionSample } from "./compression.js";
export { gzipStream, storedGzipBytes, GZIP_BLOCK_BYTES, type GzipStreamOptions } from "./gzip-parallel.js";
export { verifyArchive, formatVerifyReport } from "./verify.js";
export { filesBeingWritten } from "./open-files.js";
export { checkIntegrity, tornFiles, type Integrity } from "./torn.js";
export type { FlatGuard, IntactCopy } from "./select-flat.js";
export { PackagingError, type PackagingErrorCode } from "./errors.js";
export { MANIFEST_NAME, isSafeArchivePath } from "./paths.js";
export type { ManifestBase, SidecarManifest } from "./manifest.js";
export type {
  ArtifactResult,
  CheckpointSelection,
  CompressionMode,
  EffectiveCompression,
  Manifest,
  ManifestFile,
  ModelLayout,
  PackableSelection,
  PackEntry,
  ProgressInfo,
  SkippedEntry,
  StopReason,
  VerifyReport,
} from "./types.js";
export { streamArchive, type StreamArchiveOptions, type StreamedArchive } from "./stream-package.js";
export { probeWritable, type Writability } from "./writable.js";
export { hashingPassThrough } from "./hashing-pass-through.js";
