/** Exit code for input trainguard refuses before starting the algorithm (bad config file, option or name). */
export const EXIT_CONFIG_ERROR = 2;

/**
 * Bad input, always tied to where it came from, so the message a user reads in the failure file
 * names the file (or option) and the field to fix.
 */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    /** File path, or the option/variable name when the input did not come from a file. */
    readonly source: string,
    /** The field inside the source, when one is to blame. */
    readonly field: string | undefined,
    readonly problem: string,
  ) {
    super(`${source}${field === undefined ? "" : `: field "${field}"`}: ${problem}`);
  }
}

/** The message of whatever was thrown: an Error's message, anything else as a string. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The errno code of a Node system error (ENOENT, ENOSPC...), if it is one. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === "object" && err !== null && "code" in err) {
    const code = (err as { code: unknown }).code;
    return typeof code === "string" ? code : undefined;
  }
  return undefined;
}

/**
 * One line for logs and messages. SDK errors carry the raw response and request metadata as
 * properties; logging the object could leak headers, so only name, code, status and message go out.
 */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const e = err as Error & { code?: unknown; $metadata?: { httpStatusCode?: number } };
  const parts = [e.name];
  if (typeof e.code === "string" && e.code !== e.name) parts.push(e.code);
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined) parts.push(`HTTP ${status}`);
  return `${parts.join(" ")}: ${e.message}`.replace(/\s*\n\s*/g, " ");
}

/** An error whose `code` tells the caller what to do about it; subclasses name the concern. */
export class CodedError<Code extends string> extends Error {
  constructor(
    readonly code: Code,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
