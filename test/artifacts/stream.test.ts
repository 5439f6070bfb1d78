/**
 * The archive streamed straight from the checkpoint files to a destination, with no local file:
 * the same archive packaging writes, delivered whole or not at all, retried without a flat file
 * that changes while read, and never hanging on a destination that gives up or does not read.
 */
import { afterAll, describe, expect, it } from "vitest";
import { appendFile, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { PackagingError, streamArchive, verifyArchive } from "../../src/artifacts/index.js";
import { commit, randomData, readAll, removeTempDirs, selectPackable as select, sha256, tempDir, textData, writeTree } from "./helpers.js";

afterAll(removeTempDirs);

describe("streamArchive", () => {
  for (const compression of ["stored", "none", "fast"] as const) {
    it(`${compression}: the destination receives a complete archive that verifies, of the announced size, and the sidecar names it`, async () => {
      const ck = await tempDir();
      await writeTree(path.join(ck, "step-1"), { "model.bin": randomData(12 << 20), "config.json": "{}", "sub/t.txt": textData(1 << 20) });
      await commit(path.join(ck, "step-1"), 10);
      const before = await readdir(ck, { recursive: true });
      const received: { bytes: Buffer; fileName: string; expectedBytes: number | undefined }[] = [];
      const result = await streamArchive(await select(ck), {
        jobName: "j",
        reason: "Stopped",
        compression,
        deliver: async (stream, info) => {
          received.push({ bytes: await readAll(stream), ...info });
        },
      });
      expect(received).toHaveLength(1);
      const [r] = received as [(typeof received)[0]];
      expect(r.fileName).toBe(compression === "none" ? "model.tar" : "model.tar.gz");
      expect(result).toMatchObject({ fileName: r.fileName, bytes: r.bytes.length, sha256: sha256(r.bytes), checkpoint: "step-1", files: 4 });
      if (compression !== "fast") expect(r.expectedBytes).toBe(r.bytes.length);
      const copy = path.join(await tempDir(), r.fileName);
      await writeFile(copy, r.bytes);
      const report = await verifyArchive(copy);
      expect(report.problems).toEqual([]);
      expect(report.ok).toBe(true);
      expect(JSON.parse(result.sidecar.toString("utf8"))).toMatchObject({ checkpoint: "step-1", layout: "archive", archive: { file: r.fileName, bytes: r.bytes.length, sha256: sha256(r.bytes) } });
      // Nothing was written beside the checkpoint.
      expect(await readdir(ck, { recursive: true })).toEqual(before);
    });
  }

  it("a flat file that changes while read: the attempt's stream errors (its destination keeps nothing), the next attempt leaves it out and completes", async () => {
    const ck = await tempDir();
    await writeTree(ck, { "model.pt": textData(8 << 20), "optimizer.pt": textData(4 << 20, 9), "config.json": "{}" });
    const sel = await select(ck);
    await appendFile(path.join(ck, "optimizer.pt"), "rewritten after selection");
    const outcomes: ({ ok: true; bytes: Buffer } | { ok: false; error: string })[] = [];
    const result = await streamArchive(sel, {
      jobName: "j",
      reason: "Stopped",
      compression: "none",
      deliver: async (stream) => {
        try {
          outcomes.push({ ok: true, bytes: await readAll(stream) });
        } catch (err) {
          outcomes.push({ ok: false, error: String(err) });
          throw err;
        }
      },
    });
    expect(result.skipped.map((s) => s.path)).toEqual(["optimizer.pt"]);
    expect(outcomes.map((o) => o.ok)).toEqual([false, true]);
    expect(outcomes[0]?.ok === false && outcomes[0].error).toMatch(/optimizer\.pt changed while being packaged/);
    const last = outcomes[1];
    if (last?.ok) {
      expect(sha256(last.bytes)).toBe(result.sha256);
      expect(JSON.parse(result.sidecar.toString("utf8"))).toMatchObject({ skipped: [{ path: "optimizer.pt" }] });
    }
  });

  it("a destination that fails part way: a PackagingError naming its failure, the files' reading stopped", async () => {
    const ck = await tempDir();
    await writeTree(path.join(ck, "step-1"), { "model.bin": randomData(32 << 20) });
    await commit(path.join(ck, "step-1"), 10);
    const err = await streamArchive(await select(ck), {
      jobName: "j",
      reason: "Stopped",
      compression: "stored",
      deliver: async (stream) => {
        for await (const _chunk of stream) {
          const failure = new Error("the store said no");
          stream.destroy(failure);
          throw failure;
        }
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PackagingError);
    expect((err as PackagingError).message).toMatch(/the store said no/);
  });

  it("a destination that never reads, then the deadline: DEADLINE, at the deadline, its stream errored", async () => {
    const ck = await tempDir();
    await writeTree(path.join(ck, "step-1"), { "model.bin": randomData(16 << 20) });
    await commit(path.join(ck, "step-1"), 10);
    let seen: Promise<string> | undefined;
    const started = Date.now();
    const err = await streamArchive(await select(ck), {
      jobName: "j",
      reason: "Stopped",
      compression: "none",
      deadline: Date.now() + 800,
      deliver: (stream) => {
        seen = new Promise((resolve) => stream.once("error", (e) => resolve(String(e))));
        return seen.then((e) => Promise.reject(new Error(e)));
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PackagingError);
    expect((err as PackagingError).code).toBe("DEADLINE");
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await seen).toMatch(/deadline/);
  });
});
