import { createHash } from "node:crypto";
import { Transform, type Readable } from "node:stream";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { expect, it } from "vitest";
import { openStore, parseStorageUri } from "../../src/storage/index.js";
import { generatedStream, useS3 } from "../helpers/s3.js";
import { memoryLogger } from "./memory-log.js";

const BUCKET = "memory";
const MiB = 1024 * 1024;
const TOTAL = 256 * MiB;
/** The same upload at a quarter of the size: memory that grew with the bytes would show as the difference. */
const SMALL = TOTAL / 4;
const s3 = useS3([BUCKET]);

/** Hash what passes through, without holding it. */
function hashing(hash: ReturnType<typeof createHash>): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback(null, chunk);
    },
  });
}

it("uploads 256 MiB with 8 MiB parts, 4 in flight, in bounded memory, and the object is intact", async () => {
  const { log, lines } = await memoryLogger();
  const store = openStore(parseStorageUri(`s3://${BUCKET}`, "test"), { client: s3().storageClient(), log });
  // Warm up (code, sockets, the server's first writes) so the baseline is the steady state.
  await store.putStream("warmup", generatedStream(12 * MiB, { seed: 7 }), { partSize: 5 * MiB });

  /** Peak rss growth (MB) over the rss before the upload, sampled every 10 ms. */
  const measured = async (upload: () => Promise<{ bytes: number }>): Promise<{ bytes: number; growthMB: number; seconds: number }> => {
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
    const started = performance.now();
    const { bytes } = await upload().finally(() => clearInterval(sampler));
    const seconds = (performance.now() - started) / 1000;
    peak = Math.max(peak, process.memoryUsage().rss);
    return { bytes, growthMB: (peak - baseline) / 1e6, seconds };
  };
  const small = await measured(() => store.putStream("small/model.tar.gz", generatedStream(SMALL, { seed: 3 }), { expectedBytes: SMALL, partSize: 8 * MiB, queueSize: 4 }));
  expect(small.bytes).toBe(SMALL);

  const sourceHash = createHash("sha256");
  const source = generatedStream(TOTAL).pipe(hashing(sourceHash));
  const result = await measured(() => store.putStream("big/model.tar.gz", source, { expectedBytes: TOTAL, partSize: 8 * MiB, queueSize: 4 }));
  // The real figures belong to bench/; this line is for whoever reads the test output.
  console.log(
    `storage memory test: 256 MiB to in-process s3rver in ${result.seconds.toFixed(1)} s (${(TOTAL / 1e6 / result.seconds).toFixed(1)} MB/s incl. s3rver's own work), rss growth ${result.growthMB.toFixed(0)} MB (64 MiB: ${small.growthMB.toFixed(0)} MB)`,
  );
  expect(result.bytes).toBe(TOTAL);
  // Bounded: four times the bytes do not hold even half of the extra 192 MiB more than the small upload did.
  expect(result.growthMB).toBeLessThan(small.growthMB + (TOTAL - SMALL) / 2 / 1e6);
  expect(lines.some((l) => l.includes('"event":"storage.upload.done"') && l.includes('"parts":32'))).toBe(true);

  const response = await s3().client.send(new GetObjectCommand({ Bucket: BUCKET, Key: "big/model.tar.gz" }));
  const backHash = createHash("sha256");
  let backBytes = 0;
  for await (const chunk of response.Body as Readable) {
    backHash.update(chunk as Buffer);
    backBytes += (chunk as Buffer).length;
  }
  expect(backBytes).toBe(TOTAL);
  expect(backHash.digest("hex")).toBe(sourceHash.digest("hex"));
});
