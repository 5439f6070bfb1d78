import { afterAll, afterEach, describe, expect, it } from "vitest";
import { mkdir, open, writeFile } from "node:fs/promises";
import type { ChildProcess } from "node:child_process";
import path from "node:path";
import { DEFAULT_COMMIT_MARKERS, estimatePackageBytes, selectCheckpoint } from "../../src/artifacts/index.js";
import { commit, holdOpenForWriting, removeTempDirs, tempDir, writeTree } from "./helpers.js";

afterAll(removeTempDirs);

describe("selectCheckpoint", () => {
  it("picks the complete checkpoint with the newest marker and ignores a newer incomplete one", async () => {
    const ck = await tempDir();
    await writeTree(path.join(ck, "checkpoint-99"), { "model.pt": "old" });
    await commit(path.join(ck, "checkpoint-99"), 1_000);
    await writeTree(path.join(ck, "checkpoint-100"), { "model.pt": "newer", "nested/opt.pt": "o" });
    await commit(path.join(ck, "checkpoint-100"), 2_000);
    // Newest of all, but never committed: a save cut off by the stop.
    await writeTree(path.join(ck, "checkpoint-101"), { "model.pt": "half" });

    const sel = await selectCheckpoint(ck);
    expect(sel.kind).toBe("directory");
    if (sel.kind !== "directory") return;
    expect(sel.name).toBe("checkpoint-100");
    expect(sel.incomplete).toEqual(["checkpoint-101"]);
    expect(sel.files.map((f) => f.path)).toEqual([".trainguard-commit", "model.pt", "nested", "nested/opt.pt"]);
    expect(sel.files.find((f) => f.path === "model.pt")?.size).toBe(5);
  });

  it("breaks a marker-mtime tie by name, numerically", async () => {
    const ck = await tempDir();
    for (const name of ["step-9", "step-10"]) {
      await writeTree(path.join(ck, name), { w: name });
      await commit(path.join(ck, name), 5_000);
    }
    const sel = await selectCheckpoint(ck);
    expect(sel.kind === "directory" && sel.name).toBe("step-10");
  });

  it("uses the marker list it is given (PyTorch DCP .metadata by default, custom ones on request)", async () => {
    const ck = await tempDir();
    await writeTree(path.join(ck, "dcp"), { "__0_0.distcp": "x", ".metadata": "m" });
    await writeTree(path.join(ck, "custom"), { "w.bin": "y", DONE: "" });
    const byDefault = await selectCheckpoint(ck);
    expect(DEFAULT_COMMIT_MARKERS).toContain(".metadata");
    expect(byDefault.kind === "directory" && byDefault.name).toBe("dcp");

    const custom = await selectCheckpoint(ck, { markers: ["DONE"] });
    expect(custom.kind === "directory" && custom.name).toBe("custom");
    expect(custom.kind === "directory" && custom.incomplete).toEqual(["dcp"]);
  });

  it("returns none with a reason when no subdirectory is complete", async () => {
    const ck = await tempDir();
    await writeTree(path.join(ck, "checkpoint-1"), { "model.pt": "partial" });
    const sel = await selectCheckpoint(ck);
    expect(sel.kind).toBe("none");
    if (sel.kind !== "none") return;
    expect(sel.reason).toMatch(/no complete checkpoint/);
    expect(sel.reason).toMatch(/\.trainguard-commit/);
    expect(sel.incomplete).toEqual(["checkpoint-1"]);
  });

  it("returns none for a missing or empty checkpoint dir", async () => {
    const root = await tempDir();
    const missing = await selectCheckpoint(path.join(root, "nope"));
    expect(missing.kind === "none" && missing.reason).toMatch(/does not exist/);
    await mkdir(path.join(root, "empty"));
    const empty = await selectCheckpoint(path.join(root, "empty"));
    expect(empty.kind === "none" && empty.reason).toMatch(/is empty/);
  });

  describe("flat checkpoint dir", () => {
    let holder: ChildProcess | undefined;
    afterEach(() => {
      holder?.kill("SIGKILL");
      holder = undefined;
    });

    it("packages the files nobody writes, and reports one a live process holds open for writing", async () => {
      const ck = await tempDir();
      await writeTree(ck, { "model.pt": "stable weights", "config.json": "{}" });
      holder = await holdOpenForWriting(path.join(ck, "optimizer.pt"));
      // A reader does not make a file busy.
      const reader = await open(path.join(ck, "config.json"), "r");
      const sel = await selectCheckpoint(ck).finally(() => reader.close());
      expect(sel.kind).toBe("flat");
      if (sel.kind !== "flat") return;
      expect(sel.files.map((f) => f.path)).toEqual(["config.json", "model.pt"]);
      expect(sel.skipped).toHaveLength(1);
      expect(sel.skipped[0]?.path).toBe("optimizer.pt");
      expect(sel.skipped[0]?.reason).toContain(`open for writing by pid ${holder.pid}`);

      holder.kill("SIGKILL");
      await new Promise((r) => holder?.once("exit", r));
      const after = await selectCheckpoint(ck);
      expect(after.kind === "flat" && after.files.map((f) => f.path)).toEqual(["config.json", "model.pt", "optimizer.pt"]);
    });

    it("returns none when every file is being written", async () => {
      const ck = await tempDir();
      holder = await holdOpenForWriting(path.join(ck, "model.pt"));
      const sel = await selectCheckpoint(ck);
      expect(sel.kind).toBe("none");
      expect(sel.kind === "none" && sel.reason).toMatch(/open for writing/);
    });
  });

  it("estimates bytes from stat alone: content plus tar headers", async () => {
    const ck = await tempDir();
    await writeTree(path.join(ck, "c1"), { "a.bin": Buffer.alloc(10_000), "b.bin": Buffer.alloc(600) });
    await commit(path.join(ck, "c1"), 100);
    await writeFile(path.join(ck, "c1", "..", "ignored"), "top-level file next to checkpoints");
    const bytes = await estimatePackageBytes(ck);
    // 3 entries (a, b, marker): headers 3*512, content 10240+1024+512, end 1024, manifest allowance 1024.
    expect(bytes).toBe(3 * 512 + 10_240 + 1_024 + 512 + 2_048);
    expect(await estimatePackageBytes(path.join(ck, "missing"))).toBe(0);
  });

  it("stops estimating when its signal aborts, instead of answering 0 for a walk it did not finish", async () => {
    const ck = await tempDir();
    await writeTree(path.join(ck, "c1"), Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`f${i}.bin`, Buffer.alloc(10)])));
    await commit(path.join(ck, "c1"), 100);
    const aborted = AbortSignal.abort(new Error("training ended"));
    await expect(estimatePackageBytes(ck, { signal: aborted })).rejects.toThrow("training ended");
    expect(await estimatePackageBytes(ck, { signal: new AbortController().signal })).toBeGreaterThan(50 * 512);
  });
});
