import { mkdtemp, rm, stat } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { createHash, randomBytes } from "node:crypto";
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { afterAll, describe, expect, it } from "vitest";
import { EMBEDDED_S3_CREDENTIALS, startEmbeddedS3 } from "../../src/local/index.js";
import { createS3Client } from "../../src/storage/index.js";

const clients: S3Client[] = [];
afterAll(() => clients.forEach((c) => c.destroy()));

function clientFor(endpoint: string): S3Client {
  // What a user of `trainguard local` does: the standard variables, nothing else.
  const client = createS3Client({
    env: { AWS_ENDPOINT_URL_S3: endpoint, AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER", AWS_REGION: "eu-west-1" },
  });
  clients.push(client);
  return client;
}

describe("startEmbeddedS3", () => {
  it("serves the listed buckets on loopback and removes its temporary directory on close", async () => {
    const server = await startEmbeddedS3({ buckets: ["alpha", "beta"] });
    expect(server.endpoint).toBe(`http://127.0.0.1:${server.port}`);
    const client = clientFor(server.endpoint);
    const buckets = await client.send(new ListBucketsCommand({}));
    expect(buckets.Buckets?.map((b) => b.Name).sort()).toEqual(["alpha", "beta"]);
    await client.send(new CreateBucketCommand({ Bucket: "gamma" }));
    await client.send(new HeadBucketCommand({ Bucket: "gamma" }));
    await client.send(new PutObjectCommand({ Bucket: "alpha", Key: "a/b", Body: Buffer.from("x") }));
    expect(EMBEDDED_S3_CREDENTIALS).toEqual({ accessKeyId: "S3RVER", secretAccessKey: "S3RVER" });
    await server.close();
    await expect(stat(server.dir)).rejects.toMatchObject({ code: "ENOENT" });
    await expect(client.send(new ListBucketsCommand({}))).rejects.toThrow();
  });

  it("keeps a given directory, and its objects, across restarts", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "tg-embedded-"));
    try {
      const first = await startEmbeddedS3({ dir, buckets: ["keep"] });
      await clientFor(first.endpoint).send(new PutObjectCommand({ Bucket: "keep", Key: "k", Body: Buffer.from("kept") }));
      await first.close();
      const second = await startEmbeddedS3({ dir });
      const listed = await clientFor(second.endpoint).send(new ListBucketsCommand({}));
      expect(listed.Buckets?.map((b) => b.Name)).toEqual(["keep"]);
      await second.close();
      expect((await stat(dir)).isDirectory()).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("closes even with a client connection left hanging mid-request", async () => {
    const server = await startEmbeddedS3({ buckets: ["hang"] });
    const socket = connect(server.port, "127.0.0.1");
    await new Promise((resolve) => socket.once("connect", resolve));
    // Headers promising a body that never comes.
    socket.write("PUT /hang/k HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\nabc");
    const started = Date.now();
    await server.close();
    expect(Date.now() - started).toBeLessThan(5_000);
    socket.destroy();
  });

  it("refuses invalid bucket names", async () => {
    await expect(startEmbeddedS3({ buckets: ["Bad_Name"] })).rejects.toThrow(/lowercase letters/);
  });
});

describe("the embedded server behaves as S3 where s3rver does not", () => {
  it("lists more than 1,000 keys page by page (continuation tokens work without OpenSSL's legacy provider)", async () => {
    const server = await startEmbeddedS3({ buckets: ["many"] });
    try {
      const client = clientFor(server.endpoint);
      const keys = Array.from({ length: 1_150 }, (_, i) => `k/${String(i).padStart(5, "0")}`);
      for (let i = 0; i < keys.length; i += 50) {
        await Promise.all(keys.slice(i, i + 50).map((Key) => client.send(new PutObjectCommand({ Bucket: "many", Key, Body: Buffer.from(Key) }))));
      }
      const listed: string[] = [];
      let token: string | undefined;
      let pages = 0;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: "many", Prefix: "k/", ContinuationToken: token }));
        listed.push(...(page.Contents ?? []).map((o) => o.Key ?? ""));
        token = page.NextContinuationToken;
        pages++;
      } while (token !== undefined);
      expect(pages).toBe(2);
      expect(listed).toEqual(keys);
    } finally {
      await server.close();
    }
  }, 60_000);

  it("completes a multipart upload with S3's ETag (MD5 of the part MD5s, -N), the bytes in part order", async () => {
    const server = await startEmbeddedS3({ buckets: ["multi"] });
    try {
      const client = clientFor(server.endpoint);
      const parts = [randomBytes(5 * 1024 * 1024), randomBytes(5 * 1024 * 1024), randomBytes(1234)];
      const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: "multi", Key: "obj" }));
      // Sent out of order: the object must still be part 1, 2, 3.
      const etags = new Map<number, string>();
      for (const n of [3, 1, 2]) {
        const sent = await client.send(new UploadPartCommand({ Bucket: "multi", Key: "obj", UploadId, PartNumber: n, Body: parts[n - 1] }));
        etags.set(n, sent.ETag ?? "");
      }
      const done = await client.send(
        new CompleteMultipartUploadCommand({ Bucket: "multi", Key: "obj", UploadId, MultipartUpload: { Parts: [1, 2, 3].map((n) => ({ PartNumber: n, ETag: etags.get(n) })) } }),
      );
      const md5 = (b: Buffer): Buffer => createHash("md5").update(b).digest();
      const expected = `${createHash("md5").update(Buffer.concat(parts.map(md5))).digest("hex")}-3`;
      expect(done.ETag).toBe(JSON.stringify(expected));
      const got = await client.send(new GetObjectCommand({ Bucket: "multi", Key: "obj" }));
      expect(got.ETag).toBe(JSON.stringify(expected));
      expect(Buffer.from(await (got.Body?.transformToByteArray() ?? new Uint8Array())).equals(Buffer.concat(parts))).toBe(true);

      // Completing it again: the upload is gone, and S3 says so (404 NoSuchUpload, not a 500).
      const again = await client
        .send(new CompleteMultipartUploadCommand({ Bucket: "multi", Key: "obj", UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: etags.get(1) }] } }))
        .then(
          () => undefined,
          (err: unknown) => err as Error & { $metadata?: { httpStatusCode?: number } },
        );
      expect(again?.name).toBe("NoSuchUpload");
      expect(again?.$metadata?.httpStatusCode).toBe(404);
    } finally {
      await server.close();
    }
  });
});
