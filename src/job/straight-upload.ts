import { PackagingError, streamArchive, type PackableSelection, type ProgressInfo, type StreamedArchive } from "../artifacts/index.js";
import type { SaveModelInput } from "./model.js";
import { describeUploadError, putArchive, putSidecar, type OutputTarget } from "./output.js";
import type { ArtifactStatus } from "./status.js";

export type StraightUpload =
  | { readonly kind: "uploaded"; readonly archive: StreamedArchive; readonly uri: string; readonly sidecarUri: string; readonly problem: string | null }
  | { readonly kind: "failed"; readonly problem: string };

/**
 * The archive trainguard would write locally, produced from the checkpoint files straight into
 * the output, for when no local archive is wanted (layout files) or possible (a model dir that
 * cannot be written). Nothing is written locally; the upload pulls the archive, so memory stays
 * what its parts in flight hold. A retried attempt is a fresh upload, the failed one aborted by
 * the store, and the object appears only complete. Then the sidecar manifest, from memory.
 */
export async function uploadStraight(
  selection: PackableSelection,
  input: SaveModelInput,
  output: OutputTarget,
  why: string,
  onProgress?: (p: ProgressInfo) => void,
): Promise<StraightUpload> {
  const { log, limits } = input;
  // The store's own failure names the cause better than the torn-down archive it leaves behind.
  let uploadError: unknown;
  let uri = "";
  const deadline = limits.deadline();
  try {
    const archive = await streamArchive(selection, {
      jobName: input.jobName,
      reason: input.reason,
      compression: input.compression,
      ...(deadline === undefined ? {} : { deadline }),
      signal: limits.signal,
      log,
      ...(onProgress ? { onProgress } : {}),
      deliver: async (stream, info) => {
        const started = putArchive(output, limits, stream, info);
        log.info({ event: "upload.start", uri: started.uri, expectedBytes: info.expectedBytes, straight: true }, `uploading the archive straight from the checkpoint files: ${why}`);
        try {
          uri = (await started.upload).uri;
          uploadError = undefined;
        } catch (err) {
          uploadError = err;
          throw err;
        }
      },
    });
    log.info({ event: "upload.done", uri, bytes: archive.bytes, sha256: archive.sha256, files: archive.files, durationMs: archive.durationMs }, `model uploaded to ${uri}`);
    for (const warning of archive.warnings) log.warn({ event: "package.warning" }, warning);
    const problem = await putSidecar(output, limits, log, { fileName: archive.fileName, uri }, () => archive.sidecar);
    return { kind: "uploaded", archive, uri, sidecarUri: output.store.uri(output.key(`${archive.fileName}.manifest.json`)), problem };
  } catch (err) {
    if (!(err instanceof PackagingError)) throw err;
    const { code, message } = describeUploadError(uploadError ?? err);
    log.error({ event: "upload.failed", code, err: message, straight: true }, "the upload straight from the checkpoint files failed; no object was left under the key");
    return { kind: "failed", problem: `Uploading the model straight from the checkpoint files failed (${code}): ${message}` };
  }
}

/** status.json's `artifact` when the object is the only copy: its URIs stand where local paths would. */
export function uploadedOnlyArtifact(uploaded: Extract<StraightUpload, { kind: "uploaded" }>, localError: string): ArtifactStatus {
  const { archive } = uploaded;
  return {
    path: uploaded.uri,
    bytes: archive.bytes,
    sha256: archive.sha256,
    uploadedTo: uploaded.uri,
    localError,
    checkpoint: archive.checkpoint,
    compression: archive.compression,
    layout: "archive",
    files: archive.files,
    manifestPath: uploaded.problem === null ? uploaded.sidecarUri : uploaded.uri,
    durationMs: archive.durationMs,
  };
}
