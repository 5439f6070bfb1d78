import { mkdir } from "node:fs/promises";
import type { Readable } from "node:stream";
import path from "node:path";
import type { Logger } from "../log/index.js";
import type { ArtifactResult, CompressionMode, Manifest, ModelLayout, PackableSelection, ProgressInfo, StopReason } from "./types.js";
import { toPackagingError } from "./errors.js";
import { cancellation } from "./deadline.js";
import { artifactWarnings, planArchive, withChangedFilesLeftOut } from "./attempts.js";
import { createArchiveStream } from "./archive-stream.js";
import { commitTogether, removeStaleTemps, stageFile, type StagedFile } from "./atomic-file.js";
import { serializeManifest } from "./manifest.js";
import { progressMeter, type ProgressMeter } from "./progress.js";
import { FileFollower } from "./follow-file.js";
import { placeFiles } from "./files-layout.js";

export interface PackageOptions {
  modelDir: string;
  jobName: string;
  reason: StopReason;
  compression: CompressionMode;
  layout: ModelLayout;
  /** Epoch ms by which packaging must be done; past it, packaging stops and cleans up. */
  deadline?: number;
  signal?: AbortSignal;
  log?: Logger;
  onProgress?: (p: ProgressInfo) => void;
  /**
   * A second consumer of the archive (an upload). Called once per attempt with a stream that
   * reads the archive file as it is written (the files are read once) and the exact size when
   * known in advance (plain tar, stored gzip). The local archive never waits for it: the stream
   * ends only once the archive is complete, and with an error if this attempt fails or is retried.
   */
  follow?: (stream: Readable, info: { fileName: string; expectedBytes: number | undefined }) => void;
  /** The follower reads nothing before the archive is committed (a consumer that would compete with the write). */
  followAfterCommit?: boolean;
}

/**
 * Package the selected checkpoint into `<modelDir>/model.tar.gz` (or model.tar), or place its
 * files for layout "files". The previous artifact stays untouched until the new one is complete
 * and fsynced; every failure is a PackagingError and leaves no temporary file behind.
 */
export async function packageCheckpoint(selection: PackableSelection, opts: PackageOptions): Promise<ArtifactResult> {
  const started = Date.now();
  const cancel = cancellation(opts.deadline, opts.signal);
  try {
    cancel.signal.throwIfAborted();
    await mkdir(opts.modelDir, { recursive: true });
    const result =
      opts.layout === "files"
        ? await placeFiles(selection, { ...opts, signal: cancel.signal, started, createdAt: new Date(started).toISOString() })
        : await packageArchive(selection, opts, cancel.signal, started);
    // The caller logs the result (job/model.ts): it alone knows what the artifact is for.
    return result;
  } catch (err) {
    throw toPackagingError(err, cancel.signal);
  } finally {
    cancel.dispose();
  }
}

async function packageArchive(
  selection: PackableSelection,
  opts: PackageOptions,
  signal: AbortSignal,
  started: number,
): Promise<ArtifactResult> {
  const log = opts.log;
  const { plan, fileName, checkpoint, manifest: manifestBase } = await planArchive(selection, opts, signal, started);
  const finalPath = path.join(opts.modelDir, fileName);
  const sidecarPath = `${finalPath}.manifest.json`;
  const stale = await removeStaleTemps(opts.modelDir, [fileName, path.basename(sidecarPath)]);
  if (stale.length > 0) log?.info({ event: "artifact.cleanup", removed: stale }, "removed temporary files of a killed packaging");

  return withChangedFilesLeftOut(selection, signal, log, async (entries, skipped) => {
    let meter: ProgressMeter | undefined;
    const archive = await createArchiveStream({
      entries,
      manifest: manifestBase(skipped),
      level: plan.level,
      signal,
      onTarBytes: (n) => meter?.add(n),
    });
    meter = progressMeter(archive.tarBytes, opts.onProgress);
    const follower = opts.follow ? new FileFollower({ afterCommit: opts.followAfterCommit ?? false }) : undefined;
    if (follower) opts.follow?.(follower.stream, { fileName, expectedBytes: archive.archiveBytes });
    let staged: StagedFile;
    try {
      staged = await stageFile(archive.stream, finalPath, {
        signal,
        recycle: archive.recycle,
        sizeHint: archive.archiveBytes ?? archive.tarBytes,
        ...(follower ? { observer: follower } : {}),
      });
    } catch (err) {
      archive.stream.destroy(err as Error);
      throw err;
    }
    meter.finish();
    let manifest: Manifest;
    try {
      manifest = await commitArchive(staged, await archive.manifest, sidecarPath, signal);
    } catch (err) {
      follower?.failed(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
    // Only now may the upload end: an object never exists without the local archive it copies.
    follower?.complete(staged.bytes);

    const files = manifest.files.filter((f) => f.type === "file").length;
    return {
      path: finalPath,
      bytes: staged.bytes,
      sha256: staged.sha256,
      compression: plan.compression,
      ...(plan.level === null ? {} : { gzipLevel: plan.level }),
      layout: "archive",
      manifestPath: sidecarPath,
      files,
      durationMs: Date.now() - started,
      checkpoint,
      skipped: [...skipped],
      warnings: artifactWarnings(selection, skipped),
    };
  });
}

/** Stage the sidecar manifest beside the staged archive, then rename both into place. */
async function commitArchive(staged: StagedFile, manifest: Manifest, sidecarPath: string, signal: AbortSignal): Promise<Manifest> {
  // The sidecar is staged before the archive is renamed so that running out of space for it
  // cannot leave a new archive beside the old archive's sidecar.
  let sidecar: StagedFile;
  try {
    const body = serializeManifest({ ...manifest, archive: { file: path.basename(staged.path), bytes: staged.bytes, sha256: staged.sha256 } });
    sidecar = await stageFile(body, sidecarPath, { signal });
  } catch (err) {
    await staged.discard();
    throw err;
  }
  if (signal.aborted) {
    await Promise.all([staged.discard(), sidecar.discard()]);
    throw signal.reason;
  }
  // Archive first: a kill between the two renames leaves the old sidecar beside the new
  // archive (its archive.sha256 tells), never a new sidecar beside the old archive.
  commitTogether([staged, sidecar]);
  return manifest;
}
