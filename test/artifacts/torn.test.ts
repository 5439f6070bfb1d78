import { copyFile, truncate, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { checkIntegrity, packageCheckpoint, selectCheckpoint, verifyArchive } from "../../src/artifacts/index.js";
import { commit, removeTempDirs, tempDir, writeTree } from "./helpers.js";
import { describeTorch, torchPython, torchSave } from "../helpers/torch.js";

let root: string;
let whole: string;
beforeAll(async () => {
  root = await tempDir();
  whole = path.join(root, "whole.pt");
  torchSave(whole, 2);
});
afterAll(removeTempDirs);

function safetensors(tensorBytes: number, cut = 0): Buffer {
  const header = Buffer.from(JSON.stringify({ w: { dtype: "F32", shape: [tensorBytes / 4], data_offsets: [0, tensorBytes] } }));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  const full = Buffer.concat([len, header, Buffer.alloc(tensorBytes, 7)]);
  return full.subarray(0, full.length - cut);
}

describeTorch("the formats people checkpoint in say whether they are whole", () => {
  it("torch.save: whole is intact; cut anywhere, or just truncated to 0 bytes, is torn", async () => {
    expect(await checkIntegrity(whole)).toEqual({ kind: "intact" });
    const torn = path.join(root, "torn.pt");
    const size = (await import("node:fs")).statSync(whole).size;
    for (const keep of [0, 100, Math.floor(size / 2), size - 1]) {
      await copyFile(whole, torn);
      await truncate(torn, keep);
      const result = await checkIntegrity(torn);
      expect(result.kind, `cut at ${keep} of ${size}`).toBe("torn");
    }
  });

  it(".npz from numpy: intact whole, torn cut; safetensors by header and length; pickle by its STOP opcode", async () => {
    const npz = path.join(root, "a.npz");
    torchPython("import numpy; numpy.savez(sys.argv[1], a=numpy.arange(100000))", [npz]);
    expect(await checkIntegrity(npz)).toEqual({ kind: "intact" });
    await truncate(npz, 5000);
    expect((await checkIntegrity(npz)).kind).toBe("torn");

    const st = path.join(root, "m.safetensors");
    await writeFile(st, safetensors(4096));
    expect(await checkIntegrity(st)).toEqual({ kind: "intact" });
    await writeFile(st, safetensors(4096, 10));
    expect(await checkIntegrity(st)).toMatchObject({ kind: "torn", reason: expect.stringMatching(/describes \d+ bytes/) });

    const pkl = path.join(root, "s.pkl");
    torchPython("import pickle; pickle.dump({'step': 3, 'x': list(range(1000))}, open(sys.argv[1], 'wb'))", [pkl]);
    expect(await checkIntegrity(pkl)).toEqual({ kind: "intact" });
    await truncate(pkl, 100);
    expect((await checkIntegrity(pkl)).kind).toBe("torn");
  });

  it("a format it cannot judge is unknown, never intact", async () => {
    const bin = path.join(root, "w.distcp");
    await writeFile(bin, "whatever");
    expect(await checkIntegrity(bin)).toEqual({ kind: "unknown" });
  });

  it("flat dir: a torn model.pt is never selected; its kept intact version stands in for it", async () => {
    const ck = path.join(root, "flat");
    await writeTree(ck, { "config.json": "{}" });
    await copyFile(whole, path.join(ck, "model.pt"));
    await truncate(path.join(ck, "model.pt"), 12345);
    const alone = await selectCheckpoint(ck);
    expect(alone.kind).toBe("flat");
    if (alone.kind !== "flat") return;
    expect(alone.files.map((f) => f.path)).toEqual(["config.json"]);
    expect(alone.unfinished).toEqual([expect.objectContaining({ path: "model.pt", reason: expect.stringMatching(/^torn: no ZIP end/) })]);

    const copy = path.join(root, "kept-model.pt");
    await copyFile(whole, copy);
    const st = (await import("node:fs")).statSync(copy);
    const sel = await selectCheckpoint(ck, { intactCopies: new Map([["model.pt", { abs: copy, size: st.size, mtimeMs: st.mtimeMs, mode: 0o644 }]]) });
    expect(sel.kind === "flat" && sel.files.map((f) => [f.path, f.abs])).toEqual([
      ["config.json", path.join(ck, "config.json")],
      ["model.pt", copy],
    ]);
    expect(sel.kind === "flat" && sel.unfinished).toEqual([]);
    if (sel.kind !== "flat") return;
    const result = await packageCheckpoint(sel, { modelDir: path.join(root, "model"), jobName: "j", reason: "Stopped", compression: "stored", layout: "archive" });
    expect(result.warnings.some((w) => w.includes("last intact version"))).toBe(true);
    expect((await verifyArchive(result.path)).ok).toBe(true);
  });

  it("flat dir: a file the watch says was cut off is kept out unless its format proves it whole", async () => {
    const ck = path.join(root, "flat-guard");
    await writeTree(ck, { "state.bin": "half" });
    await copyFile(whole, path.join(ck, "model.pt"));
    const unfinished = new Map([
      ["state.bin", "its last write ended as the algorithm was killed"],
      ["model.pt", "its last write ended as the algorithm was killed"],
    ]);
    const sel = await selectCheckpoint(ck, { unfinished });
    expect(sel.kind === "flat" && sel.files.map((f) => f.path)).toEqual(["model.pt"]);
    expect(sel.kind === "flat" && sel.unfinished.map((u) => u.path)).toEqual(["state.bin"]);
  });

  it("subdirectories: a committed checkpoint holding a torn torch file is passed over for the newest intact one", async () => {
    const ck = path.join(root, "dirs");
    for (const step of [1, 2]) {
      await writeTree(path.join(ck, `step-${step}`), {});
      await copyFile(whole, path.join(ck, `step-${step}`, "model.pt"));
      await commit(path.join(ck, `step-${step}`), 1000 + step);
    }
    await truncate(path.join(ck, "step-2", "model.pt"), 4096);
    const sel = await selectCheckpoint(ck);
    expect(sel.kind === "directory" && sel.name).toBe("step-1");
    await truncate(path.join(ck, "step-1", "model.pt"), 0);
    const none = await selectCheckpoint(ck);
    expect(none.kind === "none" && none.reason).toMatch(/no intact complete checkpoint.*step-2\/model\.pt/);
  });

  it("verify: an archive whose manifest faithfully lists a torn model.pt is not OK", async () => {
    const ck = path.join(root, "to-pack");
    await writeTree(ck, { "step-1/x": "1" });
    await copyFile(whole, path.join(ck, "step-1", "model.pt"));
    await commit(path.join(ck, "step-1"), 1000);
    const sel = await selectCheckpoint(ck);
    if (sel.kind !== "directory") throw new Error(`selected ${sel.kind}`);
    // Torn after selection, before packaging: the manifest hashes what it read.
    await truncate(path.join(ck, "step-1", "model.pt"), 3000);
    const modelDir = path.join(root, "model-torn");
    const sizeFixed = { ...sel, files: sel.files.map((f) => (f.path === "model.pt" ? { ...f, size: 3000 } : f)) };
    const result = await packageCheckpoint(sizeFixed, { modelDir, jobName: "j", reason: "Stopped", compression: "gzip", layout: "archive" });
    const report = await verifyArchive(result.path);
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([expect.stringMatching(/^model\.pt: torn: no ZIP end/)]);
  });
});
