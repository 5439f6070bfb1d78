import { afterAll, describe, expect, it } from "vitest";
import { readFile, readdir, rm, stat } from "node:fs/promises";
import path from "node:path";
import { packageCheckpoint, selectCheckpoint, verifyArchive, type PackableSelection } from "../../src/artifacts/index.js";
import { commit, digestTree, removeTempDirs, run, tempDir, textData, writeTree } from "./helpers.js";

afterAll(removeTempDirs);

async function select(ck: string): Promise<PackableSelection> {
  const sel = await selectCheckpoint(ck);
  if (sel.kind === "none") throw new Error(sel.reason);
  return sel;
}

describe("model layout files", () => {
  it("hard-links the checkpoint's files into the model dir, manifest last, and a tar of it verifies", async () => {
    const root = await tempDir();
    const ck = path.join(root, "checkpoints");
    const modelDir = path.join(root, "model");
    await writeTree(path.join(ck, "step-5"), {
      "model.weights": textData(2 << 20),
      "tokenizer/vocab.txt": "a b c",
      "empty": { dir: true },
      "current": { link: "model.weights" },
    });
    await commit(path.join(ck, "step-5"), 500);
    const result = await packageCheckpoint(await select(ck), { modelDir, jobName: "j", reason: "Completed", compression: "gzip", layout: "files" });
    expect(result.layout).toBe("files");
    expect(result.path).toBe(modelDir);
    expect(result.manifestPath).toBe(path.join(modelDir, "trainguard-manifest.json"));
    expect(result.files).toBe(3);

    const src = await stat(path.join(ck, "step-5", "model.weights"));
    const placed = await stat(path.join(modelDir, "model.weights"));
    expect(placed.ino).toBe(src.ino);
    expect(placed.nlink).toBe(2);

    expect(await digestTree(modelDir, ["trainguard-manifest.json"])).toEqual(await digestTree(path.join(ck, "step-5")));
    const manifest = JSON.parse(await readFile(result.manifestPath, "utf8"));
    expect(manifest.layout).toBe("files");
    expect(manifest.files.map((f: { path: string }) => f.path)).toEqual([".trainguard-commit", "current", "empty", "model.weights", "tokenizer", "tokenizer/vocab.txt"]);
    // The manifest is written last: nothing in the dir is newer.
    const manifestTime = (await stat(result.manifestPath)).mtimeMs;
    for (const name of await readdir(modelDir)) {
      if (name !== "trainguard-manifest.json") expect((await stat(path.join(modelDir, name))).ctimeMs).toBeLessThanOrEqual(manifestTime);
    }

    expect((await verifyArchive(modelDir)).problems).toEqual([]);
    const tarred = path.join(root, "model.tar.gz");
    await run("tar", ["-czf", tarred, "-C", modelDir, "."]);
    const report = await verifyArchive(tarred);
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.files).toBe(3);
  });

  it("a second packaging replaces the first: files the new checkpoint lacks go, user files stay", async () => {
    const root = await tempDir();
    const ck = path.join(root, "checkpoints");
    const modelDir = path.join(root, "model");
    await writeTree(path.join(ck, "a"), { "old-only.bin": "old", "shared.bin": "v1" });
    await commit(path.join(ck, "a"), 100);
    await packageCheckpoint(await select(ck), { modelDir, jobName: "j", reason: "Stopped", compression: "auto", layout: "files" });
    await writeTree(modelDir, { "user-notes.txt": "written by the algorithm itself" });

    await writeTree(path.join(ck, "b"), { "shared.bin": "v2", "new-only.bin": "new" });
    await commit(path.join(ck, "b"), 200);
    const r = await packageCheckpoint(await select(ck), { modelDir, jobName: "j", reason: "Completed", compression: "auto", layout: "files" });
    expect(r.checkpoint).toBe("b");
    const names = (await readdir(modelDir)).sort();
    expect(names).toEqual([".trainguard-commit", "new-only.bin", "shared.bin", "trainguard-manifest.json", "user-notes.txt"]);
    expect(await readFile(path.join(modelDir, "shared.bin"), "utf8")).toBe("v2");
    // The user's file is not ours to list: verify of the dir reports it as extra.
    const report = await verifyArchive(modelDir);
    expect(report.problems).toEqual(["not in the manifest: user-notes.txt"]);
  });

  it("copies when the model dir is on another filesystem (tmpfs)", async () => {
    const root = await tempDir();
    const ck = path.join(root, "checkpoints");
    await writeTree(path.join(ck, "c"), { "w.bin": textData(100_000) });
    await commit(path.join(ck, "c"), 1);
    const isRoot = process.getuid?.() === 0;
    const modelDir = isRoot ? await tempDir() : path.join("/dev/shm", `tg-files-${process.pid}`);
    if (isRoot) await run("mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", modelDir]);
    try {
      await packageCheckpoint(await select(ck), { modelDir, jobName: "j", reason: "Completed", compression: "auto", layout: "files" });
      const placed = await stat(path.join(modelDir, "w.bin"));
      expect(placed.nlink).toBe(1);
      expect(placed.dev).not.toBe((await stat(path.join(ck, "c", "w.bin"))).dev);
      expect((await verifyArchive(modelDir)).ok).toBe(true);
    } finally {
      if (isRoot) await run("umount", [modelDir]);
      else await rm(modelDir, { recursive: true, force: true });
    }
  });
});
