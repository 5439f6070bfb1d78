import { afterAll, describe, expect, it } from "vitest";
import { mkdir, open, readFile, rm, symlink, truncate, writeFile } from "node:fs/promises";
import path from "node:path";
import { packageCheckpoint, selectCheckpoint, verifyArchive } from "../../src/artifacts/index.js";
import net from "node:net";
import { spawn } from "node:child_process";
import { commit, digestTree, extractWithGnuTar, extractWithPython, isRoot, removeTempDirs, run, tempDir, writeTree } from "./helpers.js";

afterAll(removeTempDirs);

/** The `tar -tvzf` line for `name`, as soon as GNU tar prints it. */
function tarListingLine(archive: string, name: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const tar = spawn("tar", ["-tvzf", archive], { stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    let found: string | undefined;
    tar.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      found = out.split("\n").find((l) => l.endsWith(` ${name}`) && !l.includes(" -> "));
      if (found) {
        tar.kill("SIGKILL");
        resolve(found);
      }
    });
    tar.once("error", reject);
    tar.once("exit", (code) => {
      if (!found) reject(new Error(`tar -tvzf exited ${code} without listing ${name}:\n${out}`));
    });
  });
}

describe("what goes into the archive", () => {
  it("stores internal links as links, refuses escaping ones, keeps long, Unicode and empty-dir names, skips FIFOs, sockets and devices", async () => {
    const ck = await tempDir();
    const src = path.join(ck, "ckpt");
    const longName = `${"d".repeat(90)}/${"n".repeat(109)}`; // 200 bytes with the slash
    expect(Buffer.byteLength(longName)).toBe(200);
    const longFlat = "f".repeat(200);
    const unicode = "poids-é-模型-🚀/张量.bin";
    await writeTree(src, {
      "model.pt": "weights",
      [longName]: "long nested",
      [longFlat]: "long flat",
      [unicode]: "unicode",
      "empty-dir": { dir: true },
      "nested/empty": { dir: true },
      "sub/inner.txt": "inner",
      "to-model": { link: "model.pt" },
      "sub/up-and-back": { link: "../model.pt" },
      "dir-link": { link: "sub" },
      "escape-relative": { link: "../../../etc/passwd" },
      "escape-absolute": { link: "/etc/passwd" },
      "self-abs": { link: path.join(src, "model.pt") },
      "dangling-climb": { link: "dir-link/../../x" },
    });
    await run("mkfifo", [path.join(src, "a-fifo")]);
    const socketServer = net.createServer();
    await new Promise<void>((resolve) => socketServer.listen(path.join(src, "a-socket"), resolve));
    // Device nodes need root to create; the FIFO and the socket cover the same path otherwise.
    if (isRoot) await run("mknod", [path.join(src, "a-device"), "c", "1", "3"]);
    await commit(src, 100);

    const sel = await selectCheckpoint(ck);
    if (sel.kind !== "directory") throw new Error("expected a directory checkpoint");
    socketServer.close();
    const skipped = Object.fromEntries(sel.skipped.map((s) => [s.path, s.reason]));
    const special = isRoot ? ["a-device", "a-fifo", "a-socket"] : ["a-fifo", "a-socket"];
    expect(Object.keys(skipped).sort()).toEqual([...special, "dangling-climb", "escape-absolute", "escape-relative"]);
    expect(skipped["a-fifo"]).toMatch(/FIFO/);
    expect(skipped["a-socket"]).toMatch(/socket/);
    if (isRoot) expect(skipped["a-device"]).toMatch(/character device/);
    expect(skipped["escape-relative"]).toMatch(/outside the checkpoint/);
    expect(skipped["escape-absolute"]).toMatch(/outside the checkpoint/);
    // Absolute but inside: rewritten relative, so it still works wherever the model is extracted.
    expect(sel.files.find((f) => f.path === "self-abs")?.linkTarget).toBe("model.pt");

    const modelDir = await tempDir();
    const result = await packageCheckpoint(sel, { modelDir, jobName: "j", reason: "Completed", compression: "fast", layout: "archive" });
    expect(result.warnings.join("\n")).toMatch(/escape-relative/);
    expect(result.skipped.map((s) => s.path).sort()).toEqual([...special, "dangling-climb", "escape-absolute", "escape-relative"]);
    const report = await verifyArchive(result.path);
    expect(report.problems).toEqual([]);
    expect(report.manifest?.skipped.map((s) => s.path).sort()).toEqual([...special, "dangling-climb", "escape-absolute", "escape-relative"]);

    const listing = (await run("tar", ["-tvzf", result.path])).stdout;
    expect(listing).toMatch(/to-model -> model\.pt/);
    expect(listing).toMatch(/dir-link -> sub/);
    expect(listing).not.toMatch(/a-fifo|a-socket|a-device|escape-/);

    for (const [name, extract] of [["python", extractWithPython], ["gnu", extractWithGnuTar]] as const) {
      const dest = path.join(await tempDir(), name);
      await extract(result.path, dest, true);
      const got = await digestTree(dest, ["trainguard-manifest.json"]);
      const want = await digestTree(src, [...special, "escape-relative", "escape-absolute", "dangling-climb", "self-abs"]);
      expect({ ...got, "self-abs": undefined }).toEqual({ ...want, "self-abs": undefined });
      expect(got["self-abs"]).toBe("link:model.pt");
      expect(got[longName]).toBeDefined();
      expect(got[unicode]).toBeDefined();
      expect(got["empty-dir"]).toBe("dir");
      expect(await readFile(path.join(dest, "to-model"), "utf8")).toBe("weights");
    }
  });

  it("round-trips a sparse 9 GiB file (base-256 size in the tar header)", { timeout: 150_000 }, async () => {
    const ck = await tempDir();
    const src = path.join(ck, "big");
    await mkdir(src);
    const size = 9 * 2 ** 30 + 12_345;
    const big = path.join(src, "huge.bin");
    await writeFile(big, "");
    await truncate(big, size);
    // A little real data at both ends, so the hash is not just zeros.
    const fh = await open(big, "r+");
    await fh.write("head", 0);
    await fh.write("tail", size - 4);
    await fh.close();
    await writeFile(path.join(src, "small.txt"), "small");
    await symlink("huge.bin", path.join(src, "alias"));
    await commit(src, 100);
    const modelDir = await tempDir();
    try {
      const sel = await selectCheckpoint(ck);
      if (sel.kind !== "directory") throw new Error("expected a directory checkpoint");
      // Level 1 turns the 9 GiB of holes into a small .gz in ~30 s here; a plain tar would mean
      // writing 9 GiB to disk. Verified by streaming, never extracted.
      const result = await packageCheckpoint(sel, { modelDir, jobName: "j", reason: "Stopped", compression: "fast", layout: "archive" });
      expect(result.bytes).toBeLessThan(size / 50);

      // GNU tar must read the base-256 size from the header; it would then spend a minute
      // inflating 9 GiB of zeros to reach the end, which verifyArchive does anyway (content
      // hashes and the gzip CRC), so the listing stops at the line that shows the size.
      const [line, report] = await Promise.all([tarListingLine(result.path, "huge.bin"), verifyArchive(result.path)]);
      expect(line.split(/\s+/)[2]).toBe(String(size));

      expect(report.problems).toEqual([]);
      expect(report.ok).toBe(true);
      expect(report.manifest?.files.find((f) => f.path === "huge.bin")?.size).toBe(size);
      expect(report.bytes).toBe(size + 5 + 3); // huge + small + commit marker
    } finally {
      await rm(modelDir, { recursive: true, force: true });
      await rm(ck, { recursive: true, force: true });
    }
  });
});
