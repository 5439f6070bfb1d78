/**
 * The archive's second consumer (the upload) reads the archive file as it is written: the local
 * archive is committed whatever that consumer does, and the consumer's stream ends normally only
 * with the complete archive.
 */
import { afterAll, describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import { appendFile, readFile } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { packageCheckpoint, verifyArchive } from "../../src/artifacts/index.js";
import { commit, randomData, readAll, removeTempDirs, selectPackable as select, sha256, tempDir, textData, writeTree } from "./helpers.js";

afterAll(removeTempDirs);

describe("the archive's follower", () => {
  for (const compression of ["stored", "none", "fast"] as const) {
    it(`${compression}: a follower that reads nothing until the archive is committed does not hold it back; it then reads exactly the committed archive`, async () => {
      const ck = await tempDir();
      await writeTree(path.join(ck, "step-1"), { "model.bin": randomData(24 << 20), "config.json": "{}" });
      await commit(path.join(ck, "step-1"), 10);
      const modelDir = await tempDir();
      const followed: { stream: Readable; fileName: string; expectedBytes: number | undefined }[] = [];
      const result = await packageCheckpoint(await select(ck), {
        modelDir,
        jobName: "j",
        reason: "Stopped",
        compression,
        layout: "archive",
        // Takes the stream and reads nothing: 24 MiB is far more than any stream buffer holds.
        follow: (stream, info) => followed.push({ stream, ...info }),
      });
      expect(followed).toHaveLength(1);
      const [f] = followed as [(typeof followed)[0]];
      expect(f.fileName).toBe(path.basename(result.path));
      if (compression !== "fast") expect(f.expectedBytes).toBe(result.bytes);
      expect((await verifyArchive(result.path)).problems).toEqual([]);
      // Renamed into place since: the follower still reads the file it opened.
      const bytes = await readAll(f.stream);
      expect(bytes.length).toBe(result.bytes);
      expect(sha256(bytes)).toBe(result.sha256);
      expect(sha256(await readFile(result.path))).toBe(result.sha256);
    });
  }

  it("followAfterCommit: a follower that asks at once gets no byte before the archive is committed, then exactly the archive", async () => {
    const ck = await tempDir();
    await writeTree(path.join(ck, "step-1"), { "model.bin": randomData(24 << 20), "config.json": "{}" });
    await commit(path.join(ck, "step-1"), 10);
    const modelDir = await tempDir();
    const finalPath = path.join(modelDir, "model.tar");
    const chunks: Buffer[] = [];
    let bytesBeforeCommit = 0;
    let ended!: Promise<void>;
    const result = await packageCheckpoint(await select(ck), {
      modelDir,
      jobName: "j",
      reason: "Stopped",
      compression: "none",
      layout: "archive",
      followAfterCommit: true,
      // Reads as eagerly as it can: every chunk is checked against the commit (the rename).
      follow: (stream) => {
        stream.on("data", (chunk: Buffer) => {
          if (!existsSync(finalPath)) bytesBeforeCommit += chunk.length;
          chunks.push(chunk);
        });
        ended = new Promise((resolve, reject) => stream.on("end", resolve).on("error", reject));
      },
    });
    await ended;
    expect(bytesBeforeCommit).toBe(0);
    const bytes = Buffer.concat(chunks);
    expect(bytes.length).toBe(result.bytes);
    expect(sha256(bytes)).toBe(result.sha256);
  });

  it("a retried attempt (a file changed while read) ends the earlier follower with an error, never a normal end; the last one reads the committed archive", async () => {
    const ck = await tempDir();
    await writeTree(ck, { "model.pt": textData(8 << 20), "optimizer.pt": textData(4 << 20, 9), "config.json": "{}" });
    const sel = await select(ck);
    await appendFile(path.join(ck, "optimizer.pt"), "rewritten after selection");
    const modelDir = await tempDir();
    const outcomes: Promise<{ ok: true; bytes: Buffer } | { ok: false; error: string }>[] = [];
    const result = await packageCheckpoint(sel, {
      modelDir,
      jobName: "j",
      reason: "Stopped",
      compression: "none",
      layout: "archive",
      follow: (stream) =>
        outcomes.push(
          readAll(stream).then(
            (bytes) => ({ ok: true as const, bytes }),
            (err: unknown) => ({ ok: false as const, error: String(err) }),
          ),
        ),
    });
    expect(result.skipped.map((s) => s.path)).toEqual(["optimizer.pt"]);
    const settled = await Promise.all(outcomes);
    expect(settled.length).toBeGreaterThanOrEqual(2);
    for (const earlier of settled.slice(0, -1)) {
      expect(earlier.ok).toBe(false);
      if (!earlier.ok) expect(earlier.error).toMatch(/not completed/);
    }
    const last = settled.at(-1);
    expect(last?.ok).toBe(true);
    if (last?.ok) expect(sha256(last.bytes)).toBe(result.sha256);
  });

  it("an aborted packaging ends the follower with an error and leaves no archive", async () => {
    const ck = await tempDir();
    await writeTree(path.join(ck, "step-1"), { "model.bin": randomData(16 << 20) });
    await commit(path.join(ck, "step-1"), 10);
    const modelDir = await tempDir();
    const controller = new AbortController();
    let outcome: Promise<string> | undefined;
    const err = await packageCheckpoint(await select(ck), {
      modelDir,
      jobName: "j",
      reason: "Stopped",
      compression: "stored",
      layout: "archive",
      signal: controller.signal,
      onProgress: () => controller.abort(new Error("stop now")),
      follow: (stream) => {
        outcome = readAll(stream).then(
          () => "ended normally",
          (e: unknown) => String(e),
        );
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(await outcome).toMatch(/not completed/);
  });
});
