import type { Readable } from "node:stream";

export interface UploadProgress {
  /** Bytes taken from the source so far. */
  readonly bytesRead: number;
  /** Bytes the store has acknowledged (parts completed, or bytes written for file://). */
  readonly bytesStored: number;
}

export interface PutStreamOptions {
  /**
   * The exact size the source must produce. When given, any other count is TRUNCATED and no object
   * appears; S3 part sizes also grow so that the upload fits in 10,000 parts.
   */
  readonly expectedBytes?: number;
  /**
   * Epoch ms by which putStream must have settled. It gives up a little before (a reserve of up to
   * 1 s, a tenth of the time it was given) to cancel requests and abort the upload, and rejects
   * with DEADLINE no later than the deadline itself.
   */
  readonly deadline?: number;
  /** Cancels the upload: ABORTED. */
  readonly signal?: AbortSignal;
  /** S3 part size in bytes (at least 5 MiB). Default 8 MiB. */
  readonly partSize?: number;
  /** S3 parts in flight at once. Default 4. Memory is about queueSize x partSize. */
  readonly queueSize?: number;
  readonly onProgress?: (progress: UploadProgress) => void;
}

/**
 * A stream that can also read straight into the caller's buffer: a file being written, for one.
 * putStream fills its parts with `fill` instead of copying chunks (measured on the stop path: the
 * chunks' allocation, their copy into parts and the garbage collection they caused were about
 * 3 s of the main thread per GiB). A consumer uses either `fill` or the stream, never both.
 */
export interface FillableReadable extends Readable {
  /** Reads up to `length` bytes into `into` at `offset`, waiting for them; 0 once the source has ended. */
  fill(into: Uint8Array, offset: number, length: number): Promise<number>;
}

export interface PutResult {
  readonly key: string;
  readonly bytes: number;
  readonly uri: string;
}

export interface ObjectEntry {
  readonly key: string;
  readonly size: number;
}

/**
 * A bucket or a directory, with the same semantics whichever it is: an object is visible only
 * once it is complete, and a failed put leaves nothing under its key. Keys are "/"-separated and
 * relative to the store's root (see joinKey).
 */
export interface ObjectStore {
  readonly kind: "s3" | "file";
  /** The URI an object of this key has (s3://bucket/key, file:///dir/key). */
  uri(key: string): string;
  /**
   * Stream `source` into `key`. Rejects with UploadError (DEADLINE, ABORTED, TRUNCATED, S3, IO);
   * then the source has been destroyed and nothing is visible under `key`.
   */
  putStream(key: string, source: Readable, opts?: PutStreamOptions): Promise<PutResult>;
  putBytes(key: string, data: Uint8Array | string, opts?: Pick<PutStreamOptions, "deadline" | "signal">): Promise<PutResult>;
  /** The object's content; rejects with ObjectNotFoundError when there is none. The stream errors if it ends short. */
  getStream(key: string, opts?: { signal?: AbortSignal }): Promise<Readable>;
  /** Size in bytes, or undefined when there is no object. */
  head(key: string): Promise<number | undefined>;
  /** Every object whose key starts with `prefix` (plain string prefix, as S3 does), sorted by key. */
  list(prefix: string): Promise<ObjectEntry[]>;
  /** Deletes the keys; missing ones are not an error. */
  deleteMany(keys: readonly string[]): Promise<void>;
}
