import { readdir } from "node:fs/promises";
import type { S3Client } from "@aws-sdk/client-s3";
import { mlPaths } from "../contract/index.js";
import type { Logger } from "../log/index.js";
import { joinKey, keyUri, openStore, parseStorageUri } from "../storage/index.js";
import { tarDirectory } from "./tar-dir.js";
import type { TrainingRequest } from "./training-request.js";

/**
 * SageMaker's part after the container exits: model/ tarred into
 * `<S3OutputPath>/<job>/output/model.tar.gz` (a plain tar under that name with CompressionType
 * NONE) and output/data/ into `output.tar.gz` when it holds anything. Resolves with the model's URI.
 */
export async function uploadOutputs(mlRoot: string, request: TrainingRequest, client: S3Client, log: Logger): Promise<string> {
  const paths = mlPaths(mlRoot);
  const location = parseStorageUri(request.outputPath, "OutputDataConfig.S3OutputPath");
  const store = openStore(location, { client, log });
  const gzip = request.compression === "GZIP";
  const modelKey = joinKey(location, request.name, "output", "model.tar.gz");
  await store.putStream(modelKey, tarDirectory(paths.modelDir, gzip));
  const data = await readdir(paths.outputDataDir).catch(() => []);
  if (data.length > 0) await store.putStream(joinKey(location, request.name, "output", "output.tar.gz"), tarDirectory(paths.outputDataDir, gzip));
  return keyUri(location, modelKey);
}
