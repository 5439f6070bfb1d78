import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyFile, open, readFile, stat, truncate, writeFile } from "node:fs/promises";
import path from "node:path";
import { formatVerifyReport, packageCheckpoint, selectCheckpoint, verifyArchive, type VerifyReport } from "../../src/artifacts/index.js";
import { commit, removeTempDirs, run, tempDir, textData, writeTree } from "./helpers.js";

const TAMPER = path.join(import.meta.dirname, "fixtures", "tamper.py");

let work: string;
let tarGz: string;
let plainTar: string;

/** The exit code the CLI derives from a report. */
function exitCode(r: VerifyReport): number {
  return r.ok ? 0 : r.readable ? 1 : 2;
}

beforeAll(async () => {
  work = await tempDir();
  const ck = path.join(work, "ck");
  await writeTree(path.join(ck, "c1"), { "model.pt": textData(300_000), "sub/config.json": '{"x":1}', "link": { link: "model.pt" } });
  await commit(path.join(ck, "c1"), 50);
  const sel = await selectCheckpoint(ck);
  if (sel.kind === "none") throw new Error(sel.reason);
  tarGz = (await packageCheckpoint(sel, { modelDir: path.join(work, "gz"), jobName: "verify-job", reason: "Completed", compression: "fast", layout: "archive" })).path;
  plainTar = (await packageCheckpoint(sel, { modelDir: path.join(work, "plain"), jobName: "verify-job", reason: "Completed", compression: "none", layout: "archive" })).path;
});
afterAll(removeTempDirs);

async function tampered(src: string, name: string, ...args: string[]): Promise<string> {
  const dst = path.join(work, name);
  await run("python3", [TAMPER, src, dst, ...args]);
  return dst;
}

describe("verifyArchive", () => {
  it("passes our archives, .tar.gz and .tar, and says so in one line", async () => {
    for (const file of [tarGz, plainTar]) {
      const r = await verifyArchive(file);
      expect(r.problems).toEqual([]);
      expect(r.ok).toBe(true);
      expect(r.readable).toBe(true);
      expect(exitCode(r)).toBe(0);
      expect(r.files).toBe(3);
      expect(r.bytes).toBe(300_000 + 7 + 3);
      expect(r.manifest?.job).toBe("verify-job");
      expect(formatVerifyReport(r)).toMatch(/^OK .*3 files.*checkpoint c1/);
      expect(formatVerifyReport(r).split("\n")).toHaveLength(1);
    }
    expect((await verifyArchive(tarGz)).format).toBe("tar.gz");
    expect((await verifyArchive(plainTar)).format).toBe("tar");
  });

  it("catches a flipped byte in file content (plain tar: readable, content wrong)", async () => {
    const bad = path.join(work, "flipped.tar");
    await copyFile(plainTar, bad);
    const listing = (await run("python3", ["-c", "import tarfile,sys\nfor m in tarfile.open(sys.argv[1]):\n  print(m.name, m.offset_data)", bad])).stdout;
    const offset = Number(/^model\.pt (\d+)$/m.exec(listing)?.[1]) + 1000;
    const fh = await open(bad, "r+");
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, offset);
    b[0] = (b[0] as number) ^ 0xff;
    await fh.write(b, 0, 1, offset);
    await fh.close();
    const r = await verifyArchive(bad);
    expect(r.ok).toBe(false);
    expect(r.readable).toBe(true);
    expect(exitCode(r)).toBe(1);
    expect(r.problems.join("\n")).toMatch(/model\.pt: sha256 .* does not match/);
    expect(formatVerifyReport(r)).toMatch(/^INVALID .*\n {2}- model\.pt: sha256/);
  });

  it("catches a flipped byte in a .tar.gz (the gzip CRC or deflate data breaks)", async () => {
    const bad = path.join(work, "flipped.tar.gz");
    await copyFile(tarGz, bad);
    const size = (await stat(bad)).size;
    const fh = await open(bad, "r+");
    const at = Math.floor(size / 2);
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, at);
    b[0] = (b[0] as number) ^ 0x01;
    await fh.write(b, 0, 1, at);
    await fh.close();
    const r = await verifyArchive(bad);
    expect(r.ok).toBe(false);
    expect(r.problems.length).toBeGreaterThan(0);
    expect(exitCode(r)).toBeGreaterThan(0);
  });

  it("catches a missing file, an extra file, a `..` path, and a manifest that is not last", async () => {
    const missing = await verifyArchive(await tampered(tarGz, "missing.tar.gz", "drop", "sub/config.json"));
    expect(missing.ok).toBe(false);
    expect(missing.readable).toBe(true);
    expect(missing.problems).toContain("missing: sub/config.json");

    const extra = await verifyArchive(await tampered(tarGz, "extra.tar.gz", "extra", "smuggled.bin"));
    expect(extra.ok).toBe(false);
    expect(extra.problems).toContain("not in the manifest: smuggled.bin");

    const dotdot = await verifyArchive(await tampered(plainTar, "dotdot.tar", "rename", "sub/config.json", "../evil.json"));
    expect(dotdot.ok).toBe(false);
    expect(dotdot.readable).toBe(true);
    expect(exitCode(dotdot)).toBe(1);
    expect(dotdot.problems.join("\n")).toMatch(/unsafe path in archive: "\.\.\/evil\.json"/);
    expect(dotdot.problems).toContain("missing: sub/config.json");

    const first = await verifyArchive(await tampered(tarGz, "first.tar.gz", "manifest-first"));
    expect(first.ok).toBe(false);
    expect(first.problems).toContain("trainguard-manifest.json is not the last entry");
  });

  it("reports no manifest, garbage, truncation and a missing file as unreadable or invalid, never throwing", async () => {
    const noManifest = await verifyArchive(await tampered(tarGz, "nomanifest.tar.gz", "drop", "trainguard-manifest.json"));
    expect(noManifest.readable).toBe(true);
    expect(noManifest.ok).toBe(false);
    expect(noManifest.problems.join("\n")).toMatch(/no trainguard-manifest\.json/);

    const garbage = path.join(work, "garbage.tar.gz");
    await writeFile(garbage, "this is not an archive at all, not even close".repeat(20));
    const g = await verifyArchive(garbage);
    expect(g.readable).toBe(false);
    expect(exitCode(g)).toBe(2);
    expect(formatVerifyReport(g)).toMatch(/^UNREADABLE/);

    const cut = path.join(work, "cut.tar.gz");
    await copyFile(tarGz, cut);
    await truncate(cut, Math.floor((await stat(cut)).size / 2));
    const c = await verifyArchive(cut);
    expect(c.readable).toBe(false);
    expect(exitCode(c)).toBe(2);

    const gone = await verifyArchive(path.join(work, "does-not-exist.tar.gz"));
    expect(gone.readable).toBe(false);
    expect(gone.problems[0]).toMatch(/cannot open/);
  });

  it("accepts someone else's tar of a model dir with the manifest anywhere, `./` prefixes and all", async () => {
    // A layout-"files" model dir, tarred by GNU tar: manifest not last, names start with ./
    const modelDir = path.join(work, "files-model");
    const ck = path.join(work, "ck");
    const sel = await selectCheckpoint(ck);
    if (sel.kind === "none") throw new Error(sel.reason);
    await packageCheckpoint(sel, { modelDir, jobName: "j", reason: "Completed", compression: "auto", layout: "files" });
    const theirs = path.join(work, "theirs.tar.gz");
    await run("tar", ["-czf", theirs, "-C", modelDir, "."]);
    const r = await verifyArchive(theirs);
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);

    // Tarred from one level up: everything under "files-model/".
    const nested = path.join(work, "nested.tar");
    await run("tar", ["-cf", nested, "-C", work, "files-model"]);
    const n = await verifyArchive(nested);
    expect(n.problems).toEqual([]);
    expect(n.ok).toBe(true);

    const manifestText = await readFile(path.join(modelDir, "trainguard-manifest.json"), "utf8");
    expect(JSON.parse(manifestText).layout).toBe("files");
  });
});
