export { startEmbeddedS3, EMBEDDED_S3_CREDENTIALS, type EmbeddedS3, type EmbeddedS3Options } from "./embedded-s3.js";
export { startLocalPlatform, DEFAULT_BUCKET, DEFAULT_STOP_TIMEOUT_SECONDS, type LocalPlatform, type LocalPlatformOptions } from "./platform.js";
export { followJob, jobRecords, readJobRecord, hostTail } from "./log-read.js";
export { DEFAULT_LOG_MAX_BYTES } from "./host-log.js";
