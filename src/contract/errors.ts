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

/** An error's message for people, whatever was thrown. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
