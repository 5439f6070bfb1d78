// The files' SHA-256 on a thread of its own (FileDigests): the digests must be those of the exact
// bytes given, in order, whatever the chunking, and interleaved files must not mix.
import { describe, expect, it } from "vitest";
import { createHash, randomBytes } from "node:crypto";
import { FileDigests } from "../../src/artifacts/file-hasher.js";

const MiB = 1 << 20;
const sha256 = (data: Uint8Array): string => createHash("sha256").update(data).digest("hex");

/** Feeds `data` in chunks of the given sizes (cycled), waiting whenever the thread is behind. */
async function digestOf(digests: FileDigests, data: Buffer, chunkSizes: number[]): Promise<string> {
  const file = digests.file(data.length);
  for (let at = 0, i = 0; at < data.length; i++) {
    const n = chunkSizes[i % chunkSizes.length] as number;
    file.update(data.subarray(at, at + n));
    at += n;
    await digests.ready();
  }
  return file.digest();
}

describe("FileDigests", () => {
  it("threaded: digests equal one-pass SHA-256 for whole, split, oversized and tail chunks", async () => {
    const digests = new FileDigests(true);
    try {
      const cases = [
        { data: randomBytes(3 * MiB + 12345), chunks: [MiB] },
        { data: randomBytes(2 * MiB), chunks: [MiB / 2, 3 * MiB, 7] },
        { data: randomBytes(40 * MiB), chunks: [4 * MiB + 1] },
        // Below the threshold: hashed where it is read, the same digest.
        { data: randomBytes(4096), chunks: [100] },
        { data: Buffer.alloc(0), chunks: [1] },
      ];
      for (const { data, chunks } of cases) expect(await digestOf(digests, data, chunks)).toBe(sha256(data));
    } finally {
      await digests.close();
    }
  });

  it("threaded: files fed alternately keep their own digests", async () => {
    const digests = new FileDigests(true);
    try {
      const a = randomBytes(5 * MiB);
      const b = randomBytes(6 * MiB);
      const fa = digests.file(a.length);
      const fb = digests.file(b.length);
      for (let at = 0; at < b.length; at += MiB) {
        if (at < a.length) fa.update(a.subarray(at, at + MiB));
        fb.update(b.subarray(at, at + MiB));
        await digests.ready();
      }
      expect(await Promise.all([fa.digest(), fb.digest()])).toEqual([sha256(a), sha256(b)]);
    } finally {
      await digests.close();
    }
  });

  it("unthreaded: the same digests, computed in place", async () => {
    const digests = new FileDigests(false);
    const data = randomBytes(3 * MiB);
    expect(await digestOf(digests, data, [MiB])).toBe(sha256(data));
    await digests.close();
  });
});
