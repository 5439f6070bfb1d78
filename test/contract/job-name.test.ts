import { describe, expect, it } from "vitest";
import { ConfigError, generateJobName, resolveJobName, validateJobName } from "../../src/contract/index.js";

describe("job names, validated as StopTrainingJob does", () => {
  it.each(["a", "job-1", "A1--b2", "x".repeat(63), "0abc"])("accepts %s", (name) => {
    expect(validateJobName(name, "--job-name")).toBe(name);
  });

  it.each([
    ["", /1 to 63 characters/],
    ["x".repeat(64), /1 to 63 characters, got 64/],
    ["-lead", /must match/],
    ["trail-", /must match/],
    ["under_score", /must match/],
    ["dot.name", /must match/],
    ["spa ce", /must match/],
    ["ünicode", /must match/],
  ])("refuses %j", (name, problem) => {
    expect(() => validateJobName(name, "--job-name")).toThrow(ConfigError);
    expect(() => validateJobName(name, "--job-name")).toThrow(problem);
  });

  it("prefers the option, then TRAINING_JOB_NAME, then a generated name", () => {
    expect(resolveJobName("opt", { TRAINING_JOB_NAME: "env" })).toBe("opt");
    expect(resolveJobName(undefined, { TRAINING_JOB_NAME: "env" })).toBe("env");
    expect(resolveJobName(undefined, {})).toMatch(/^trainguard-local-\d{14}-[0-9a-f]{6}$/);
  });

  it("names the variable that holds a bad name", () => {
    expect(() => resolveJobName(undefined, { TRAINING_JOB_NAME: "bad_name" })).toThrow(/^TRAINING_JOB_NAME: /);
  });

  it("generates names that pass validation", () => {
    for (let i = 0; i < 20; i += 1) expect(validateJobName(generateJobName(), "generated")).toBeTruthy();
  });
});
