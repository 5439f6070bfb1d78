import { ConfigError } from "../contract/index.js";

/** `trainguard train` runs TRAINGUARD_COMMAND: a JSON array of argv strings, never a shell line. */
export function parseTrainCommand(env: NodeJS.ProcessEnv): string[] {
  const raw = env.TRAINGUARD_COMMAND;
  if (raw === undefined || raw.trim() === "") {
    throw new ConfigError("TRAINGUARD_COMMAND", undefined, 'is not set: `trainguard train` runs the command it names, as a JSON array, e.g. ["python3","train.py"]');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new ConfigError("TRAINGUARD_COMMAND", undefined, `must be a JSON array of strings, e.g. ["python3","train.py"]; it is not JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((a) => typeof a === "string") || parsed[0] === "") {
    throw new ConfigError("TRAINGUARD_COMMAND", undefined, 'must be a non-empty JSON array of strings, e.g. ["python3","train.py"]');
  }
  const withNul = parsed.findIndex((a: string) => a.includes("\0"));
  if (withNul !== -1) throw new ConfigError("TRAINGUARD_COMMAND", `argument ${withNul}`, "contains a NUL byte, which no command argument can carry");
  return parsed as string[];
}
