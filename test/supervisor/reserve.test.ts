import { describe, expect, it } from "vitest";
import { checkpointReserveMs, DEFAULT_PACKAGING_BYTES_PER_SECOND, RESERVE_FLOOR_MS } from "../../src/supervisor/index.js";

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
