/** Why a resume did not produce a checkpoint. */
export type ResumeErrorCode = "UNSAFE_KEY" | "ABORTED" | "DEADLINE" | "CORRUPT";

export class ResumeError extends Error {
  override readonly name = "ResumeError";
  constructor(
    readonly code: ResumeErrorCode,
    message: string,
    /** The remote key to blame, when there is one. */
    readonly key?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
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

/**
 * One line for logs. SDK errors carry request metadata as properties; only name, code, status and
 * message go out, never the object.
 */
export function oneLine(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const e = err as Error & { code?: unknown; $metadata?: { httpStatusCode?: number } };
  const parts = [e.name];
  if (typeof e.code === "string" && e.code !== e.name) parts.push(e.code);
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined) parts.push(`HTTP ${status}`);
  return `${parts.join(" ")}: ${e.message}`.replace(/\s*\n\s*/g, " ");
}
