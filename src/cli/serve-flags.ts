import { ConfigError } from "../contract/index.js";

/**
 * The `--flag value` pairs of a serve verb (`s3 serve`, `local serve`), each handed to its
 * handler; a flag without a value or not in `handlers` is a ConfigError naming the known ones.
 */
export function parseServeFlags(args: readonly string[], verb: string, handlers: Readonly<Record<string, (value: string) => void>>): void {
  for (let i = 0; i < args.length; i += 2) {
    const [flag, value] = [String(args[i]), args[i + 1]];
    const handler = handlers[flag];
    if (handler === undefined) throw new ConfigError(flag, undefined, `unknown option of ${verb} (known: ${Object.keys(handlers).join(", ")})`);
    if (value === undefined) throw new ConfigError(flag, undefined, "needs a value");
    handler(value);
  }
}

export function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError("--port", undefined, `must be a port number, got ${JSON.stringify(value)}`);
  return port;
}
