import { ArchiveUpload, type OutputTarget } from "./output.js";
import { packageModel, type PackageModelInput } from "./package-model.js";
import type { ArtifactStatus } from "./status.js";

/** What packageModel takes, with the deadline asked again when the upload starts, and --output. */
export interface PackageStageInput extends Omit<PackageModelInput, "markers" | "deadline" | "signal" | "tee"> {
  readonly markers?: readonly string[] | undefined;
  /** `--output`, opened before the job started; undefined: local archive only. */
  readonly output: OutputTarget | undefined;
  /** Epoch ms by which finishing must be done, or undefined while no stop was requested. Asked again when the upload starts. */
  readonly deadline: () => number | undefined;
  /** Aborts packaging and upload (the stop deadline came). */
  readonly signal: AbortSignal;
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
  // The rest is packageModel's input as is; output and the deadline function are this stage's own.
  const { output: _output, markers, deadline: _askDeadline, ...packaging } = input;
  const outcome = await packageModel({
    ...packaging,
    ...(upload ? { tee: upload.consume } : {}),
    ...(markers ? { markers: [...markers] } : {}),
    ...(deadline === undefined ? {} : { deadline }),
  });
  const uploaded = await upload?.finish(outcome.kind === "packaged" ? outcome.result.manifestPath : undefined);
  switch (outcome.kind) {
    case "packaged":
      return {
        artifact: { ...outcome.artifact, uploadedTo: uploaded?.uploadedTo ?? null, ...(uploaded?.problem ? { uploadError: uploaded.problem } : {}) },
        problem: [outcome.problem, uploaded?.problem].filter((p): p is string => p !== undefined && p !== null).join("\n") || null,
      };
    case "algorithm-model":
      log.info({ event: "package.skipped", note: outcome.note }, outcome.note);
      return { artifact: null, problem: null };
    case "problem":
      return { artifact: null, problem: outcome.problem };
  }
}
