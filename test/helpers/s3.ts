import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll } from "vitest";
import { startEmbeddedS3, EMBEDDED_S3_CREDENTIALS, type EmbeddedS3 } from "../../src/local/index.js";
import { createS3Client, type S3ClientOptions } from "../../src/storage/index.js";

/** An embedded s3rver plus the client calls tests use to look at what landed. */
export interface S3Fixture {
  readonly server: EmbeddedS3;
  readonly endpoint: string;
  /** A plain client straight to the server (not through any proxy), independent of the code under test. */
  readonly client: S3Client;
  /** A trainguard client (createS3Client) for `endpoint`, or another one such as a proxy's. */
  storageClient(overrides?: Partial<Omit<S3ClientOptions, "env">> & { endpoint?: string }): S3Client;
  createBucket(name: string): Promise<void>;
  list(bucket: string, prefix?: string): Promise<Array<{ key: string; size: number }>>;
  /** Size, or undefined on 404. */
  headSize(bucket: string, key: string): Promise<number | undefined>;
  getBytes(bucket: string, key: string): Promise<Buffer>;
  close(): Promise<void>;
}

export async function startS3(buckets: readonly string[] = []): Promise<S3Fixture> {
  const server = await startEmbeddedS3({ buckets });
  const client = new S3Client({
    endpoint: server.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: EMBEDDED_S3_CREDENTIALS,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  const clients: S3Client[] = [client];
  return {
    server,
    endpoint: server.endpoint,
    client,
    storageClient(overrides = {}) {
      const made = createS3Client({ credentials: EMBEDDED_S3_CREDENTIALS, ...overrides, endpoint: overrides.endpoint ?? server.endpoint, env: {} });
      clients.push(made);
      return made;
    },
    async createBucket(name) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    async list(bucket, prefix) {
      const out: Array<{ key: string; size: number }> = [];
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
        for (const o of page.Contents ?? []) out.push({ key: o.Key ?? "", size: o.Size ?? 0 });
        token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
      } while (token !== undefined);
      return out;
    },
    async headSize(bucket, key) {
      try {
        return (await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).ContentLength;
      } catch (err) {
        if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return undefined;
        throw err;
      }
    },
    async getBytes(bucket, key) {
      const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const chunks: Buffer[] = [];
      for await (const chunk of response.Body as Readable) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    },
    async close() {
      for (const c of clients) c.destroy();
      await server.close();
    },
  };
}

/** One server for the whole test file: started before the first test, closed after the last. */
export function useS3(buckets: readonly string[] = []): () => S3Fixture {
  let fixture: S3Fixture | undefined;
  beforeAll(async () => {
    fixture = await startS3(buckets);
  });
  afterAll(async () => {
    await fixture?.close();
  });
  return () => {
    if (fixture === undefined) throw new Error("useS3(): the server is not started yet (use it inside a test or hook)");
    return fixture;
  };
}

export function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * A readable of `total` pseudo-random bytes made on the fly, so a 256 MiB upload does not need
 * 256 MiB of memory to produce (and costs little CPU: a copy per chunk). Chunks are windows of a
 * 1 MiB xorshift block at shifting offsets, each stamped with its index so no two are equal.
 * Same seed, same bytes.
 */
export function generatedStream(total: number, opts: { seed?: number; chunkSize?: number } = {}): Readable {
  const chunkSize = opts.chunkSize ?? 64 * 1024;
  const block = Buffer.allocUnsafe(1024 * 1024 + chunkSize);
  let state = (opts.seed ?? 0x9e3779b9) >>> 0 || 1;
  for (let i = 0; i + 4 <= block.length; i += 4) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    block.writeUInt32LE(state >>> 0, i);
  }
  let sent = 0;
  let index = 0;
  return new Readable({
    highWaterMark: chunkSize,
    read() {
      if (sent >= total) {
        this.push(null);
        return;
      }
      const n = Math.min(chunkSize, total - sent);
      const offset = (index * 4099) % (1024 * 1024);
      const chunk = Buffer.from(block.subarray(offset, offset + n));
      if (n >= 4) chunk.writeUInt32LE(index >>> 0, 0);
      index++;
      sent += n;
      this.push(chunk);
    },
  });
}

/** The bytes generatedStream(total, { seed }) produces, for comparing small cases. */
export async function generatedBytes(total: number, seed?: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of generatedStream(total, seed === undefined ? {} : { seed })) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
