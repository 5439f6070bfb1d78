import { readdir } from "node:fs/promises";
import { MANIFEST_NAME, PackagingError, packageCheckpoint, probeWritable, selectCheckpoint, type ArtifactResult, type CompressionMode, type FlatGuard, type ModelLayout, type PackableSelection, type StopReason } from "../artifacts/index.js";
import type { Logger } from "../log/index.js";
import type { FinishingLimits } from "./clock.js";
import { ArchiveUpload, type OutputTarget, type UploadOutcome } from "./output.js";
import { progressReporter } from "./progress-report.js";
import type { ArtifactStatus } from "./status.js";
import { uploadStraight, uploadedOnlyArtifact } from "./straight-upload.js";

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
  /** How the caller spells the options named in problems (`--output` or runTraining's `output`). */
  readonly optionNames?: { readonly output: string; readonly modelLayout: string };
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
 * its manifest, or the files), and upload the archive. The upload reads the local archive file as
 * it is written (ArchiveUpload, which never holds the local write back); when no local archive is
 * wanted (layout files) or possible (a model dir that cannot be written), the archive streams
 * straight from the checkpoint files to the output instead (uploadStraight). Never throws for
 * expected failures (nothing complete, deadline, full disk, upload): those come back as a problem
 * to record, the previous artifact left as it was.
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
  const where = await probeWritable(input.modelDir);
  if (!where.writable) {
    const errno = where.message.startsWith(where.code) ? where.message : `${where.code}: ${where.message}`;
    return saveUploadOnly(selection, input, `the model dir ${input.modelDir} cannot be written (${errno})`);
  }
  if (input.layout === "files" && input.output) return placeAndUpload(selection, input, input.output);
  const upload = input.output ? new ArchiveUpload(input.output, input.limits, log) : undefined;
  const deadline = input.limits.deadline();
  const local = await writeLocally(selection, input, deadline, upload);
  const uploaded = await upload?.finish(local.kind === "written" ? local.result.manifestPath : undefined);
  if (local.kind === "failed") return { artifact: null, problem: local.problem };
  return localModel(selection, local.result, uploaded);
}

/** status.json's artifact for a model written locally, and what a user must be told about it. */
function localModel(selection: PackableSelection, result: ArtifactResult, uploaded: UploadOutcome | undefined): SavedModel {
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

/**
 * Layout files with an output: the files are placed in the model dir and, at the same time, the
 * archive made from the same checkpoint files streams to the output, so neither waits for the other.
 */
async function placeAndUpload(selection: PackableSelection, input: SaveModelInput, output: OutputTarget): Promise<SavedModel> {
  const deadline = input.limits.deadline();
  const [local, uploaded] = await Promise.all([
    writeLocally(selection, input, deadline, undefined),
    uploadStraight(selection, input, output, `${input.optionNames?.modelLayout ?? "--model-layout"} files writes no local archive`),
  ]);
  if (local.kind === "written") {
    return localModel(selection, local.result, uploaded.kind === "uploaded" ? { uploadedTo: uploaded.uri, problem: uploaded.problem } : { uploadedTo: null, problem: uploaded.problem });
  }
  // The object is complete although the files could not be placed: it is the model.
  if (uploaded.kind === "uploaded") return { artifact: uploadedOnlyArtifact(uploaded, local.problem), problem: [local.problem, uploaded.problem].filter((p) => p !== null).join("\n") };
  return { artifact: null, problem: `${local.problem}\n${uploaded.problem}` };
}

/** Nothing can be written locally: the output is the only place the model can go. */
async function saveUploadOnly(selection: PackableSelection, input: SaveModelInput, why: string): Promise<SavedModel> {
  const { log } = input;
  const outputOption = input.optionNames?.output ?? "--output";
  if (!input.output) {
    log.error({ event: "package.unwritable", modelDir: input.modelDir, reason: why }, `no model was saved: ${why}`);
    return { artifact: null, problem: `No model was saved: ${why}, and no ${outputOption} was given to upload it to instead.` };
  }
  log.warn({ event: "package.unwritable", modelDir: input.modelDir, reason: why }, `${why}: the model goes to ${outputOption} only`);
  const progress = progressReporter(log, input.limits.deadline());
  const uploaded = await uploadStraight(selection, input, input.output, why, progress.report);
  progress.done();
  if (uploaded.kind === "failed") return { artifact: null, problem: `No model was saved: ${why}, and ${uploaded.problem.charAt(0).toLowerCase()}${uploaded.problem.slice(1)}` };
  return { artifact: uploadedOnlyArtifact(uploaded, why), problem: uploaded.problem };
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
      ...(upload ? { follow: upload.consume, followAfterCommit: upload.afterCommit } : {}),
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

