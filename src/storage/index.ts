export { parseStorageUri, joinKey, keyUri, bucketNameProblem, type StorageLocation } from "./location.js";
export { safeRelativeKey } from "./keys.js";
export { createS3Client, isLoopbackEndpoint, withoutSdkNodeNotice, S3_CLIENT_DEFAULTS, type S3ClientOptions } from "./client.js";
export { openStore, type OpenStoreOptions } from "./open.js";
export { downloadToFile, type DownloadOptions } from "./download.js";
export { UploadError, ObjectNotFoundError, type UploadErrorCode } from "./errors.js";
export { DEFAULT_PART_SIZE, DEFAULT_QUEUE_SIZE, MIN_PART_SIZE, MAX_PARTS } from "./parts.js";
export type { FillableReadable, ObjectStore, ObjectEntry, PutResult, PutStreamOptions, UploadProgress } from "./types.js";
