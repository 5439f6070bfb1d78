import { describe, expect, it } from "vitest";
import { largestFirst } from "../../src/sync/upload.js";

describe("the order a checkpoint's files are sent in", () => {
  it("is largest first (the long transfer starts at once), ties by path, without changing the input", () => {
    const files = [
      { rel: "a/small.json", size: 10 },
      { rel: "model.bin", size: 1 << 30 },
      { rel: "b/tiny", size: 10 },
      { rel: "optim/state.bin", size: 4096 },
    ];
    const before = files.map((f) => f.rel);
    expect(largestFirst(files).map((f) => f.rel)).toEqual(["model.bin", "optim/state.bin", "a/small.json", "b/tiny"]);
    expect(files.map((f) => f.rel)).toEqual(before);
  });
});
