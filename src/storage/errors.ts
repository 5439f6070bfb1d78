import { CodedError } from "../contract/index.js";

/**
 * Why an upload did not produce an object. Whatever the code, nothing is visible under the key:
 * a multipart upload is aborted (or left unfinished where the server cannot abort), a local
 * temporary file is removed.
 *
 * - DEADLINE: the deadline came first; every request in flight was cancelled.
 * - ABORTED: the caller's AbortSignal fired.
 * - TRUNCATED: the source failed, ended early or produced a different byte count than promised.
 * - S3: the server refused the upload (a non-transient error, or retries exhausted with no deadline).
 * - IO: the local filesystem refused the write (file:// stores).
 */
export type UploadErrorCode = "DEADLINE" | "ABORTED" | "TRUNCATED" | "S3" | "IO";

export class UploadError extends CodedError<UploadErrorCode> {
  override readonly name = "UploadError";
  constructor(
    code: UploadErrorCode,
    message: string,
    /** The URI the object would have had. */
    readonly uri: string,
    /** Bytes taken from the source before the upload stopped. */
    readonly bytesRead: number,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

/** getStream/downloadToFile on a key with no object: the same error whatever the store. */
export class ObjectNotFoundError extends Error {
  override readonly name = "ObjectNotFoundError";
  constructor(readonly uri: string) {
    super(`no object at ${uri}`);
  }
}
