import { describe, expect, it } from "vitest";
import { giveUpReserveMs } from "../../src/storage/guard.js";

describe("giveUpReserveMs", () => {
  it("is a tenth of the time left, at least 50 ms and at most 1 s", () => {
    expect(giveUpReserveMs(100)).toBe(50);
    expect(giveUpReserveMs(2_000)).toBe(200);
    expect(giveUpReserveMs(60_000)).toBe(1_000);
    expect(giveUpReserveMs(-5)).toBe(50);
  });
});
