import { CopyObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { CopyObject } from "./types.js";

/**
 * Server-side copy within one bucket, for CheckpointSync's `copyObject`: a file shared with an
 * earlier checkpoint costs one request and no upload. Objects up to 5 GiB (CopyObject's limit).
 */
export function s3CopyObject(client: S3Client, bucket: string): CopyObject {
  return async (fromKey, toKey, { signal }) => {
    await client.send(new CopyObjectCommand({ Bucket: bucket, Key: toKey, CopySource: `${bucket}/${encodeCopyKey(fromKey)}` }), { abortSignal: signal });
  };
}

/** x-amz-copy-source is URL-encoded, with "/" kept as the separator. */
function encodeCopyKey(key: string): string {
  return key.split("/").map(encodeURIComponent).join("/");
}
