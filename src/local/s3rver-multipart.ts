import { createHash } from "node:crypto";
import { mkdir, open, readFile, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { writeAtomically } from "../contract/index.js";
import type { S3rverStore } from "./s3rver-atomic.js";

/** The multipart half of s3rver 3.7's FilesystemStore that completeMultipartLikeS3 replaces. */
export interface S3rverMultipartStore extends S3rverStore {
  putObjectMultipart(bucket: string, uploadId: string, parts: ReadonlyArray<{ number: number; etag: string }>): Promise<{ size: number; md5: string }>;
}

type S3ErrorConstructor = new (code: string, message: string, detail?: Record<string, string>) => Error;

/** s3rver's error class, which its router turns into an S3 error response. Loaded with s3rver, on demand. */
function s3Error(code: string, message: string, detail: Record<string, string>): Error {
  const S3Error = createRequire(import.meta.url)("s3rver/lib/models/error") as S3ErrorConstructor;
  return new S3Error(code, message, detail);
}

/** Bytes moved per read/write while the parts are joined. */
const COPY_CHUNK = 4 * 1024 * 1024;

/**
 * s3rver completes a multipart upload by streaming every part through an MD5 into the object, and
 * answers a Complete for an upload that no longer exists (the retry of a Complete that did land)
 * with an InternalError 500. S3 itself answers NoSuchUpload and makes the ETag from the parts'
 * ETags (MD5 of their concatenated MD5s, "-" and the part count) without reading the data again.
 * The embedded server does the same: the parts are joined with plain reads and writes under a
 * temporary name, renamed into place once whole (as every object here). Measured for 512 MiB on
 * this machine: 2.4 to 3.2 s against s3rver's 2.5 to 2.7 s. Writing the object a second time is
 * the cost, not the MD5, so this is about S3's answers, not speed.
 */
export function completeMultipartLikeS3(store: S3rverMultipartStore): void {
  store.putObjectMultipart = async (bucket, uploadId, parts) => {
    const uploadDir = path.join(store.getResourcePath(bucket, undefined, "uploads"), uploadId);
    let key: string;
    let metadata: Record<string, unknown>;
    try {
      const [keyText, metadataText] = await Promise.all([readFile(path.join(uploadDir, "key"), "utf8"), readFile(path.join(uploadDir, "metadata"), "utf8")]);
      key = keyText;
      metadata = JSON.parse(metadataText) as Record<string, unknown>;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      throw s3Error(
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
        { UploadId: uploadId },
      );
    }
    const ordered = [...parts].sort((a, b) => a.number - b.number);
    const objectPath = store.getResourcePath(bucket, key, "object");
    await mkdir(path.dirname(objectPath), { recursive: true });
    const etag = multipartEtag(ordered.map((p) => p.etag));
    const size = await writeAtomically(objectPath, async (tmp) => {
      const joined = await joinParts(uploadDir, ordered, tmp);
      await store.putMetadata(bucket, key, metadata, etag);
      return joined;
    });
    await rm(uploadDir, { recursive: true, force: true });
    return { size, md5: etag };
  };
}

/** S3's ETag of a multipart object: hex MD5 of the parts' binary MD5s, then "-" and the count. */
export function multipartEtag(partEtags: readonly string[]): string {
  const hash = createHash("md5");
  for (const etag of partEtags) hash.update(Buffer.from(etag.replace(/"/g, ""), "hex"));
  return `${hash.digest("hex")}-${partEtags.length}`;
}

async function joinParts(uploadDir: string, parts: ReadonlyArray<{ number: number }>, target: string): Promise<number> {
  const out = await open(target, "wx");
  const buffer = Buffer.allocUnsafe(COPY_CHUNK);
  let size = 0;
  try {
    for (const part of parts) {
      const input = await open(path.join(uploadDir, String(part.number))).catch((err: NodeJS.ErrnoException) => {
        if (err.code === "ENOENT") throw s3Error("InvalidPart", `Part ${part.number} was not uploaded.`, { PartNumber: String(part.number) });
        throw err;
      });
      try {
        for (;;) {
          const { bytesRead } = await input.read(buffer, 0, COPY_CHUNK, null);
          if (bytesRead === 0) break;
          await out.write(buffer, 0, bytesRead);
          size += bytesRead;
        }
      } finally {
        await input.close();
      }
    }
  } finally {
    await out.close();
  }
  return size;
}
