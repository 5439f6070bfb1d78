import { CodedError, errnoCode, errorMessage } from "../contract/index.js";

export type PackagingErrorCode = "DEADLINE" | "ABORTED" | "ENOSPC" | "IO";

/** Every failure of packageCheckpoint: the temp file is gone and the previous artifact untouched. */
export class PackagingError extends CodedError<PackagingErrorCode> {
  override readonly name = "PackagingError";
}

/**
 * A file differed from what its tar header promised (size at selection, or size/mtime moved
 * while it was read). Internal: the attempt is thrown away and retried without that file.
 */
export class FileChangedError extends Error {
  override readonly name = "FileChangedError";
  constructor(
    readonly path: string,
    readonly detail: string,
  ) {
    super(`${path} changed while being packaged: ${detail}`);
  }
}

/** Turn whatever went wrong into the typed error the caller records; an abort reason wins. */
export function toPackagingError(err: unknown, signal: AbortSignal | undefined): PackagingError {
  if (signal?.aborted && signal.reason instanceof PackagingError) return signal.reason;
  if (err instanceof PackagingError) return err;
  const code = errnoCode(err);
  if (code === "ENOSPC" || code === "EDQUOT") {
    return new PackagingError("ENOSPC", `no space left while writing the artifact: ${errorMessage(err)}`, { cause: err });
  }
  return new PackagingError("IO", errorMessage(err), { cause: err });
}
