import { afterAll, describe, expect, it } from "vitest";
import path from "node:path";
import type { Readable } from "node:stream";
import { packageCheckpoint, selectCheckpoint, type ProgressInfo } from "../../src/artifacts/index.js";
import { commit, removeTempDirs, tempDir, textData, writeTree } from "./helpers.js";

afterAll(removeTempDirs);

/** Longer than the report interval (250 ms). */
const PAUSE_MS = 600;

describe("progress", () => {
  it("reports bytes, total, rate and time left, at most 4 times a second, ending at the total", async () => {
    const ck = await tempDir();
    await writeTree(path.join(ck, "c"), { "a.txt": textData(24 << 20), "b.txt": textData(8 << 20, 2) });
    await commit(path.join(ck, "c"), 1);
    const sel = await selectCheckpoint(ck);
    if (sel.kind === "none") throw new Error(sel.reason);
    const seen: (ProgressInfo & { at: number })[] = [];
    // The follower (an upload's reader) is handed its stream as the attempt starts, after the
    // meter's clock started: blocking this thread there once means the first bytes are counted
    // after the pause, so a report comes mid-run however fast this machine is.
    let consumed: Promise<void> = Promise.resolve();
    const slowStart = (stream: Readable): void => {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, PAUSE_MS);
      consumed = (async () => {
        for await (const _chunk of stream);
      })();
    };
    const started = Date.now();
    const result = await packageCheckpoint(sel, {
      modelDir: await tempDir(),
      jobName: "j",
      reason: "Stopped",
      compression: "gzip",
      layout: "archive",
      onProgress: (p) => seen.push({ ...p, at: Date.now() }),
      follow: slowStart,
    });
    await consumed;
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(PAUSE_MS);
    expect(seen.length).toBeGreaterThan(1);
    expect(seen.length).toBeLessThanOrEqual(Math.ceil(elapsed / 250) + 1);
    for (let i = 1; i < seen.length; i++) {
      const [a, b] = [seen[i - 1], seen[i]] as [ProgressInfo & { at: number }, ProgressInfo & { at: number }];
      expect(b.bytes).toBeGreaterThanOrEqual(a.bytes);
      // The final report comes whatever the throttle says; the others are 250 ms apart.
      if (i < seen.length - 1) expect(b.at - a.at).toBeGreaterThanOrEqual(240);
    }
    const last = seen[seen.length - 1] as ProgressInfo;
    expect(last.bytes).toBe(last.totalBytes);
    expect(last.totalBytes).toBeGreaterThan(32 << 20);
    expect(last.msLeft).toBe(0);
    const mid = seen[0] as ProgressInfo;
    expect(mid.rateBytesPerSec).toBeGreaterThan(0);
    expect(mid.msLeft).toBeGreaterThan(0);
    expect(result.bytes).toBeLessThan(last.totalBytes);
  });
});
