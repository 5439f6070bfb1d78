// The option specs are the one place an option of `trainguard run` and of runTraining is defined
// and checked. These tests hold the CLI, the environment and the library to the same table.
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/contract/index.js";
import { resolveOptions, type TrainingOptions } from "../../src/library/options.js";
import { OPTION_SPECS, optionsHelp, type OptionSpec, type RunOptions } from "../../src/options/index.js";
import { parseRunArgs } from "../../src/supervisor/index.js";

type Value = string | number;

/** Values each option accepts and refuses, in runTraining's types (text for the options it does not take). */
const SAMPLES: Record<keyof RunOptions, { good: Value[]; bad: Value[] }> = {
  mlRoot: { good: ["/tmp/ml", "rel/ml", "/x=y"], bad: [""] },
  graceSeconds: { good: [1, 0.5, 120, 7 * 24 * 3600], bad: [0, -5, 7 * 24 * 3600 + 1, Number.NaN, Number.POSITIVE_INFINITY] },
  stopSignal: { good: ["USR1", "SIGINT", "sigusr2", "15"], bad: ["", "KILL", "SIGSTOP", "NOPE"] },
  checkpointDir: { good: ["/ck", "ck", "/tmp/../ck"], bad: ["", "/", "//", "/.", "/tmp/.."] },
  jobName: { good: ["job-1", "anything: checked once the name is settled"], bad: [""] },
  output: { good: ["s3://b/p", "file:///o"], bad: [""] },
  checkpointUri: { good: ["s3://b/ck"], bad: [""] },
  keep: { good: [1, 3, 100], bad: [0, -1, 1.5, Number.NaN] },
  s3Endpoint: { good: ["http://127.0.0.1:9000", "https://s3.example.com"], bad: ["", "ftp://x", "127.0.0.1:9000"] },
  compression: { good: ["auto", "gzip", "fast", "stored", "none"], bad: ["", "zip", "GZIP"] },
  modelLayout: { good: ["archive", "files"], bad: ["", "tree"] },
  onComplete: { good: ["keep", "package"], bad: ["", "drop"] },
  commitMarkers: { good: ["done", ".a, .b"], bad: ["", "a/b", "x,", ".."] },
  keepIntact: { good: ["off", "auto", "0", "500MB", "2GiB"], bad: ["", "lots", "-1", "2 parsecs"] },
  logLevel: { good: ["fatal", "error", "warn", "info", "debug", "trace", "silent"], bad: ["", "loud"] },
};

/** runTraining's options, exit aside (the compiler holds this list to TrainingOptions). */
const LIBRARY_NAMES: Record<Exclude<keyof TrainingOptions, "exit">, true> = {
  mlRoot: true, grace: true, checkpointDir: true, jobName: true, output: true, checkpointUri: true,
  keep: true, s3Endpoint: true, compression: true, modelLayout: true, onComplete: true, logLevel: true,
};

/** The option names runTraining takes a number for (the compiler holds this to TrainingOptions). */
type NumberNames = { [K in keyof TrainingOptions]-?: NonNullable<TrainingOptions[K]> extends number ? K : never }[keyof TrainingOptions];
const NUMBER_NAMES: Record<NumberNames, true> = { grace: true, keep: true };

type Outcome = { value: unknown } | { problem: string };

/** What one door made of a value: the value it settled, or the problem it refused it for; and the source it named. */
function outcome(key: keyof RunOptions, source: string, run: () => { options: object; sources: Partial<Record<string, string>> }): Outcome {
  try {
    const { options, sources } = run();
    expect(sources[key]).toBe(source);
    return { value: (options as Record<string, unknown>)[key] };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    expect(err.source).toBe(source);
    return { problem: err.problem };
  }
}

/** The spec's own validator on its own, with no caller around it. */
function validator(spec: OptionSpec, value: Value): Outcome {
  if (value === "") return { problem: "must not be empty" };
  try {
    return { value: (spec.parse as (v: Value, s: string) => unknown)(value, "x") };
  } catch (err) {
    return { problem: (err as ConfigError).problem };
  }
}

/** The same value through every door: `--flag value`, `--flag=value`, TRAINGUARD_*, and runTraining's object if it takes it. */
function throughEveryDoor(spec: OptionSpec, value: Value): Record<string, Outcome> {
  const text = String(value);
  const cli = (args: string[], env: NodeJS.ProcessEnv) => () => parseRunArgs([...args, "--", "cmd"], env);
  const doors: Record<string, Outcome> = {
    spaced: outcome(spec.key, `--${spec.flag}`, cli([`--${spec.flag}`, text], {})),
    joined: outcome(spec.key, `--${spec.flag}`, cli([`--${spec.flag}=${text}`], {})),
    env: outcome(spec.key, spec.env, cli([], { [spec.env]: text })),
  };
  if (spec.library !== undefined) {
    const given = { [spec.library]: value } as TrainingOptions;
    doors.library = outcome(spec.key, `runTraining option ${spec.library}`, () => {
      const resolved = resolveOptions(given, {});
      return { options: resolved, sources: resolved.sources };
    });
  }
  return doors;
}

describe("option specs: the CLI, the environment and runTraining check each option by its one spec", () => {
  it("the table's runTraining names are exactly TrainingOptions' (exit aside), numbers where it takes numbers", () => {
    expect(OPTION_SPECS.flatMap((s) => s.library ?? []).sort()).toEqual(Object.keys(LIBRARY_NAMES).sort());
    expect(OPTION_SPECS.filter((s) => s.type === "number").flatMap((s) => s.library ?? []).sort()).toEqual(Object.keys(NUMBER_NAMES).sort());
  });

  describe.each(OPTION_SPECS.map((s) => [s.library ?? `--${s.flag} (not runTraining's)`, s] as const))("%s", (_name, spec) => {
    const samples = SAMPLES[spec.key];

    it.each(samples.good.map((v) => [v]))("accepts %j through every door, as what the spec makes of it", (value) => {
      const direct = validator(spec, value);
      expect(direct).toHaveProperty("value");
      for (const seen of Object.values(throughEveryDoor(spec, value))) expect(seen).toEqual(direct);
    });

    it.each(samples.bad.map((v) => [v]))("refuses %j through every door, in the spec's own words", (value) => {
      const direct = validator(spec, value);
      expect(direct).toHaveProperty("problem");
      for (const seen of Object.values(throughEveryDoor(spec, value))) expect(seen).toEqual(direct);
    });

    if (spec.library !== undefined) {
      it("runTraining refuses a value of another type, naming the option (the CLI's text has no type)", () => {
        const wrong = spec.type === "number" ? String(samples.good[0]) : 3;
        expect(() => resolveOptions({ [spec.library as string]: wrong } as TrainingOptions, {})).toThrow(
          `runTraining option ${spec.library}: must be a ${spec.type}, got ${typeof wrong}`,
        );
      });
    } else {
      it("runTraining reads it from the environment only: a key of that name in its object is not an option", () => {
        const good = samples.good[0] as Value;
        const fromEnv = resolveOptions({}, { [spec.env]: String(good) });
        expect({ value: fromEnv[spec.key] }).toEqual(validator(spec, good));
        expect(fromEnv.sources[spec.key]).toBe(spec.env);
        expect(resolveOptions({ [spec.key]: good } as TrainingOptions, {})[spec.key]).toEqual(spec.default);
      });
    }
  });

  it("the defaults are the table's, for both", () => {
    const defaults = Object.fromEntries(OPTION_SPECS.map((s) => [s.key, s.default]));
    expect(parseRunArgs([], {})).toEqual({ options: defaults, sources: {}, rest: [] });
    expect(resolveOptions({}, {})).toEqual({ ...defaults, sources: {} });
  });
});

describe("option specs: one home", () => {
  const srcDir = path.resolve(import.meta.dirname, "../../src");
  const files = (readdirSync(srcDir, { recursive: true }) as string[]).filter((f) => f.endsWith(".ts"));

  // The fixed words of every validator of the table: each is written in exactly one file of src/.
  const REFUSALS: Record<string, string> = {
    "must be a number of seconds above": "options/values.ts",
    "must be a whole number of checkpoints": "options/values.ts",
    "must be one of": "options/values.ts",
    "must be an http(s) URL": "options/values.ts",
    "unknown signal ${JSON.stringify": "options/values.ts",
    "cannot be a checkpoint request": "options/values.ts",
    "must be comma-separated file names": "options/values.ts",
    "must be off, auto or a size": "options/values.ts",
    // Shared with checkpointconfig.json's LocalPath, in the lower layer.
    "must not be the root directory": "contract/config.ts",
  };

  it("every refusal of a table value is in words written once, in the lowest layer that needs them", () => {
    for (const spec of OPTION_SPECS) {
      for (const value of SAMPLES[spec.key].bad.filter((v) => v !== "")) {
        const { problem } = validator(spec, value) as { problem: string };
        expect({ problem, known: Object.keys(REFUSALS).some((words) => problem.includes(words.replace(/ \$\{.*/, ""))) }).toEqual({ problem, known: true });
      }
    }
    for (const [words, home] of Object.entries(REFUSALS)) {
      const holders = files.filter((f) => readFileSync(path.join(srcDir, f), "utf8").includes(words));
      expect({ words, holders }).toEqual({ words, holders: [home] });
    }
  });

  it("no file outside src/options refuses a table option by its flag or variable", () => {
    for (const file of files.filter((f) => !f.startsWith("options/"))) {
      const text = readFileSync(path.join(srcDir, file), "utf8");
      for (const spec of OPTION_SPECS) {
        expect({ file, refuses: text.includes(`ConfigError("--${spec.flag}"`) || text.includes(`ConfigError("${spec.env}"`) }).toEqual({ file, refuses: false });
      }
    }
  });

  it("the README lists every option with its variable in the table's order, and the ones runTraining takes from variables only", () => {
    const readme = readFileSync(path.resolve(import.meta.dirname, "../../README.md"), "utf8");
    const rows = [...readme.matchAll(/^\| `--([a-z0-9-]+) [^`]*` \| `(TRAINGUARD_[A-Z0-9_]+)` \|/gm)].map((m) => [m[1], m[2]]);
    expect(rows).toEqual(OPTION_SPECS.map((s) => [s.flag, s.env]));
    const envOnly = /`([^`]+)`, `([^`]+)`\s+and\s+`([^`]+)`\s+it reads from their variables only/.exec(readme)?.slice(1);
    expect(envOnly).toEqual(OPTION_SPECS.filter((s) => s.library === undefined).map((s) => `--${s.flag}`));
  });

  it("trainguard help lists every option with its variable", () => {
    const help = optionsHelp();
    for (const spec of OPTION_SPECS) expect(help).toMatch(new RegExp(`--${spec.flag} +${spec.help.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\n +env: ${spec.env}`));
  });
});
