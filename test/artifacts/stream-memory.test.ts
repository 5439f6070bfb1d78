/**
 * The archive streamed straight from the files into a multipart upload (the embedded S3 on
 * loopback) is pulled by the upload: memory does not grow with the checkpoint's size.
 */
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { afterAll, expect, it } from "vitest";
import { streamArchive } from "../../src/artifacts/index.js";
import { createLogger } from "../../src/log/index.js";
import { openStore, parseStorageUri } from "../../src/storage/index.js";
import { generatedStream, useS3 } from "../helpers/s3.js";
import { commit, removeTempDirs, selectPackable, tempDir } from "./helpers.js";

const BUCKET = "straight-memory";
const MiB = 1024 * 1024;
const s3 = useS3([BUCKET]);
afterAll(removeTempDirs);

async function checkpointOf(bytes: number, seed: number): Promise<string> {
  const ck = await tempDir();
  const step = path.join(ck, "step-1");
  await mkdir(step, { recursive: true });
  await pipeline(generatedStream(bytes, { seed }), createWriteStream(path.join(step, "model.bin")));
  await commit(step, 10);
  return ck;
}

it("stored gzip of 256 MiB straight into a multipart upload: rss grows no more than for 64 MiB plus a fraction of the difference, and the object is the archive", async () => {
  const log = await createLogger({ level: "silent" });
  const store = openStore(parseStorageUri(`s3://${BUCKET}`, "test"), { client: s3().storageClient(), log });
  const [small, big] = [await checkpointOf(64 * MiB, 3), await checkpointOf(256 * MiB, 5)];

  const upload = async (ck: string, key: string): Promise<{ growthMB: number; sha256: string; bytes: number }> => {
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
    try {
      const result = await streamArchive(await selectPackable(ck), {
        jobName: "j",
        reason: "Stopped",
        compression: "stored",
        deliver: async (stream, info) => {
          await store.putStream(key, stream, { ...(info.expectedBytes === undefined ? {} : { expectedBytes: info.expectedBytes }), partSize: 8 * MiB, queueSize: 4 });
        },
      });
      return { growthMB: (Math.max(peak, process.memoryUsage().rss) - baseline) / 1e6, sha256: result.sha256, bytes: result.bytes };
    } finally {
      clearInterval(sampler);
    }
  };
  // Warm up (code, sockets, the server's first writes) so the baseline is the steady state.
  await upload(small, "warmup/model.tar.gz");
  const first = await upload(small, "small/model.tar.gz");
  const second = await upload(big, "big/model.tar.gz");
  console.log(`straight upload memory: 64 MiB rss growth ${first.growthMB.toFixed(0)} MB, 256 MiB ${second.growthMB.toFixed(0)} MB`);
  // Bounded: four times the bytes do not hold even half of the extra 192 MiB.
  expect(second.growthMB).toBeLessThan(first.growthMB + (192 * MiB) / 2 / 1e6);
  const object = await s3().getBytes(BUCKET, "big/model.tar.gz");
  expect(object.length).toBe(second.bytes);
  expect(createHash("sha256").update(object).digest("hex")).toBe(second.sha256);
});
