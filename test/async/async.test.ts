import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import { jitteredBackoff, raceAbort } from "../../src/async/index.js";

describe("raceAbort", () => {
  it("settles with the promise when the signal does not fire, and lets go of the signal", async () => {
    const controller = new AbortController();
    let finish: (value: number) => void = () => undefined;
    const pending = raceAbort(new Promise<number>((resolve) => (finish = resolve)), controller.signal);
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(1);
    finish(7);
    await expect(pending).resolves.toBe(7);
    await expect(raceAbort(Promise.reject(new Error("no")), controller.signal)).rejects.toThrow("no");
    // Settled races leave nothing attached to the signal: a long-lived one would keep their values alive.
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
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
