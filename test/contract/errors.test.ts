import { describe, expect, it } from "vitest";
import { describeError, errnoCode, errorMessage } from "../../src/contract/index.js";

describe("error formatting", () => {
  it("errorMessage: an Error's message, anything else as a string", () => {
    expect(errorMessage(new TypeError("bad input"))).toBe("bad input");
    expect(errorMessage("plain")).toBe("plain");
    expect(errorMessage(42)).toBe("42");
  });

  it("errnoCode: the code of a system error, undefined otherwise", () => {
    expect(errnoCode(Object.assign(new Error("x"), { code: "ENOSPC" }))).toBe("ENOSPC");
    expect(errnoCode(new Error("x"))).toBeUndefined();
    expect(errnoCode(null)).toBeUndefined();
  });

  it("describeError: name, code and HTTP status on one line", () => {
    const err = Object.assign(new Error("slow\ndown"), { name: "S3ServiceException", code: "SlowDown", $metadata: { httpStatusCode: 503 } });
    expect(describeError(err)).toBe("S3ServiceException SlowDown HTTP 503: slow down");
  });
});
