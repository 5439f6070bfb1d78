import { Readable, Transform, pipeline } from "node:stream";
import { DeleteObjectsCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import type { Logger } from "../log/index.js";
import { ObjectNotFoundError } from "./errors.js";
import { uploadStreamToS3 } from "./s3-upload.js";
import type { ObjectEntry, ObjectStore, PutResult, PutStreamOptions } from "./types.js";

/** DeleteObjects takes at most this many keys per request. */
const DELETE_BATCH = 1_000;
/** Retries of a part on top of the SDK's own when there is no deadline to bound them. */
const PART_ATTEMPTS_WITHOUT_DEADLINE = 5;

export class S3ObjectStore implements ObjectStore {
  readonly kind = "s3";

  constructor(
    private readonly client: S3Client,
    readonly bucket: string,
    private readonly log: Logger,
  ) {}

  uri(key: string): string {
    return `s3://${this.bucket}/${key}`;
  }

  putStream(key: string, source: Readable, opts?: PutStreamOptions): Promise<PutResult> {
    const target = { client: this.client, bucket: this.bucket, key, log: this.log, maxAttempts: PART_ATTEMPTS_WITHOUT_DEADLINE };
    return uploadStreamToS3(target, source, opts);
  }

  putBytes(key: string, data: Uint8Array | string, opts: Pick<PutStreamOptions, "deadline" | "signal"> = {}): Promise<PutResult> {
    const buffer = typeof data === "string" ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    return this.putStream(key, Readable.from([buffer]), { ...opts, expectedBytes: buffer.length });
  }

  async getStream(key: string, opts: { signal?: AbortSignal } = {}): Promise<Readable> {
    let response;
    try {
      response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal: opts.signal });
    } catch (err) {
      if (isNotFound(err)) throw new ObjectNotFoundError(this.uri(key));
      throw err;
    }
    const body = response.Body;
    if (!(body instanceof Readable)) throw new Error(`GetObject for ${this.uri(key)} returned no Node stream body`);
    return checkLength(body, response.ContentLength, this.uri(key));
  }

  async head(key: string): Promise<number | undefined> {
    try {
      const response = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return response.ContentLength ?? 0;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async list(prefix: string): Promise<ObjectEntry[]> {
    const entries: ObjectEntry[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix === "" ? undefined : prefix, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key !== undefined) entries.push({ key: object.Key, size: object.Size ?? 0 });
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      const batch = keys.slice(i, i + DELETE_BATCH);
      const result = await this.client.send(
        new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }),
      );
      const errors = (result.Errors ?? []).filter((e) => e.Code !== "NoSuchKey");
      if (errors.length > 0) {
        const first = errors[0];
        this.log.warn({ event: "storage.delete.failed", bucket: this.bucket, failed: errors.length, error: `${first?.Code}: ${first?.Message}` }, "some objects were not deleted");
        throw new Error(`could not delete ${errors.length} object(s) in s3://${this.bucket}, first ${first?.Key}: ${first?.Code} ${first?.Message}`);
      }
    }
  }
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === "NoSuchKey" || e.name === "NotFound" || e.$metadata?.httpStatusCode === 404;
}

/**
 * A response body cut short by a dropped connection can look like a normal end on some paths;
 * comparing with Content-Length makes it an error for every reader.
 */
function checkLength(body: Readable, expected: number | undefined, uri: string): Readable {
  if (expected === undefined) return body;
  let seen = 0;
  const checker = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      callback(null, chunk);
    },
    flush(callback) {
      callback(seen === expected ? null : new Error(`download of ${uri} ended after ${seen} of ${expected} bytes`));
    },
  });
  pipeline(body, checker, (err) => {
    // pipeline has already destroyed `checker` with the error: readers see it there.
    if (err !== undefined && err !== null) checker.destroy(err);
  });
  return checker;
}

