import { createReadStream, createWriteStream } from "node:fs";
import { hashingPassThrough } from "../artifacts/index.js";
import { pipeline } from "node:stream/promises";
import type { S3Client } from "@aws-sdk/client-s3";
import { mlPaths } from "../contract/index.js";
import type { Logger } from "../log/index.js";
import { joinKey, keyUri, openStore, parseStorageUri } from "../storage/index.js";
import { mergeTrees, placedByTrainguard, type MergedEntry } from "./model-merge.js";
import { tarEntries } from "./tar-dir.js";
import type { TrainingRequest } from "./training-request.js";

export interface HostRoot {
  readonly host: string;
  readonly mlRoot: string;
}

export interface MergedOutputs {
  readonly model: MergedEntry[];
  readonly data: MergedEntry[];
}

/**
 * The hosts' model/ and output/data/ merged (throws MergeClash). Only the leader's (the first
 * host's) trainguard checkpoint is taken: the others' is left out, their algorithm's files are not.
 */
export async function mergeOutputs(hosts: readonly HostRoot[]): Promise<MergedOutputs> {
  const model = await mergeTrees(
    await Promise.all(hosts.map(async (h, i) => ({ host: h.host, dir: mlPaths(h.mlRoot).modelDir, ...(i === 0 ? {} : { exclude: await placedByTrainguard(mlPaths(h.mlRoot).modelDir) }) }))),
  );
  const data = await mergeTrees(hosts.map((h) => ({ host: h.host, dir: mlPaths(h.mlRoot).outputDataDir })));
  return { model, data };
}

export interface UploadedModel {
  readonly uri: string;
  readonly bytes: number;
  readonly sha256: string;
}

/**
 * SageMaker's part after the containers exit: the merged model/ tarred into
 * `<S3OutputPath>/<job>/output/model.tar.gz` (a plain tar under that name with CompressionType
 * NONE) and output/data/ into `output.tar.gz` when it holds anything. The model is written to
 * `localCopy` first, hashed there, then uploaded from it, so the console can show and verify it.
 */
export async function uploadOutputs(merged: MergedOutputs, request: TrainingRequest, client: S3Client, log: Logger, localCopy: string): Promise<UploadedModel> {
  const location = parseStorageUri(request.outputPath, "OutputDataConfig.S3OutputPath");
  const store = openStore(location, { client, log });
  const gzip = request.compression === "GZIP";
  const modelKey = joinKey(location, request.name, "output", "model.tar.gz");
  const digest = hashingPassThrough();
  await pipeline(tarEntries(merged.model, gzip), digest.stream, createWriteStream(localCopy));
  const { bytes, sha256 } = digest.result();
  await store.putStream(modelKey, createReadStream(localCopy), { expectedBytes: bytes });
  if (merged.data.length > 0) await store.putStream(joinKey(location, request.name, "output", "output.tar.gz"), tarEntries(merged.data, gzip));
  return { uri: keyUri(location, modelKey), bytes, sha256 };
}
