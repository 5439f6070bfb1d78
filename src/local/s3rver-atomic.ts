import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { writeAtomically } from "../contract/index.js";

/** The parts of s3rver 3.7's FilesystemStore that makePutObjectAtomic touches. */
export interface S3rverStore {
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
  putMetadata(bucket: string, key: string, metadata: Record<string, unknown>, md5?: string): Promise<void>;
  putObject(object: { bucket: string; key: string; content: Readable | Buffer; metadata: Record<string, unknown> }): Promise<{ size: number; md5: string }>;
}

/**
 * s3rver writes an object in place while its body arrives, for PutObject and for
 * CompleteMultipartUpload alike: a request cut off midway leaves a short object that lists and
 * downloads like a real one (seen in tests: an aborted PutObject left a 0-byte object). Real S3
 * publishes an object only once complete, and trainguard's whole promise rests on that, so the
 * embedded server writes to a temporary name (which s3rver's listing ignores) and renames.
 */
export function makePutObjectAtomic(store: S3rverStore): void {
  store.putObject = async (object) => {
    const objectPath = store.getResourcePath(object.bucket, object.key, "object");
    await mkdir(path.dirname(objectPath), { recursive: true });
    return writeAtomically(objectPath, async (tmp) => {
      const hash = createHash("md5");
      let size = 0;
      if (Buffer.isBuffer(object.content)) {
        hash.update(object.content);
        size = object.content.length;
        await writeFile(tmp, object.content);
      } else {
        const counter = new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            hash.update(chunk);
            size += chunk.length;
            callback(null, chunk);
          },
        });
        // pipeline rejects when the request is aborted, where s3rver's .pipe() chain hung forever.
        await pipeline(object.content, counter, createWriteStream(tmp));
      }
      const md5 = hash.digest("hex");
      await store.putMetadata(object.bucket, object.key, object.metadata, md5);
      return { size, md5 };
    });
  };
}
