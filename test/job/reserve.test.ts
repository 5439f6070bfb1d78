import { describe, expect, it } from "vitest";
import { checkpointReserveMs, DEFAULT_PACKAGING_BYTES_PER_SECOND, RESERVE_FLOOR_MS } from "../../src/job/index.js";
import { REMEASURE_AT_STOP_MS, remeasureAtStop } from "../../src/job/margins.js";

const GiB = 1024 ** 3;

describe("checkpointReserveMs", () => {
  it("keeps the floor for small checkpoints", () => {
    expect(checkpointReserveMs(0, 120_000)).toBe(RESERVE_FLOOR_MS);
    expect(checkpointReserveMs(1024 * 1024, 120_000)).toBe(RESERVE_FLOOR_MS);
  });

  it("grows with the bytes to package, with a safety factor over the packaging rate", () => {
    const oneGiB = checkpointReserveMs(GiB, 120_000);
    const twoGiB = checkpointReserveMs(2 * GiB, 120_000);
    const packagingMs = (GiB / DEFAULT_PACKAGING_BYTES_PER_SECOND) * 1000;
    expect(oneGiB).toBeGreaterThan(packagingMs);
    expect(twoGiB - oneGiB).toBeCloseTo(1.5 * packagingMs, -1);
  });

  it("never takes more than half the budget, so the algorithm always gets time to save", () => {
    expect(checkpointReserveMs(100 * GiB, 120_000)).toBe(60_000);
    expect(checkpointReserveMs(0, 3_000)).toBe(1_500);
  });

  it("uses a measured packaging rate when given one", () => {
    const fast = checkpointReserveMs(4 * GiB, 120_000, 1024 * 1024 * 1024);
    const slow = checkpointReserveMs(4 * GiB, 120_000, 50 * 1024 * 1024);
    expect(fast).toBeLessThan(slow);
  });
});

describe("remeasureAtStop", () => {
  const GRACE = 20_000;
  const DEADLINE = 1_000_000;
  const floorDeadline = DEADLINE - checkpointReserveMs(0, GRACE);

  it("moves the checkpoint deadline earlier for a checkpoint bigger than the estimate", async () => {
    const bytes = 343 * 1024 * 1024;
    expect(await remeasureAtStop(async () => bytes, DEADLINE, GRACE, floorDeadline)).toBe(DEADLINE - checkpointReserveMs(bytes, GRACE));
  });

  it("never moves it later, and gives up on a measurement that fails or takes longer than REMEASURE_AT_STOP_MS", async () => {
    expect(await remeasureAtStop(async () => 10, DEADLINE, GRACE, floorDeadline)).toBeUndefined();
    expect(await remeasureAtStop(async () => Promise.reject(new Error("EIO")), DEADLINE, GRACE, floorDeadline)).toBeUndefined();
    const started = Date.now();
    const slow = (): Promise<number> => new Promise((resolve) => setTimeout(() => resolve(1e12), REMEASURE_AT_STOP_MS + 2_000));
    expect(await remeasureAtStop(slow, DEADLINE, GRACE, floorDeadline)).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(REMEASURE_AT_STOP_MS + 1_000);
  });
});
