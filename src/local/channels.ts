import path from "node:path";
import { mlPaths } from "../contract/index.js";
import type { Logger } from "../log/index.js";
import { downloadToFile, openStore, parseStorageUri, safeRelativeKey } from "../storage/index.js";
import type { S3Client } from "@aws-sdk/client-s3";
import type { TrainingRequest } from "./training-request.js";

/**
 * File mode: every object under each channel's S3Prefix copied into input/data/<channel>/ (keys
 * relative to the prefix; keys that would leave the directory are refused) before the algorithm
 * starts. Resolves with the bytes copied.
 */
export async function downloadChannels(mlRoot: string, request: TrainingRequest, client: S3Client, log: Logger): Promise<number> {
  let bytes = 0;
  for (const channel of request.channels) {
    const location = parseStorageUri(channel.s3Uri, `InputDataConfig ${channel.name} S3Uri`);
    const store = openStore(location, { client, log });
    const dir = path.join(mlPaths(mlRoot).dataDir, channel.name);
    const objects = await store.list(location.prefix);
    if (objects.length === 0) throw new Error(`ClientError: no objects under ${channel.s3Uri} (channel ${channel.name})`);
    for (const object of objects) {
      // A prefix matches as a string, as S3 does: "s3://b/data" also lists "data-2/x". Those keep their path.
      const rel = object.key.startsWith(`${location.prefix}/`) || location.prefix === "" ? safeRelativeKey(location.prefix, object.key) : safeRelativeKey("", object.key);
      bytes += (await downloadToFile(store, object.key, path.join(dir, ...rel.split("/")), { expectedBytes: object.size })).bytes;
    }
  }
  return bytes;
}
