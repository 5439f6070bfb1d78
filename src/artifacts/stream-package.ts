import { pipeline, type Readable } from "node:stream";
import type { Logger } from "../log/index.js";
import type { CompressionMode, EffectiveCompression, Manifest, PackableSelection, ProgressInfo, SkippedEntry, StopReason } from "./types.js";
import { FileChangedError, toPackagingError } from "./errors.js";
import { cancellation } from "./deadline.js";
import { artifactWarnings, planArchive, withChangedFilesLeftOut } from "./attempts.js";
import { createArchiveStream } from "./archive-stream.js";
import { serializeManifest } from "./manifest.js";
import { progressMeter, type ProgressMeter } from "./progress.js";
import { hashingPassThrough } from "./hashing-pass-through.js";

export interface StreamArchiveOptions {
  jobName: string;
  reason: StopReason;
  compression: CompressionMode;
  /** Epoch ms by which the archive must be delivered; past it, the attempt is torn down. */
  deadline?: number;
  signal?: AbortSignal;
  log?: Logger;
  onProgress?: (p: ProgressInfo) => void;
  /**
   * The archive's only destination (an upload). Called once per attempt with the archive's bytes
   * and their exact count when known in advance (plain tar, stored gzip); resolves once the
   * destination holds all of them, rejects otherwise. An archive that errors errors this stream,
   * and the destination must then keep nothing. The next attempt starts only once it has settled.
   */
  deliver: (stream: Readable, info: { fileName: string; expectedBytes: number | undefined }) => Promise<void>;
}

/** The archive a destination now holds, and what is needed to describe it. */
export interface StreamedArchive {
  readonly fileName: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly compression: EffectiveCompression;
  readonly gzipLevel?: number;
  /** The sidecar manifest (`<fileName>.manifest.json`), naming this archive by size and sha256. */
  readonly sidecar: Buffer;
  /** Regular files in the archive. */
  readonly files: number;
  readonly durationMs: number;
  readonly checkpoint: string;
  readonly skipped: SkippedEntry[];
  readonly warnings: string[];
}

/**
 * The same archive packageCheckpoint writes (tar or gzip, manifest last), produced from the
 * checkpoint files straight into `deliver`, for when nothing is to be written locally. Nothing
 * touches the disk but the reads; memory is what the destination holds, since it pulls the stream.
 * Every failure is a PackagingError, after the destination's attempt has settled.
 */
export async function streamArchive(selection: PackableSelection, opts: StreamArchiveOptions): Promise<StreamedArchive> {
  const started = Date.now();
  const cancel = cancellation(opts.deadline, opts.signal);
  try {
    cancel.signal.throwIfAborted();
    const { plan, fileName, checkpoint, manifest: manifestBase } = await planArchive(selection, opts, cancel.signal, started);
    return await withChangedFilesLeftOut(selection, cancel.signal, opts.log, async (entries, skipped) => {
      let meter: ProgressMeter | undefined;
      const archive = await createArchiveStream({
        entries,
        manifest: manifestBase(skipped),
        level: plan.level,
        signal: cancel.signal,
        onTarBytes: (n) => meter?.add(n),
      });
      meter = progressMeter(archive.tarBytes, opts.onProgress);
      const digest = hashingPassThrough();
      // Either side's failure destroys the other: an errored archive reaches the destination as an
      // error, and a destination that gives up stops the reading of files.
      pipeline(archive.stream, digest.stream, () => undefined);
      // A destination that stopped reading must not hold the attempt past the deadline or an abort.
      const stop = (): void => void digest.stream.destroy(cancel.signal.reason instanceof Error ? cancel.signal.reason : new Error("packaging aborted"));
      cancel.signal.addEventListener("abort", stop, { once: true });
      let delivered: PromiseSettledResult<void>;
      let manifest: PromiseSettledResult<Manifest>;
      try {
        [delivered, manifest] = await Promise.allSettled([opts.deliver(digest.stream, { fileName, expectedBytes: archive.archiveBytes }), archive.manifest]);
      } finally {
        cancel.signal.removeEventListener("abort", stop);
      }
      // A changed file is the cause whatever the destination made of it (a retry); otherwise the
      // destination's own failure says more than the torn-down archive's.
      if (manifest.status === "rejected" && manifest.reason instanceof FileChangedError) throw manifest.reason;
      if (delivered.status === "rejected") throw delivered.reason;
      if (manifest.status === "rejected") throw manifest.reason;
      meter.finish();
      const { bytes, sha256 } = digest.result();
      const files = manifest.value.files.filter((f) => f.type === "file").length;
      return {
        fileName,
        bytes,
        sha256,
        compression: plan.compression,
        ...(plan.level === null ? {} : { gzipLevel: plan.level }),
        sidecar: serializeManifest({ ...manifest.value, archive: { file: fileName, bytes, sha256 } }),
        files,
        durationMs: Date.now() - started,
        checkpoint,
        skipped: [...skipped],
        warnings: artifactWarnings(selection, skipped),
      };
    });
  } catch (err) {
    throw toPackagingError(err, cancel.signal);
  } finally {
    cancel.dispose();
  }
}
