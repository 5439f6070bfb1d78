import { readdir } from "node:fs/promises";
import { MANIFEST_NAME, PackagingError, packageCheckpoint, selectCheckpoint, type ArtifactResult, type CompressionMode, type FlatGuard, type ModelLayout, type PackableSelection, type StopReason } from "../artifacts/index.js";
import type { Logger } from "../log/index.js";
import type { FinishingLimits } from "./clock.js";
import { ArchiveUpload, type OutputTarget } from "./output.js";
import { progressReporter } from "./progress-report.js";
import type { ArtifactStatus } from "./status.js";

export interface SaveModelInput {
  readonly reason: StopReason;
  readonly checkpointDir: string;
  readonly modelDir: string;
  readonly jobName: string;
  readonly compression: CompressionMode;
  readonly layout: ModelLayout;
  readonly markers?: readonly string[] | undefined;
  /** `--output`, opened before the job started; undefined: local artifact only. */
  readonly output: OutputTarget | undefined;
  /** The finishing deadline (asked again when the upload starts) and the signal that aborts packaging and upload. */
  readonly limits: FinishingLimits;
  readonly log: Logger;
  /** Flat files whose write did not finish (the algorithm died writing them), and kept intact versions. */
  readonly guard?: FlatGuard;
}

export interface SavedModel {
  /** status.json's `artifact`: this function is its only author. */
  readonly artifact: ArtifactStatus | null;
  /** What a user must be told: nothing to package, files left out, packaging or upload failed. */
  readonly problem: string | null;
}

/**
 * The newest complete checkpoint becomes the model, in three layers: select it (artifacts'
 * selectCheckpoint), write it locally as the model artifact (packageCheckpoint: the archive and
 * its manifest, or the files), and upload the archive file as it is written (ArchiveUpload, the
 * archive's second consumer, which never holds the local write back). Never throws for expected failures (nothing complete, deadline,
 * full disk, upload): those come back as a problem to record, the previous artifact left as it was.
 */
export async function saveModel(input: SaveModelInput): Promise<SavedModel> {
  const { log } = input;
  const selection = await selectCheckpoint(input.checkpointDir, { log, ...input.guard, ...(input.markers ? { markers: [...input.markers] } : {}) });
  if (selection.kind === "none") {
    const ownModel = await algorithmModelFiles(input.modelDir);
    if (ownModel.length > 0) {
      const note = `no checkpoint to package (${selection.reason}); the model dir holds the algorithm's own files (${ownModel.slice(0, 3).join(", ")}${ownModel.length > 3 ? ", ..." : ""})`;
      log.info({ event: "package.skipped", note }, note);
      return { artifact: null, problem: null };
    }
    log.warn({ event: "package.nothing", reason: selection.reason }, "nothing to package");
    return { artifact: null, problem: `No model was saved: ${selection.reason}, and ${input.modelDir} is empty.` };
  }
  const upload = input.output ? new ArchiveUpload(input.output, input.limits, log) : undefined;
  const deadline = input.limits.deadline();
  const local = await writeLocally(selection, input, deadline, upload);
  const uploaded = await upload?.finish(local.kind === "written" ? local.result.manifestPath : undefined);
  if (local.kind === "failed") return { artifact: null, problem: local.problem };
  const { result } = local;
  const torn = selection.kind === "flat" ? selection.unfinished : [];
  const problems = [
    torn.length > 0 ? `Packaged without ${torn.map((t) => `${t.path} (${t.reason})`).join(", ")}: no intact version of it was kept.` : null,
    uploaded?.problem ?? null,
  ].filter((p): p is string => p !== null);
  return {
    artifact: {
      path: result.path,
      bytes: result.bytes,
      sha256: result.sha256,
      uploadedTo: uploaded?.uploadedTo ?? null,
      ...(uploaded?.problem ? { uploadError: uploaded.problem } : {}),
      checkpoint: result.checkpoint,
      compression: result.compression,
      layout: result.layout,
      files: result.files,
      manifestPath: result.manifestPath,
      durationMs: result.durationMs,
    },
    problem: problems.join("\n") || null,
  };
}

/** The local model artifact; the upload (if any) reads the archive file as it is written and finishes later. */
async function writeLocally(
  selection: PackableSelection,
  input: SaveModelInput,
  deadline: number | undefined,
  upload: ArchiveUpload | undefined,
): Promise<{ readonly kind: "written"; readonly result: ArtifactResult } | { readonly kind: "failed"; readonly problem: string }> {
  const { log } = input;
  const progress = progressReporter(log, deadline);
  log.info({ event: "package.start", checkpoint: selection.kind === "directory" ? selection.name : "(files)", files: selection.files.length, compression: input.compression, layout: input.layout }, "packaging the newest complete checkpoint");
  try {
    const result = await packageCheckpoint(selection, {
      modelDir: input.modelDir,
      jobName: input.jobName,
      reason: input.reason,
      compression: input.compression,
      layout: input.layout,
      log,
      onProgress: progress.report,
      ...(deadline === undefined ? {} : { deadline }),
      signal: input.limits.signal,
      ...(upload ? { follow: upload.consume } : {}),
    });
    progress.done();
    for (const warning of result.warnings) log.warn({ event: "package.warning" }, warning);
    log.info(
      { event: "package.done", path: result.path, bytes: result.bytes, sha256: result.sha256, compression: result.compression, gzipLevel: result.gzipLevel, files: result.files, durationMs: result.durationMs },
      `model saved to ${result.path}`,
    );
    return { kind: "written", result };
  } catch (err) {
    progress.done();
    if (!(err instanceof PackagingError)) throw err;
    log.error({ event: "package.failed", code: err.code, err: err.message }, "packaging failed; the previous artifact is kept");
    return { kind: "failed", problem: `Packaging the checkpoint failed (${err.code}): ${err.message}. Any previous model artifact was kept.` };
  }
}

/** Files in the model dir that trainguard did not write. */
async function algorithmModelFiles(modelDir: string): Promise<string[]> {
  const entries = await readdir(modelDir).catch(() => [] as string[]);
  return entries.filter((name) => !/^model\.tar(\.gz)?(\.manifest\.json)?$/.test(name) && name !== MANIFEST_NAME && !name.startsWith("."));
}

