import type { S3Client } from "@aws-sdk/client-s3";
import type { Logger } from "../log/index.js";
import { createS3Client } from "./client.js";
import { FileObjectStore } from "./file-store.js";
import type { StorageLocation } from "./location.js";
import { S3ObjectStore } from "./s3-store.js";
import type { ObjectStore } from "./types.js";

export interface OpenStoreOptions {
  /** For s3:// locations; a client from createS3Client({ env: process.env }) when omitted. */
  readonly client?: S3Client;
  readonly log: Logger;
}

/** The store for a parsed location: its bucket (keys include the prefix) or its directory. */
export function openStore(location: StorageLocation, opts: OpenStoreOptions): ObjectStore {
  const log = opts.log.child({ store: location.uri });
  if (location.kind === "file") return new FileObjectStore(location.dir, log);
  return new S3ObjectStore(opts.client ?? createS3Client({ env: process.env }), location.bucket, log);
}
