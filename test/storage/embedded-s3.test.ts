import { mkdtemp, rm, stat } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { CreateBucketCommand, HeadBucketCommand, ListBucketsCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
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
