import { describe, expect, it } from "vitest";
import { jitteredBackoff, raceAbort } from "../../src/async/index.js";

describe("raceAbort", () => {
  it("settles with the promise when the signal does not fire, and lets go of the signal", async () => {
    const controller = new AbortController();
    await expect(raceAbort(Promise.resolve(7), controller.signal)).resolves.toBe(7);
    await expect(raceAbort(Promise.reject(new Error("no")), controller.signal)).rejects.toThrow("no");
    // Aborting afterwards changes nothing: the listeners are gone.
    controller.abort(new Error("late"));
  });

  it("rejects with the signal's reason when it fires first, and a later rejection of the work is handled", async () => {
    const controller = new AbortController();
    let fail: (err: Error) => void = () => undefined;
    const work = new Promise<number>((_resolve, reject) => {
      fail = reject;
    });
    const raced = raceAbort(work, controller.signal);
    controller.abort(new Error("deadline"));
    await expect(raced).rejects.toThrow("deadline");
    fail(new Error("the request failed after all")); // no unhandled rejection
    await expect(raceAbort(Promise.resolve(1), controller.signal)).rejects.toThrow("deadline");
  });
});

describe("jitteredBackoff", () => {
  it("doubles from the initial wait up to the maximum, in the upper half of each step", () => {
    for (let i = 0; i < 200; i++) {
      const first = jitteredBackoff(1, 200, 5_000);
      expect(first).toBeGreaterThanOrEqual(100);
      expect(first).toBeLessThanOrEqual(200);
      const third = jitteredBackoff(3, 200, 5_000);
      expect(third).toBeGreaterThanOrEqual(400);
      expect(third).toBeLessThanOrEqual(800);
      const capped = jitteredBackoff(20, 200, 5_000);
      expect(capped).toBeGreaterThanOrEqual(2_500);
      expect(capped).toBeLessThanOrEqual(5_000);
    }
  });
});
