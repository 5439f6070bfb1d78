import { createLogger, type Logger } from "../../src/log/index.js";

/** A debug-level logger whose JSON lines stay in memory, so tests can read what would be logged. */
export async function memoryLogger(): Promise<{ log: Logger; lines: string[] }> {
  const lines: string[] = [];
  const log = await createLogger({ level: "debug", destination: { write: (line: string) => void lines.push(line) } });
  return { log, lines };
}
