import { ConfigError } from "../contract/index.js";
import { defaultOptions, OPTION_SPECS, type OptionSources, type OptionSpec, type RunOptions } from "./specs.js";

/**
 * Settles the options: the values a caller sets (`text` from the command line, `given` from
 * runTraining's object) over TRAINGUARD_* variables over the defaults. Every value, from any of
 * them, goes through its spec's one validator, and its source is recorded.
 */
export class OptionReader {
  readonly options: RunOptions = defaultOptions();
  readonly sources: OptionSources = {};

  constructor(
    private readonly env: NodeJS.ProcessEnv,
    /** `lenient`: skip bad values instead of throwing, to learn what is usable (the ml-root of a refused start). */
    private readonly mode: "strict" | "lenient" = "strict",
  ) {
    for (const spec of OPTION_SPECS) {
      const value = env[spec.env];
      if (value !== undefined) this.text(spec, value, spec.env);
    }
  }

  /** Text from the command line or a variable. */
  text(spec: OptionSpec, value: string, source: string): void {
    this.settle(spec, source, () => {
      refuseEmpty(value, source);
      return spec.parse(value, source);
    });
  }

  /** A value of runTraining's options object, which must already have the spec's type: a number stays a number. */
  given(spec: OptionSpec, value: unknown, source: string): void {
    this.settle(spec, source, () => {
      if (typeof value !== spec.type) throw new ConfigError(source, undefined, `must be a ${spec.type}, got ${typeof value}`);
      refuseEmpty(value, source);
      // Checked above: a number reaches only the parse of a number spec, which takes one.
      return (spec.parse as (v: unknown, s: string) => RunOptions[keyof RunOptions])(value, source);
    });
  }

  /** The options and their sources, with the defaults that depend on other values filled in. */
  finish(): { options: RunOptions; sources: OptionSources } {
    // SageMaker (and `trainguard local`) set TRAINING_JOB_NAME in every training container and tar
    // the model dir themselves: the checkpoint's files go there, not an archive inside their archive.
    // With --output the default stays an archive, which the upload copies as it is written;
    // `--model-layout files` with --output, asked for, streams the archive straight from the files.
    if (this.sources.modelLayout === undefined && (this.env.TRAINING_JOB_NAME ?? "") !== "" && this.options.output === undefined) {
      this.options.modelLayout = "files";
    }
    return { options: this.options, sources: this.sources };
  }

  private settle<K extends keyof RunOptions>(spec: OptionSpec<K>, source: string, parse: () => RunOptions[K]): void {
    try {
      this.options[spec.key] = parse();
      this.sources[spec.key] = source;
    } catch (err) {
      if (this.mode === "strict") throw err;
    }
  }
}

function refuseEmpty(value: unknown, source: string): void {
  if (value === "") throw new ConfigError(source, undefined, "must not be empty");
}
