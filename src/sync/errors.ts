import { CodedError } from "../contract/index.js";

/** Why a resume did not produce a checkpoint. */
export type ResumeErrorCode = "UNSAFE_KEY" | "ABORTED" | "DEADLINE" | "CORRUPT";

export class ResumeError extends CodedError<ResumeErrorCode> {
  override readonly name = "ResumeError";
  constructor(
    code: ResumeErrorCode,
    message: string,
    /** The remote key to blame, when there is one. */
    readonly key?: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

/** Abort reasons, so whoever catches the rejection knows whether time ran out or someone asked. */
export class DeadlineReached extends Error {
  override readonly name = "DeadlineReached";
}
export class Cancelled extends Error {
  override readonly name = "Cancelled";
}

/** The local checkpoint changed or vanished under the upload: not a storage failure. */
export class LocalChanged extends Error {
  override readonly name = "LocalChanged";
}
