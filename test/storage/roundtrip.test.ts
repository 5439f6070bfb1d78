import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ObjectNotFoundError, downloadToFile, openStore, parseStorageUri, type ObjectStore } from "../../src/storage/index.js";
import { sha256, useS3 } from "../helpers/s3.js";
import { memoryLogger } from "./memory-log.js";

const BUCKET = "roundtrip";
const s3 = useS3([BUCKET]);
const MiB = 1024 * 1024;
// Random, so a misplaced or repeated part cannot go unnoticed.
const data = randomBytes(20 * MiB + 12_345);

/** The data in 64 KiB chunks, as a tar/gzip pipeline would deliver it. */
function chunked(buffer: Buffer, size = 64 * 1024): Readable {
  const chunks: Buffer[] = [];
  for (let i = 0; i < buffer.length; i += size) chunks.push(buffer.subarray(i, i + size));
  return Readable.from(chunks);
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

let logLines: string[] = [];
let s3Store: ObjectStore;
let fileStore: ObjectStore;
let fileRoot: string;

beforeAll(async () => {
  const { log, lines } = await memoryLogger();
  logLines = lines;
  s3Store = openStore(parseStorageUri(`s3://${BUCKET}/base`, "test"), { client: s3().storageClient(), log });
  fileRoot = await mkdtemp(path.join(tmpdir(), "tg-store-"));
  fileStore = openStore(parseStorageUri(`file://${fileRoot}`, "test"), { log });
});
afterAll(() => rm(fileRoot, { recursive: true, force: true }));

describe("S3 putStream", () => {
  it("uploads ~20 MiB in parts; an independent client reads back identical bytes", async () => {
    const parts: number[] = [];
    const result = await s3Store.putStream("base/job/model.tar.gz", chunked(data), {
      expectedBytes: data.length,
      onProgress: (p) => parts.push(p.bytesStored),
    });
    expect(result).toEqual({ key: "base/job/model.tar.gz", bytes: data.length, uri: `s3://${BUCKET}/base/job/model.tar.gz` });
    expect(parts.length).toBe(3); // 8 + 8 + 4 MiB
    const back = await s3().getBytes(BUCKET, "base/job/model.tar.gz");
    expect(back.length).toBe(data.length);
    expect(sha256(back)).toBe(sha256(data));
  });

  it("uploads a stream of unknown length in parts", async () => {
    const result = await s3Store.putStream("base/unknown.bin", chunked(data));
    expect(result.bytes).toBe(data.length);
    expect(sha256(await s3().getBytes(BUCKET, "base/unknown.bin"))).toBe(sha256(data));
  });

  it("sends a stream smaller than a part as one PutObject with exact bytes (no aws-chunked framing)", async () => {
    const small = data.subarray(0, 100_000);
    await s3Store.putStream("base/small.bin", chunked(small, 7_000), { expectedBytes: small.length });
    expect(await s3().headSize(BUCKET, "base/small.bin")).toBe(100_000);
    expect(sha256(await s3().getBytes(BUCKET, "base/small.bin"))).toBe(sha256(small));
  });

  it("stores an empty stream as an empty object", async () => {
    await s3Store.putStream("base/empty", Readable.from([]), { expectedBytes: 0 });
    expect(await s3().headSize(BUCKET, "base/empty")).toBe(0);
  });

  it("reads back through getStream, head, list, downloadToFile, then deletes", async () => {
    await s3Store.putBytes("base/list/a", "alpha");
    await s3Store.putBytes("base/list/b/c", new Uint8Array([1, 2, 3]));
    expect(await s3Store.head("base/list/a")).toBe(5);
    expect(await s3Store.head("base/list/missing")).toBeUndefined();
    expect(await s3Store.list("base/list/")).toEqual([
      { key: "base/list/a", size: 5 },
      { key: "base/list/b/c", size: 3 },
    ]);
    expect((await readAll(await s3Store.getStream("base/list/a"))).toString()).toBe("alpha");
    await expect(s3Store.getStream("base/list/missing")).rejects.toBeInstanceOf(ObjectNotFoundError);

    const dir = await mkdtemp(path.join(tmpdir(), "tg-dl-"));
    try {
      const target = path.join(dir, "sub", "model.tar.gz");
      expect(await downloadToFile(s3Store, "base/job/model.tar.gz", target, { expectedBytes: data.length })).toEqual({ bytes: data.length });
      expect(sha256(await readFile(target))).toBe(sha256(data));
      await expect(downloadToFile(s3Store, "base/list/a", path.join(dir, "wrong"), { expectedBytes: 4 })).rejects.toThrow(/gave 5 bytes, expected 4/);
      // Neither the refused download nor its temporary file is left behind.
      expect((await readdir(dir)).sort()).toEqual(["sub"]);
      expect(await readdir(path.join(dir, "sub"))).toEqual(["model.tar.gz"]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }

    await s3Store.deleteMany(["base/list/a", "base/list/b/c", "base/list/never-existed"]);
    expect(await s3().list(BUCKET, "base/list/")).toEqual([]);
  });

  it("logs neither the secret key nor signatures", () => {
    const all = logLines.join("");
    expect(all).toContain("storage.upload.done");
    expect(all).not.toMatch(/S3RVER|Signature|Authorization|X-Amz-Credential/i);
  });
});

describe("file:// putStream", () => {
  it("writes ~20 MiB atomically; the file holds identical bytes", async () => {
    const result = await fileStore.putStream("job/output/model.tar.gz", chunked(data), { expectedBytes: data.length });
    expect(result).toEqual({ key: "job/output/model.tar.gz", bytes: data.length, uri: `file://${fileRoot}/job/output/model.tar.gz` });
    const back = await readFile(path.join(fileRoot, "job", "output", "model.tar.gz"));
    expect(sha256(back)).toBe(sha256(data));
    expect(await readdir(path.join(fileRoot, "job", "output"))).toEqual(["model.tar.gz"]);
  });

  it("reads back through getStream, head, list, downloadToFile, then deletes", async () => {
    await fileStore.putBytes("list/a", "alpha");
    await fileStore.putBytes("list/b/c", new Uint8Array([1, 2, 3]));
    await fileStore.putBytes("listing-not-a-dir", "x");
    expect(await fileStore.head("list/a")).toBe(5);
    expect(await fileStore.head("list")).toBeUndefined();
    expect(await fileStore.list("list/")).toEqual([
      { key: "list/a", size: 5 },
      { key: "list/b/c", size: 3 },
    ]);
    expect((await fileStore.list("list")).map((e) => e.key)).toEqual(["list/a", "list/b/c", "listing-not-a-dir"]);
    expect((await readAll(await fileStore.getStream("list/a"))).toString()).toBe("alpha");
    await expect(fileStore.getStream("list/missing")).rejects.toBeInstanceOf(ObjectNotFoundError);
    const target = path.join(fileRoot, "downloaded", "copy");
    expect(await downloadToFile(fileStore, "job/output/model.tar.gz", target)).toEqual({ bytes: data.length });
    expect(sha256(await readFile(target))).toBe(sha256(data));
    await fileStore.deleteMany(["list/a", "list/b/c", "list/never-existed"]);
    expect(await fileStore.list("list/")).toEqual([]);
  });

  it("refuses keys that would leave the root", async () => {
    await expect(fileStore.putBytes("../escape", "x")).rejects.toThrow(/"\.\." segment/);
    await expect(fileStore.head("/etc/passwd")).rejects.toThrow(/must not start with \//);
  });
});
