import type { Readable } from "node:stream";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from "@aws-sdk/client-s3";
import type { Logger } from "../log/index.js";
import { describeError } from "../contract/index.js";
import { UploadError } from "./errors.js";
import { UploadGuard } from "./guard.js";
import { DEFAULT_PART_SIZE, DEFAULT_QUEUE_SIZE, MAX_PARTS, MIN_PART_SIZE, PartReader, SourceSizeError, partSizeFor, type Part } from "./parts.js";
import { withRetries, type RetryContext } from "./retry.js";
import type { PutResult, PutStreamOptions } from "./types.js";

/** How far the server's LastModified may trail our clock and still count as "after we sent it". */
const COMPLETE_CLOCK_SLACK_MS = 2_000;

export interface S3UploadTarget {
  readonly client: S3Client;
  readonly bucket: string;
  readonly key: string;
  readonly log: Logger;
  /** Attempts per request when there is no deadline, on top of the SDK's own. */
  readonly maxAttempts: number;
}

/**
 * Upload a stream so that the object appears only complete. Multipart, driven by hand rather
 * than by lib-storage, because lib-storage completes a truncated object when its source ends
 * early and lets in-flight parts run on after abort(). Here the byte count is checked before
 * CompleteMultipartUpload, and a failure cancels every request in flight before aborting.
 */
export async function uploadStreamToS3(target: S3UploadTarget, source: Readable, opts: PutStreamOptions = {}): Promise<PutResult> {
  return new S3Upload(target, source, opts).run();
}

class S3Upload {
  private readonly uri: string;
  private readonly guard: UploadGuard;
  private readonly reader: PartReader;
  private readonly retry: RetryContext;
  private readonly basePartSize: number;
  private readonly queueSize: number;
  private readonly parts: CompletedPart[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  /** Buffers of stored parts, refilled by the next parts. */
  private readonly spare: Buffer[] = [];
  private uploadId: string | undefined;
  private partsStarted = 0;
  private bytesStored = 0;
  private readonly started = Date.now();

  constructor(
    private readonly target: S3UploadTarget,
    source: Readable,
    private readonly opts: PutStreamOptions,
  ) {
    this.uri = `s3://${target.bucket}/${target.key}`;
    this.basePartSize = opts.partSize ?? DEFAULT_PART_SIZE;
    this.queueSize = opts.queueSize ?? DEFAULT_QUEUE_SIZE;
    if (!Number.isInteger(this.basePartSize) || this.basePartSize < MIN_PART_SIZE) {
      throw new RangeError(`partSize must be an integer of at least ${MIN_PART_SIZE} bytes (S3's minimum), got ${this.basePartSize}`);
    }
    if (!Number.isInteger(this.queueSize) || this.queueSize < 1) throw new RangeError(`queueSize must be a positive integer, got ${this.queueSize}`);
    if (opts.expectedBytes !== undefined && (!Number.isSafeInteger(opts.expectedBytes) || opts.expectedBytes < 0)) {
      throw new RangeError(`expectedBytes must be a non-negative integer, got ${opts.expectedBytes}`);
    }
    this.reader = new PartReader(source, opts.expectedBytes);
    const bytesRead = () => this.reader.bytesRead;
    this.guard = new UploadGuard({
      uri: this.uri,
      deadline: opts.deadline,
      signal: opts.signal,
      bytesRead,
      progress: () => `${bytesRead()} bytes read, ${this.bytesStored} stored in ${this.parts.length} of ${this.partsStarted} parts`,
    });
    this.retry = { guard: this.guard, log: target.log, uri: this.uri, bytesRead, maxAttempts: target.maxAttempts };
  }

  async run(): Promise<PutResult> {
    const { log } = this.target;
    log.debug({ event: "storage.upload.start", uri: this.uri, expectedBytes: this.opts.expectedBytes }, "upload started");
    try {
      const bytes = await this.transfer();
      const ms = Date.now() - this.started;
      log.info(
        { event: "storage.upload.done", uri: this.uri, bytes, parts: this.parts.length, ms, mbPerSecond: ms > 0 ? Math.round(bytes / 1e3 / ms) : undefined },
        "upload complete",
      );
      return { key: this.target.key, bytes, uri: this.uri };
    } catch (err) {
      const failure = this.guard.fail(this.toUploadError(err));
      this.reader.close();
      await this.abortUpload();
      log.warn({ event: "storage.upload.failed", uri: this.uri, code: failure.code, error: failure.message }, "upload failed; nothing was published");
      throw failure;
    } finally {
      this.guard.dispose();
    }
  }

  private async transfer(): Promise<number> {
    const first = await this.readPart(1);
    if (first.last) {
      this.checkCount();
      await this.putSingle(first.data);
      return first.data.length;
    }
    const created = await withRetries(this.retry, "CreateMultipartUpload", (abortSignal) =>
      this.target.client.send(new CreateMultipartUploadCommand({ Bucket: this.target.bucket, Key: this.target.key }), { abortSignal }),
    );
    if (created.UploadId === undefined) throw new UploadError("S3", `CreateMultipartUpload for ${this.uri} returned no UploadId`, this.uri, this.reader.bytesRead);
    this.uploadId = created.UploadId;
    this.startPart(1, first);
    for (let partNumber = 2; ; partNumber++) {
      // Take a slot before reading: at most queueSize parts exist at once, the one being filled included.
      while (this.inFlight.size >= this.queueSize) await this.guard.race(Promise.race(this.inFlight));
      if (partNumber > MAX_PARTS) {
        throw new UploadError("S3", `${this.uri} needs more than ${MAX_PARTS} parts: pass expectedBytes or a larger partSize`, this.uri, this.reader.bytesRead);
      }
      const part = await this.readPart(partNumber);
      this.startPart(partNumber, part);
      if (part.last) break;
    }
    while (this.inFlight.size > 0) await this.guard.race(Promise.race(this.inFlight));
    this.checkCount();
    await this.complete();
    return this.reader.bytesRead;
  }

  private async readPart(partNumber: number): Promise<Part> {
    try {
      return await this.guard.race(this.reader.next(partSizeFor(partNumber, this.basePartSize, this.opts.expectedBytes), this.spare.pop()));
    } catch (err) {
      this.guard.check();
      const why = err instanceof SourceSizeError ? err.message : `the source failed: ${describeError(err)}`;
      throw new UploadError("TRUNCATED", `upload to ${this.uri} abandoned: ${why} after ${this.reader.bytesRead} bytes`, this.uri, this.reader.bytesRead, { cause: err });
    }
  }

  /** The source ended: its count must be the promised one before anything becomes visible. */
  private checkCount(): void {
    const expected = this.opts.expectedBytes;
    if (expected !== undefined && this.reader.bytesRead !== expected) {
      throw new UploadError(
        "TRUNCATED",
        `upload to ${this.uri} abandoned: the source ended after ${this.reader.bytesRead} of the expected ${expected} bytes`,
        this.uri,
        this.reader.bytesRead,
      );
    }
  }

  private startPart(partNumber: number, part: Part): void {
    this.partsStarted++;
    const task = this.uploadPart(partNumber, part).finally(() => this.inFlight.delete(task));
    // A failed part fails the whole upload at once, whatever the main loop is waiting for.
    task.catch((err: unknown) => this.guard.fail(this.toUploadError(err)));
    this.inFlight.add(task);
  }

  private async uploadPart(partNumber: number, part: Part): Promise<void> {
    const { client, bucket, key } = this.target;
    const data = part.data;
    const uploadId = this.uploadId;
    // A Buffer body, never a stream: the SDK sends a stream aws-chunked, and s3rver stores the
    // chunk framing in the object (measured: 100,000 bytes became 100,045).
    const result = await withRetries(this.retry, `UploadPart ${partNumber}`, (abortSignal) =>
      client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: partNumber, Body: data }), { abortSignal }),
    );
    if (result.ETag === undefined) throw new UploadError("S3", `UploadPart ${partNumber} for ${this.uri} returned no ETag`, this.uri, this.reader.bytesRead);
    // Checksums the SDK computed (real AWS) must be repeated in CompleteMultipartUpload.
    this.parts.push({
      PartNumber: partNumber,
      ETag: result.ETag,
      ...(result.ChecksumCRC32 !== undefined && { ChecksumCRC32: result.ChecksumCRC32 }),
      ...(result.ChecksumCRC32C !== undefined && { ChecksumCRC32C: result.ChecksumCRC32C }),
      ...(result.ChecksumCRC64NVME !== undefined && { ChecksumCRC64NVME: result.ChecksumCRC64NVME }),
      ...(result.ChecksumSHA1 !== undefined && { ChecksumSHA1: result.ChecksumSHA1 }),
      ...(result.ChecksumSHA256 !== undefined && { ChecksumSHA256: result.ChecksumSHA256 }),
    });
    this.bytesStored += data.length;
    // The server answered after reading the whole body: nothing reads this memory any more.
    this.spare.push(part.buffer);
    this.target.log.debug({ event: "storage.upload.part", uri: this.uri, partNumber, bytes: data.length }, "part stored");
    this.progress();
  }

  private async putSingle(data: Buffer): Promise<void> {
    const { client, bucket, key } = this.target;
    await withRetries(this.retry, "PutObject", (abortSignal) =>
      client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: data, ContentLength: data.length }), { abortSignal }),
    );
    this.bytesStored = data.length;
    this.progress();
  }

  private async complete(): Promise<void> {
    const { client, bucket, key } = this.target;
    const parts = [...this.parts].sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
    const stored = this.bytesStored;
    if (stored !== this.reader.bytesRead) {
      throw new UploadError("S3", `upload to ${this.uri}: ${stored} bytes stored in parts but ${this.reader.bytesRead} read`, this.uri, this.reader.bytesRead);
    }
    const firstSentAt = Date.now();
    await withRetries(this.retry, "CompleteMultipartUpload", async (abortSignal, attempt) => {
      try {
        await client.send(
          new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: this.uploadId, MultipartUpload: { Parts: parts } }),
          { abortSignal },
        );
      } catch (err) {
        // A Complete whose answer was lost may have landed: the retry then finds the upload gone
        // (AWS says NoSuchUpload, s3rver answers 500). An object of our size written since the
        // first attempt is ours and complete; anything else keeps the original error.
        const sdkAttempts = (err as { $metadata?: { attempts?: number } }).$metadata?.attempts ?? 1;
        if ((attempt > 1 || sdkAttempts > 1) && (await this.completedEarlier(abortSignal, stored, firstSentAt))) return;
        throw err;
      }
    });
    // Completed: nothing left to abort if anything below were to throw.
    this.uploadId = undefined;
  }

  /**
   * Whether the object under the key is the one an earlier Complete attempt made: the size we
   * stored, modified no earlier than that attempt (LastModified has 1 s resolution, and the
   * server's clock may differ a little from ours: 2 s of slack).
   */
  private async completedEarlier(abortSignal: AbortSignal, size: number, since: number): Promise<boolean> {
    const { client, bucket, key } = this.target;
    try {
      const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), { abortSignal });
      const modified = head.LastModified?.getTime();
      return head.ContentLength === size && modified !== undefined && modified >= since - COMPLETE_CLOCK_SLACK_MS;
    } catch {
      return false;
    }
  }

  /**
   * After the failure: every request has been cancelled; ask the server to drop the parts. It may
   * take the guard's reserve, never past the deadline. s3rver has no AbortMultipartUpload
   * (MethodNotAllowed): its parts stay in its upload area, invisible as objects.
   */
  private async abortUpload(): Promise<void> {
    const uploadId = this.uploadId;
    if (uploadId === undefined) return;
    this.uploadId = undefined;
    const { client, bucket, key, log } = this.target;
    try {
      await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }), { abortSignal: this.guard.cleanupSignal() });
      log.debug({ event: "storage.upload.aborted", uri: this.uri }, "multipart upload aborted");
    } catch (err) {
      const name = (err as Error).name;
      if (name === "MethodNotAllowed" || name === "NotImplemented") {
        log.debug({ event: "storage.upload.abort-unsupported", uri: this.uri, error: describeError(err) }, "server cannot abort multipart uploads; parts left unreferenced");
      } else if (name !== "NoSuchUpload") {
        log.warn({ event: "storage.upload.abort-failed", uri: this.uri, error: describeError(err) }, "AbortMultipartUpload failed; parts may linger until a lifecycle rule removes them");
      }
    }
  }

  /** A progress display that throws must not fail the upload it displays. */
  private progress(): void {
    try {
      this.opts.onProgress?.({ bytesRead: this.reader.bytesRead, bytesStored: this.bytesStored });
    } catch (err) {
      this.target.log.debug({ event: "storage.upload.progress-failed", error: describeError(err) }, "onProgress threw");
    }
  }

  private toUploadError(err: unknown): UploadError {
    const failure = this.guard.failedWith;
    if (failure !== undefined) return failure;
    if (err instanceof UploadError) return err;
    return new UploadError("S3", `upload to ${this.uri} failed: ${describeError(err)}`, this.uri, this.reader.bytesRead, { cause: err });
  }
}
