import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { MAX_PARTS, PartReader, partSizeFor } from "../../src/storage/parts.js";

const MiB = 1024 * 1024;

describe("partSizeFor", () => {
  it("keeps the base size while it fits in 10,000 parts", () => {
    expect(partSizeFor(1, 8 * MiB, 20 * MiB)).toBe(8 * MiB);
    expect(partSizeFor(1, 8 * MiB, 8 * MiB * MAX_PARTS)).toBe(8 * MiB);
  });

  it("grows, in whole MiB, when the known size would need more than 10,000 parts", () => {
    const size = 1e12; // a 1 TB archive
    const part = partSizeFor(1, 8 * MiB, size);
    expect(part % MiB).toBe(0);
    expect(Math.ceil(size / part)).toBeLessThanOrEqual(MAX_PARTS);
    expect(part).toBe(96 * MiB);
  });

  it("with no size known, doubles every 2,000 parts so 10,000 parts reach far", () => {
    expect(partSizeFor(2_000, 8 * MiB, undefined)).toBe(8 * MiB);
    expect(partSizeFor(2_001, 8 * MiB, undefined)).toBe(16 * MiB);
    expect(partSizeFor(10_000, 8 * MiB, undefined)).toBe(128 * MiB);
    let total = 0;
    for (let n = 1; n <= MAX_PARTS; n++) total += partSizeFor(n, 8 * MiB, undefined);
    expect(total / 1024 ** 3).toBeGreaterThan(480);
  });
});

describe("PartReader", () => {
  const chunks = (sizes: number[]) => Readable.from(sizes.map((n, i) => Buffer.alloc(n, i + 1)));

  it("cuts parts across chunk boundaries and marks the last one, with no empty tail part", async () => {
    const reader = new PartReader(chunks([3, 3, 3, 1]), undefined);
    const a = await reader.next(4);
    expect([...a.data]).toEqual([1, 1, 1, 2]);
    expect(a.last).toBe(false);
    const b = await reader.next(4);
    expect([...b.data]).toEqual([2, 2, 3, 3]);
    expect(b.last).toBe(false);
    const c = await reader.next(4);
    expect([...c.data]).toEqual([3, 4]);
    expect(c.last).toBe(true);
    expect(reader.bytesRead).toBe(10);
  });

  it("knows a part that ends exactly with the stream is the last", async () => {
    const reader = new PartReader(chunks([4, 4]), 8);
    expect((await reader.next(4)).last).toBe(false);
    const last = await reader.next(4);
    expect(last.data.length).toBe(4);
    expect(last.last).toBe(true);
  });

  it("refills a recycled buffer instead of allocating", async () => {
    const reader = new PartReader(chunks([4, 4, 2]), undefined);
    const first = await reader.next(4);
    const second = await reader.next(4, first.buffer);
    expect(second.buffer).toBe(first.buffer);
    expect([...second.data]).toEqual([2, 2, 2, 2]);
  });

  it("fails as soon as the source passes the expected size", async () => {
    const reader = new PartReader(chunks([4, 4, 4]), 6);
    await expect(reader.next(16)).rejects.toThrow(/more than the expected 6 bytes/);
  });
});

describe("PartReader over a fillable source (read straight into the part)", () => {
  /** A source whose fill returns at most `step` bytes per call, like a file followed while written. */
  const fillable = (bytes: Buffer, step: number) => {
    let position = 0;
    const stream = Readable.from([]) as Readable & { fill(into: Uint8Array, offset: number, length: number): Promise<number> };
    let streamUsed = false;
    stream.on("data", () => (streamUsed = true));
    stream.fill = async (into, offset, length) => {
      const n = Math.min(step, length, bytes.length - position);
      bytes.copy(into, offset, position, position + n);
      position += n;
      return n;
    };
    return { stream, streamUsed: () => streamUsed };
  };
  const bytes = Buffer.from(Array.from({ length: 23 }, (_, i) => i));

  it("fills parts across fill() calls, marks the last one, and never reads the stream", async () => {
    const { stream, streamUsed } = fillable(bytes, 3);
    const reader = new PartReader(stream, undefined);
    const parts: number[][] = [];
    for (;;) {
      const part = await reader.next(10);
      parts.push([...part.data]);
      if (part.last) break;
    }
    expect(parts.flat()).toEqual([...bytes]);
    expect(parts.map((p) => p.length)).toEqual([10, 10, 3]);
    expect(reader.bytesRead).toBe(23);
    expect(streamUsed()).toBe(false);
  });

  it("knows a part that ends exactly with the source is the last, with no empty tail part", async () => {
    const reader = new PartReader(fillable(bytes.subarray(0, 20), 7).stream, 20);
    expect((await reader.next(10)).last).toBe(false);
    const last = await reader.next(10);
    expect(last.data.length).toBe(10);
    expect(last.last).toBe(true);
  });

  it("fails as soon as the source passes the expected size", async () => {
    const reader = new PartReader(fillable(bytes, 5).stream, 12);
    await expect(reader.next(16)).rejects.toThrow(/more than the expected 12 bytes/);
  });
});
