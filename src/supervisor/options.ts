import { ConfigError } from "../contract/index.js";
import { OPTION_SPECS, OptionReader, type OptionSources, type RunOptions } from "../options/index.js";

export { MAX_GRACE_SECONDS, optionsHelp, parseStopSignal, parseTrainCommand, type OptionSources, type RunOptions } from "../options/index.js";

/**
 * Parse our options from the front of `args`: `--flag value` or `--flag=value`, over the
 * TRAINGUARD_* environment, over the defaults, each checked by its spec (src/options). Parsing stops
 * at `--` or at the first argument that is not an option, so an algorithm's own flags
 * (`python train.py --epochs 3`) are never ours.
 */
export function parseRunArgs(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  /** `lenient`: skip bad values instead of throwing, to learn what is usable (the ml-root of a refused start). */
  mode: "strict" | "lenient" = "strict",
): { options: RunOptions; rest: string[]; sources: OptionSources } {
  const reader = new OptionReader(env, mode);
  let i = 0;
  for (; i < args.length; i += 1) {
    const arg = args[i] as string;
    if (arg === "--") {
      i += 1;
      break;
    }
    if (!arg.startsWith("--")) break;
    const eq = arg.indexOf("=");
    const flag = arg.slice(2, eq === -1 ? undefined : eq);
    const spec = OPTION_SPECS.find((s) => s.flag === flag);
    // Lenient: an unknown option may or may not take a value, so nothing after it is certain.
    if (!spec && mode === "lenient") break;
    if (!spec) throw new ConfigError(`--${flag}`, undefined, `unknown option (known: ${OPTION_SPECS.map((s) => `--${s.flag}`).join(", ")})`);
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      value = args[i + 1];
      i += 1;
    }
    // `--` always ends the options: `--checkpoint-dir -- cmd` lacks a value, it does not name a dir "--".
    if (value === undefined || (eq === -1 && value === "--")) {
      if (mode === "lenient") break;
      throw new ConfigError(`--${flag}`, undefined, "needs a value");
    }
    reader.text(spec, value, `--${flag}`);
  }
  return { ...reader.finish(), rest: args.slice(i) };
}
