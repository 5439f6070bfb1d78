import { pino, destination, stdTimeFunctions, type Logger, type DestinationStream } from "pino";

export type { Logger } from "pino";

export interface LoggerOptions {
  readonly level?: string;
  /** Pretty output for people; JSON for machines. Defaults to whether stderr is a terminal. */
  readonly pretty?: boolean;
  readonly destination?: DestinationStream;
}

/**
 * Logs go to stderr so stdout stays the algorithm's alone. Writes are synchronous: a supervisor
 * that exits from a signal handler must not lose its last lines (`job.end`), and keeping our
 * lines in order with the algorithm's own stderr matters more than throughput here.
 * Every lifecycle line carries an `event` field whose values are stable API.
 */
export async function createLogger(options: LoggerOptions = {}): Promise<Logger> {
  const level = options.level ?? process.env.TRAINGUARD_LOG_LEVEL ?? "info";
  const base = { name: "trainguard" };
  const redact = { paths: REDACTED_PATHS, censor: "[redacted]" };
  if (options.destination) return pino({ level, base, redact }, options.destination);
  const pretty = options.pretty ?? process.stderr.isTTY === true;
  if (pretty) {
    // Loaded only for terminals: the JSON path should not pay for it at start-up.
    const { default: prettyStream } = await import("pino-pretty");
    return pino(
      { level, base, redact },
      prettyStream({ destination: 2, sync: true, ignore: "pid,hostname,name", translateTime: "HH:MM:ss.l" }),
    );
  }
  return pino({ level, base, redact, timestamp: stdTimeFunctions.isoTime }, destination({ fd: 2, sync: true }));
}

/** Fields that may carry secrets wherever they appear in a log object. */
export const REDACTED_PATHS = [
  "credentials",
  "*.credentials",
  "secretAccessKey",
  "*.secretAccessKey",
  "sessionToken",
  "*.sessionToken",
  "authorization",
  "*.authorization",
  "headers.authorization",
];
