export { CheckpointSync } from "./sync.js";
export { resumeFromRemote } from "./resume.js";
export { s3CopyObject } from "./copy.js";
export { ResumeError, type ResumeErrorCode } from "./errors.js";
export { SYNC_INDEX_NAME } from "./layout.js";
export type { CheckpointSyncOptions, CopyObject, FlushOptions, FlushResult, ResumeOptions, ResumeResult, SyncLag } from "./types.js";
