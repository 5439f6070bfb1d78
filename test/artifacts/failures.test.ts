import { afterAll, describe, expect, it } from "vitest";
import { appendFile, open, readdir, stat, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { PackagingError, packageCheckpoint, selectCheckpoint, verifyArchive, type PackableSelection } from "../../src/artifacts/index.js";
import { commit, isRoot, randomData, removeTempDirs, run, tempDir, textData, writeTree } from "./helpers.js";

afterAll(removeTempDirs);

async function select(ck: string): Promise<PackableSelection> {
  const sel = await selectCheckpoint(ck);
  if (sel.kind === "none") throw new Error(sel.reason);
  return sel;
}

/** A valid archive from a small checkpoint, so a failed replacement has something to spoil. */
async function previousArchive(modelDir: string): Promise<{ sha256: string; bytes: number }> {
  const ck = await tempDir();
  await writeTree(path.join(ck, "old"), { "model.pt": "previous good model" });
  await commit(path.join(ck, "old"), 10);
  const r = await packageCheckpoint(await select(ck), { modelDir, jobName: "j", reason: "Completed", compression: "gzip", layout: "archive" });
  return { sha256: r.sha256, bytes: r.bytes };
}

async function expectOnlyFinalNames(modelDir: string): Promise<void> {
  expect((await readdir(modelDir)).sort()).toEqual(["model.tar.gz", "model.tar.gz.manifest.json"]);
}

async function expectPreviousIntact(modelDir: string, previous: { bytes: number }): Promise<void> {
  const report = await verifyArchive(path.join(modelDir, "model.tar.gz"));
  expect(report.problems).toEqual([]);
  expect(report.manifest?.checkpoint).toBe("old");
  expect((await stat(path.join(modelDir, "model.tar.gz"))).size).toBe(previous.bytes);
}

describe("a failed packaging leaves the previous archive and no temp file", () => {
  it.skipIf(!isRoot)("ENOSPC in the writer thread (an archive large enough to be written off the main thread; needs root for mount)", async () => {
    const modelDir = await tempDir();
    await run("mount", ["-t", "tmpfs", "-o", "size=40m", "tmpfs", modelDir]);
    try {
      const previous = await previousArchive(modelDir);
      const ck = await tempDir();
      await writeTree(path.join(ck, "new"), { "weights.bin": randomData(48 << 20) });
      await commit(path.join(ck, "new"), 20);
      let followed: Promise<string> | undefined;
      const err = await packageCheckpoint(await select(ck), {
        modelDir,
        jobName: "j",
        reason: "Stopped",
        compression: "none",
        layout: "archive",
        follow: (stream) => {
          followed = (async () => {
            for await (const _ of stream) void _;
            return "ended normally";
          })().catch((e: unknown) => String(e));
        },
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PackagingError);
      expect((err as PackagingError).code).toBe("ENOSPC");
      expect(await followed).toMatch(/not completed/);
      await expectOnlyFinalNames(modelDir);
      await expectPreviousIntact(modelDir, previous);
    } finally {
      await run("umount", [modelDir]);
    }
  });

  it.skipIf(!isRoot)("ENOSPC on a full tmpfs (needs root for mount)", async () => {
    const modelDir = await tempDir();
    await run("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", modelDir]);
    try {
      const previous = await previousArchive(modelDir);
      const ck = await tempDir();
      await writeTree(path.join(ck, "new"), { "weights.bin": randomData(3 << 20) });
      await commit(path.join(ck, "new"), 20);
      const err = await packageCheckpoint(await select(ck), {
        modelDir,
        jobName: "j",
        reason: "Stopped",
        compression: "stored",
        layout: "archive",
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PackagingError);
      expect((err as PackagingError).code).toBe("ENOSPC");
      expect((err as PackagingError).message).toMatch(/no space/);
      await expectOnlyFinalNames(modelDir);
      await expectPreviousIntact(modelDir, previous);
    } finally {
      await run("umount", [modelDir]);
    }
  });

  it("DEADLINE passed mid-packaging", async () => {
    const modelDir = await tempDir();
    const previous = await previousArchive(modelDir);
    const ck = await tempDir();
    await writeTree(path.join(ck, "new"), { "a.txt": textData(48 << 20), "b.txt": textData(16 << 20, 3) });
    await commit(path.join(ck, "new"), 20);
    const sel = await select(ck);
    const started = Date.now();
    const seen: number[] = [];
    const err = await packageCheckpoint(sel, {
      modelDir,
      jobName: "j",
      reason: "Stopped",
      compression: "gzip",
      layout: "archive",
      deadline: Date.now() + 400,
      onProgress: (p) => seen.push(p.bytes),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PackagingError);
    expect((err as PackagingError).code).toBe("DEADLINE");
    expect((err as PackagingError).message).toMatch(/deadline/);
    // It stops at the deadline, not when it would have finished (64 MB at level 6 takes seconds).
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(seen.length).toBeGreaterThan(0);
    await expectOnlyFinalNames(modelDir);
    await expectPreviousIntact(modelDir, previous);
  });

  it("a deadline already past fails at once, touching nothing", async () => {
    const modelDir = await tempDir();
    const previous = await previousArchive(modelDir);
    const ck = await tempDir();
    await writeTree(path.join(ck, "new"), { "a.txt": "x" });
    await commit(path.join(ck, "new"), 20);
    const err = await packageCheckpoint(await select(ck), {
      modelDir,
      jobName: "j",
      reason: "Stopped",
      compression: "auto",
      layout: "archive",
      deadline: Date.now() - 1,
    }).catch((e: unknown) => e);
    expect((err as PackagingError).code).toBe("DEADLINE");
    await expectOnlyFinalNames(modelDir);
    await expectPreviousIntact(modelDir, previous);
  });

  it("ABORTED by the caller's signal", async () => {
    const modelDir = await tempDir();
    const previous = await previousArchive(modelDir);
    const ck = await tempDir();
    await writeTree(path.join(ck, "new"), { "a.txt": textData(48 << 20) });
    await commit(path.join(ck, "new"), 20);
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("second SIGTERM")), 300);
    const err = await packageCheckpoint(await select(ck), {
      modelDir,
      jobName: "j",
      reason: "Stopped",
      compression: "gzip",
      layout: "archive",
      signal: controller.signal,
    }).catch((e: unknown) => e);
    expect((err as PackagingError).code).toBe("ABORTED");
    expect((err as PackagingError).message).toMatch(/second SIGTERM/);
    await expectOnlyFinalNames(modelDir);
    await expectPreviousIntact(modelDir, previous);
  });

  it("IO when a file of the selection cannot be read, with the path in the message", async () => {
    const modelDir = await tempDir();
    const previous = await previousArchive(modelDir);
    const ck = await tempDir();
    await writeTree(path.join(ck, "new"), { "a.txt": "x", "b.txt": "y" });
    await commit(path.join(ck, "new"), 20);
    const sel = await select(ck);
    // A committed checkpoint that changes under us is not the checkpoint that was committed.
    await appendFile(path.join(ck, "new", "b.txt"), "more");
    const err = await packageCheckpoint(sel, { modelDir, jobName: "j", reason: "Stopped", compression: "fast", layout: "archive" }).catch(
      (e: unknown) => e,
    );
    expect((err as PackagingError).code).toBe("IO");
    expect((err as PackagingError).message).toMatch(/b\.txt/);
    await expectOnlyFinalNames(modelDir);
    await expectPreviousIntact(modelDir, previous);
  });
});

describe("flat checkpoint dir whose files change", () => {
  it("leaves out a file that changed since selection and reports it; the archive is valid", async () => {
    const ck = await tempDir();
    await writeTree(ck, { "model.pt": textData(3 << 20), "optimizer.pt": textData(2 << 20, 9), "config.json": "{}" });
    const sel = await select(ck);
    expect(sel.kind).toBe("flat");
    await appendFile(path.join(ck, "optimizer.pt"), "rewritten after selection");
    const modelDir = await tempDir();
    for (const compression of ["none", "fast"] as const) {
      const result = await packageCheckpoint(sel, { modelDir, jobName: "j", reason: "Stopped", compression, layout: "archive" });
      expect(result.skipped.map((s) => s.path)).toEqual(["optimizer.pt"]);
      expect(result.skipped[0]?.reason).toMatch(/changed while being packaged/);
      expect(result.warnings.join("\n")).toMatch(/optimizer\.pt/);
      const report = await verifyArchive(result.path);
      expect(report.problems).toEqual([]);
      expect(report.manifest?.files.map((f) => f.path)).toEqual(["config.json", "model.pt"]);
      expect(report.manifest?.skipped.map((s) => s.path)).toEqual(["optimizer.pt"]);
    }
  });

  it("leaves out a file that vanished since selection", async () => {
    const ck = await tempDir();
    await writeTree(ck, { "model.pt": "m", "tmp.pt": "t" });
    const sel = await select(ck);
    await unlink(path.join(ck, "tmp.pt"));
    const modelDir = await tempDir();
    const result = await packageCheckpoint(sel, { modelDir, jobName: "j", reason: "Stopped", compression: "gzip", layout: "archive" });
    expect(result.skipped.map((s) => s.path)).toEqual(["tmp.pt"]);
    expect((await verifyArchive(result.path)).ok).toBe(true);
  });

  it("a write during the read is caught by the size/mtime check after reading", async () => {
    const ck = await tempDir();
    const big = path.join(ck, "model.pt");
    await writeFile(big, textData(40 << 20));
    await writeFile(path.join(ck, "config.json"), "{}");
    const sel = await select(ck);
    const modelDir = await tempDir();
    // Rewrite the file in place (same size, new mtime) while it is being read.
    let touched = false;
    const result = await packageCheckpoint(sel, {
      modelDir,
      jobName: "j",
      reason: "Stopped",
      compression: "gzip",
      layout: "archive",
      onProgress: () => {
        if (touched) return;
        touched = true;
        void (async () => {
          const fh = await open(big, "r+");
          await fh.write("CHANGED", 0);
          await fh.close();
        })();
      },
    });
    expect(touched).toBe(true);
    expect(result.skipped.map((s) => s.path)).toEqual(["model.pt"]);
    const report = await verifyArchive(result.path);
    expect(report.ok).toBe(true);
    expect(report.manifest?.files.map((f) => f.path)).toEqual(["config.json"]);
  });
});

