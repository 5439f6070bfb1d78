import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/contract/index.js";
import { parseRunArgs, parseStopSignal, parseTrainCommand } from "../../src/supervisor/index.js";

describe("run options", () => {
  it("has the documented defaults", () => {
    const { options, rest } = parseRunArgs(["--", "python3", "train.py"], {});
    expect(options).toMatchObject({ graceSeconds: 120, stopSignal: "SIGTERM", mlRoot: undefined, checkpointDir: undefined, jobName: undefined });
    expect(rest).toEqual(["python3", "train.py"]);
  });

  it("stops at the first non-option so the algorithm keeps its own flags", () => {
    const { options, rest } = parseRunArgs(["--grace", "30", "python3", "train.py", "--grace", "5"], {});
    expect(options.graceSeconds).toBe(30);
    expect(rest).toEqual(["python3", "train.py", "--grace", "5"]);
  });

  it("reads TRAINGUARD_<NAME> and lets the command line win", () => {
    const env = { TRAINGUARD_GRACE: "60", TRAINGUARD_STOP_SIGNAL: "INT", TRAINGUARD_ML_ROOT: "/tmp/ml", TRAINGUARD_CHECKPOINT_DIR: "/ck" };
    expect(parseRunArgs(["--", "x"], env).options).toMatchObject({ graceSeconds: 60, stopSignal: "SIGINT", mlRoot: "/tmp/ml", checkpointDir: "/ck" });
    expect(parseRunArgs(["--grace=10", "--", "x"], env).options.graceSeconds).toBe(10);
  });

  it.each([
    [["--grace", "0", "--", "x"], /--grace: must be a number of seconds above 0/],
    [["--grace", "ten", "--", "x"], /--grace: .*"ten"/],
    [["--grace", "-5", "--", "x"], /--grace/],
    [["--stop-signal", "SIGKILL", "--", "x"], /SIGKILL cannot be a checkpoint request/],
    [["--stop-signal", "NOPE", "--", "x"], /unknown signal "NOPE"/],
    [["--bogus", "1", "--", "x"], /--bogus: unknown option/],
    [["--grace"], /--grace: needs a value/],
    [["--log-level", "loud", "--", "x"], /--log-level: must be one of/],
  ])("refuses %j clearly", (args, problem) => {
    expect(() => parseRunArgs(args as string[], {})).toThrow(ConfigError);
    expect(() => parseRunArgs(args as string[], {})).toThrow(problem);
  });

  it("places the checkpoint's files in the model dir under a platform that tars it (TRAINING_JOB_NAME set), unless told otherwise", () => {
    expect(parseRunArgs(["--", "x"], {}).options.modelLayout).toBe("archive");
    expect(parseRunArgs(["--", "x"], { TRAINING_JOB_NAME: "job-1" }).options.modelLayout).toBe("files");
    expect(parseRunArgs(["--model-layout", "archive", "--", "x"], { TRAINING_JOB_NAME: "job-1" }).options.modelLayout).toBe("archive");
    expect(parseRunArgs(["--", "x"], { TRAINING_JOB_NAME: "job-1", TRAINGUARD_MODEL_LAYOUT: "archive" }).options.modelLayout).toBe("archive");
    // With --output the default stays the local archive that the upload copies as it is written.
    expect(parseRunArgs(["--output", "s3://b/p", "--", "x"], { TRAINING_JOB_NAME: "job-1" }).options.modelLayout).toBe("archive");
  });

  it("names the variable when the environment holds a bad value", () => {
    expect(() => parseRunArgs(["--", "x"], { TRAINGUARD_GRACE: "soon" })).toThrow(/^TRAINGUARD_GRACE: /);
  });

  it("accepts signal names with or without SIG, and numbers", () => {
    expect(parseStopSignal("USR2", "x")).toBe("SIGUSR2");
    expect(parseStopSignal("sigint", "x")).toBe("SIGINT");
    expect(parseStopSignal("15", "x")).toBe("SIGTERM");
  });
});

describe("TRAINGUARD_COMMAND", () => {
  it("is a JSON argv array, never a shell line", () => {
    expect(parseTrainCommand({ TRAINGUARD_COMMAND: '["python3","train.py","--epochs","3"]' })).toEqual(["python3", "train.py", "--epochs", "3"]);
  });
  it.each([
    [undefined, /is not set/],
    ["", /is not set/],
    ["python3 train.py", /not JSON/],
    ["[]", /non-empty JSON array/],
    ['["python3", 3]', /non-empty JSON array of strings/],
    ['{"cmd":"x"}', /non-empty JSON array/],
  ])("refuses %j naming the variable", (value, problem) => {
    const env = value === undefined ? {} : { TRAINGUARD_COMMAND: value };
    expect(() => parseTrainCommand(env)).toThrow(/^TRAINGUARD_COMMAND: /);
    expect(() => parseTrainCommand(env)).toThrow(problem);
  });
});

describe("run options: where each value came from, and -- as the end of options", () => {
  it("records the option or variable that set each value", () => {
    const { sources } = parseRunArgs(["--output", "s3://b/p", "--", "x"], { TRAINGUARD_JOB_NAME: "job-1", TRAINGUARD_OUTPUT: "file:///o" });
    expect(sources).toMatchObject({ output: "--output", jobName: "TRAINGUARD_JOB_NAME" });
  });

  it("never takes -- as an option's value", () => {
    expect(() => parseRunArgs(["--checkpoint-dir", "--", "cmd"], {})).toThrow("--checkpoint-dir: needs a value");
    expect(parseRunArgs(["--checkpoint-dir=--", "--", "cmd"], {}).options.checkpointDir).toBe("--");
  });

  it("lenient parsing finds the ml-root as the real parser does, past bad values, never after the command", () => {
    expect(parseRunArgs(["--grace", "abc", "--ml-root=/x/ml=x", "--", "x"], {}, "lenient").options.mlRoot).toBe("/x/ml=x");
    expect(parseRunArgs(["--grace", "abc", "cmd", "--ml-root", "/other"], { TRAINGUARD_ML_ROOT: "/env" }, "lenient").options.mlRoot).toBe("/env");
    expect(parseRunArgs(["--bogus", "--ml-root", "/after"], {}, "lenient").options.mlRoot).toBeUndefined();
  });

  it("refuses the root directory as the checkpoint dir", () => {
    expect(() => parseRunArgs(["--checkpoint-dir", "//", "--", "x"], {})).toThrow("--checkpoint-dir: must not be the root directory");
  });
});

describe("--keep-intact", () => {
  it("is auto by default, off or 0 turns it off, sizes take decimal and binary units", () => {
    expect(parseRunArgs([], {}).options.keepIntact).toBe("auto");
    expect(parseRunArgs(["--keep-intact", "off"], {}).options.keepIntact).toBe("off");
    expect(parseRunArgs(["--keep-intact", "0"], {}).options.keepIntact).toBe("off");
    expect(parseRunArgs(["--keep-intact=500MB"], {}).options.keepIntact).toBe(500_000_000);
    expect(parseRunArgs([], { TRAINGUARD_KEEP_INTACT: "2GiB" }).options.keepIntact).toBe(2 * 1024 ** 3);
  });

  it("names the option and what it takes for anything else", () => {
    expect(() => parseRunArgs(["--keep-intact", "lots"], {})).toThrow(ConfigError);
    expect(() => parseRunArgs([], { TRAINGUARD_KEEP_INTACT: "-1" })).toThrow(/TRAINGUARD_KEEP_INTACT.*off, auto or a size/);
  });
});
