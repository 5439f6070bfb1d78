import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/contract/index.js";
import { Hyperparameters } from "../../src/library/hyperparameters.js";

const SOURCE = "/opt/ml/input/config/hyperparameters.json";

/** What SageMaker writes: every value a string (framework estimators JSON-encode them first). */
const hp = new Hyperparameters(
  {
    epochs: "10",
    lr: "0.001",
    lr_text: "1.0",
    big: "1e3",
    signed: "-2.5",
    padded: " 7 ",
    model: '"resnet"',
    plain: "resnet",
    flag: "True",
    flag2: "false",
    layers: "[64, 32]",
    config: '{"dropout": 0.1}',
    native_number: 4,
    native_bool: true,
    native_list: [1, 2],
    empty: "",
    word: "ten",
    fraction: "3.5",
    hex: "0x10",
    inf: "Infinity",
    nan: "NaN",
    yes: "yes",
    one: "1",
    broken_json: "[1, 2",
    object_value: '{"a": 1}',
    null_value: "null",
    huge: "1e30",
  },
  SOURCE,
);

describe("Hyperparameters: typed getters", () => {
  it("reads what SageMaker and the Python SDK write", () => {
    expect(hp.integer("epochs")).toBe(10);
    expect(hp.number("lr")).toBe(0.001);
    expect(hp.integer("big")).toBe(1000);
    expect(hp.number("signed")).toBe(-2.5);
    expect(hp.integer("padded")).toBe(7);
    expect(hp.number("native_number")).toBe(4);
    // A string keeps its text; a JSON-encoded one is decoded.
    expect(hp.string("lr_text")).toBe("1.0");
    expect(hp.string("model")).toBe("resnet");
    expect(hp.string("plain")).toBe("resnet");
    expect(hp.string("epochs")).toBe("10");
    expect(hp.boolean("flag")).toBe(true);
    expect(hp.boolean("flag2")).toBe(false);
    expect(hp.boolean("native_bool")).toBe(true);
    expect(hp.json<number[]>("layers")).toEqual([64, 32]);
    expect(hp.json("config")).toEqual({ dropout: 0.1 });
    expect(hp.json("native_list")).toEqual([1, 2]);
    expect(hp.json("null_value")).toBeNull();
    // Decoded as the AWS toolkit does, for ctx.hyperparameters.
    expect(hp.all.epochs).toBe(10);
    expect(hp.all.plain).toBe("resnet");
  });

  it("falls back only when the hyperparameter is absent, never when it is malformed", () => {
    expect(hp.number("absent", 0.5)).toBe(0.5);
    expect(hp.integer("absent", 3)).toBe(3);
    expect(hp.string("absent", "x")).toBe("x");
    expect(hp.boolean("absent", false)).toBe(false);
    expect(hp.json("absent", [1])).toEqual([1]);
    expect(() => hp.number("word", 1)).toThrow(/"word"/);
  });

  const malformed: Array<[string, (name: string) => unknown, string, RegExp]> = [
    ["word", (n) => hp.number(n), "word", /must be a finite number.*got "ten"/],
    ["empty", (n) => hp.number(n), "empty", /must be a finite number.*got ""/],
    ["hex", (n) => hp.number(n), "hex", /must be a finite number.*got "0x10"/],
    ["inf", (n) => hp.number(n), "inf", /must be a finite number.*got "Infinity"/],
    ["nan", (n) => hp.number(n), "nan", /must be a finite number.*got "NaN"/],
    ["flag as number", (n) => hp.number(n), "flag", /must be a finite number.*got "True"/],
    ["native bool as number", (n) => hp.number(n), "native_bool", /must be a finite number.*got true/],
    ["fraction as integer", (n) => hp.integer(n), "fraction", /must be an integer.*got "3.5"/],
    ["huge as integer", (n) => hp.integer(n), "huge", /must be an integer.*got "1e30"/],
    ["word as integer", (n) => hp.integer(n), "word", /must be an integer.*got "ten"/],
    ["yes as boolean", (n) => hp.boolean(n), "yes", /must be true or false.*got "yes"/],
    ["1 as boolean", (n) => hp.boolean(n), "one", /must be true or false.*got "1"/],
    ["empty as boolean", (n) => hp.boolean(n), "empty", /must be true or false.*got ""/],
    ["list as string", (n) => hp.string(n), "layers", /must be a string.*got "\[64, 32\]"/],
    ["object as string", (n) => hp.string(n), "object_value", /must be a string/],
    ["null as string", (n) => hp.string(n), "null_value", /must be a string.*got "null"/],
    ["broken JSON", (n) => hp.json(n), "broken_json", /must be JSON/],
    ["plain word as JSON", (n) => hp.json(n), "plain", /must be JSON.*got "resnet"/],
  ];
  for (const [what, get, name, problem] of malformed) {
    it(`${what}: a ConfigError naming ${JSON.stringify(name)}, the file, the value and the type wanted`, () => {
      let error: unknown;
      try {
        get(name);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ConfigError);
      const configError = error as ConfigError;
      expect(configError.field).toBe(name);
      expect(configError.source).toBe(SOURCE);
      expect(configError.message).toContain(`${SOURCE}: field "${name}": hyperparameter must be`);
      expect(configError.message).toMatch(problem);
    });
  }

  for (const getter of ["number", "integer", "string", "boolean", "json"] as const) {
    it(`${getter}() of a missing hyperparameter without a fallback says it is required`, () => {
      expect(() => hp[getter]("learning_rate")).toThrow(`${SOURCE}: field "learning_rate": hyperparameter is required but was not given`);
    });
  }
});
