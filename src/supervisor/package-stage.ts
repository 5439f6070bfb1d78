import type { CompressionMode, ModelLayout, StopReason } from "../artifacts/index.js";
import type { Logger } from "../log/index.js";
import { ArchiveUpload, type OutputTarget } from "./output.js";
import { packageModel } from "./package-model.js";
import type { ArtifactStatus } from "./status.js";

export interface PackageStageInput {
  readonly reason: StopReason;
  readonly checkpointDir: string;
  readonly modelDir: string;
  readonly jobName: string;
  readonly compression: CompressionMode;
  readonly layout: ModelLayout;
  readonly markers?: readonly string[] | undefined;
  /** `--output`, opened before the job started; undefined: local archive only. */
  readonly output: OutputTarget | undefined;
  /** Epoch ms by which finishing must be done, or undefined while no stop was requested. Asked again when the upload starts. */
  readonly deadline: () => number | undefined;
  /** Aborts packaging and upload (the stop deadline came). */
  readonly signal: AbortSignal;
  readonly log: Logger;
  /** Canonical paths of files the algorithm was writing when it was killed: never packaged. */
  readonly cutOff?: ReadonlySet<string>;
}

export interface PackageStageResult {
  readonly artifact: ArtifactStatus | null;
  /** What a user must be told: nothing to package, packaging or upload failed. */
  readonly problem: string | null;
}

/**
 * The newest complete checkpoint, packaged once and uploaded from the same stream: the stop path
 * of both the supervisor and the in-process library (runTraining), so that both produce the same
 * artifact, status fields and problems.
 */
export async function packageAndUpload(input: PackageStageInput): Promise<PackageStageResult> {
  const { log } = input;
  const upload = input.output ? new ArchiveUpload(input.output, { deadline: input.deadline, signal: input.signal }, log) : undefined;
  const deadline = input.deadline();
  const outcome = await packageModel({
    ...(upload ? { tee: upload.consume } : {}),
    reason: input.reason,
    checkpointDir: input.checkpointDir,
    modelDir: input.modelDir,
    jobName: input.jobName,
    compression: input.compression,
    layout: input.layout,
    ...(input.markers ? { markers: [...input.markers] } : {}),
    ...(deadline === undefined ? {} : { deadline }),
    signal: input.signal,
    log,
    ...(input.cutOff ? { cutOff: input.cutOff } : {}),
  });
  const uploaded = await upload?.finish(outcome.kind === "packaged" ? outcome.result.manifestPath : undefined);
  switch (outcome.kind) {
    case "packaged":
      return {
        artifact: { ...outcome.artifact, uploadedTo: uploaded?.uploadedTo ?? null, ...(uploaded?.problem ? { uploadError: uploaded.problem } : {}) },
        problem: uploaded?.problem ?? null,
      };
    case "algorithm-model":
      log.info({ event: "package.skipped", note: outcome.note }, outcome.note);
      return { artifact: null, problem: null };
    case "problem":
      return { artifact: null, problem: outcome.problem };
  }
}
