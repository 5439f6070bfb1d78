import { describe, expect, it } from "vitest";
import { checkExecLimits, envOrigins, execTotalLimit, MAX_EXEC_STRING_BYTES, mlPaths, type JobConfig } from "../../src/contract/index.js";

const paths = mlPaths("/opt/ml");
const config: JobConfig = {
  rawHyperparameters: {},
  hyperparameters: { "learning-rate": "0.1", big: "x" },
  resource: { currentHost: "algo-1", hosts: ["algo-1"], raw: {} },
  channels: [{ name: "train", dir: "/opt/ml/input/data/train", config: {} }],
  checkpoint: { localPath: undefined, s3Uri: undefined },
};
const origins = envOrigins(config, paths);

describe("exec limits, checked before the algorithm starts", () => {
  it("names the hyperparameter behind SM_HP_<NAME>, the channel behind SM_CHANNEL_<NAME>, the file behind SM_*", () => {
    expect(origins("SM_HP_LEARNING_RATE")).toEqual({ source: paths.hyperparameters, field: "learning-rate" });
    expect(origins("SM_CHANNEL_TRAIN")).toEqual({ source: paths.inputDataConfig, field: "train" });
    expect(origins("SM_HOSTS")).toEqual({ source: paths.resourceConfig, field: undefined });
    expect(origins("HOME")).toEqual({ source: "environment variable HOME", field: undefined });
  });

  it("refuses one variable over 128 KiB, blaming the most specific source first", () => {
    const big = "y".repeat(MAX_EXEC_STRING_BYTES);
    const env = { SM_HPS: JSON.stringify({ big }), SM_HP_BIG: big, SM_TRAINING_ENV: JSON.stringify({ big }) };
    expect(() => checkExecLimits(["train"], "run arguments", env, origins)).toThrow(`${paths.hyperparameters}: field "big": makes the algorithm's variable SM_HP_BIG ${MAX_EXEC_STRING_BYTES + 11} bytes; Linux passes at most 131072 bytes`);
  });

  it("refuses one argument over 128 KiB and any NUL byte, naming the argument", () => {
    expect(() => checkExecLimits(["a", "b".repeat(MAX_EXEC_STRING_BYTES)], "TRAINGUARD_COMMAND", {}, origins)).toThrow('TRAINGUARD_COMMAND: field "argument 1": is 131073 bytes');
    expect(() => checkExecLimits(["a\0b"], "run arguments", {}, origins)).toThrow('run arguments: field "argument 0": contains a NUL byte');
    expect(() => checkExecLimits(["a"], "run arguments", { SM_CURRENT_HOST: "a\0" }, origins)).toThrow(`${paths.resourceConfig}: field "current_host": would put a NUL byte into SM_CURRENT_HOST`);
  });

  it("refuses argv plus environment over the kernel's total, listing the largest variables", () => {
    const limit = execTotalLimit();
    const env = Object.fromEntries(Array.from({ length: Math.ceil(limit / 100_000) + 1 }, (_, i) => [`SM_HP_P${i}`, "z".repeat(100_000)]));
    expect(() => checkExecLimits(["a"], "run arguments", env, origins)).toThrow(new RegExp(`together; Linux allows ${limit} .*Largest: SM_HP_P`));
    expect(limit).toBeGreaterThanOrEqual(128 * 1024);
    expect(limit).toBeLessThanOrEqual(6 * 1024 * 1024);
  });

  it("passes what exec accepts", () => {
    expect(() => checkExecLimits(["python3", "train.py"], "run arguments", { SM_HP_BIG: "x".repeat(100_000), PATH: "/usr/bin" }, origins)).not.toThrow();
  });
});
