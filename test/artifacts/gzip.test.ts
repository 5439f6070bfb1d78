import { afterAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { gzipStream, storedGzipBytes } from "../../src/artifacts/index.js";
import { randomData, removeTempDirs, run, tempDir, textData } from "./helpers.js";

afterAll(removeTempDirs);

async function gzipAll(data: Buffer, level: number, opts: { blockBytes?: number; chunk?: number } = {}): Promise<Buffer> {
  async function* source(): AsyncGenerator<Buffer> {
    const step = opts.chunk ?? 100_003;
    for (let at = 0; at < data.length; at += step) yield data.subarray(at, at + step);
  }
  const out: Buffer[] = [];
  for await (const piece of gzipStream(source(), { level, ...(opts.blockBytes ? { blockBytes: opts.blockBytes } : {}) })) out.push(piece);
  return Buffer.concat(out);
}

/** Python's zlib in gzip mode stops at the end of the first member: anything left over is another. */
async function pythonMembers(file: string): Promise<{ eof: boolean; unused: number; sha256: string }> {
  const { stdout } = await run("python3", [
    "-c",
    "import sys, zlib, hashlib, json\nd = zlib.decompressobj(31)\nout = d.decompress(open(sys.argv[1], 'rb').read())\nprint(json.dumps({'eof': d.eof, 'unused': len(d.unused_data), 'sha256': hashlib.sha256(out).hexdigest()}))",
    file,
  ]);
  return JSON.parse(stdout) as { eof: boolean; unused: number; sha256: string };
}

describe("parallel gzip: one member, pigz-style blocks", () => {
  const mixed = Buffer.concat([textData(700_000), randomData(300_000), Buffer.alloc(200_000), textData(123_457, 5)]);
  const sha = createHash("sha256").update(mixed).digest("hex");

  it.each([0, 1, 6, 9])("level %i: gzip -t passes, Python sees one member, content identical", async (level) => {
    const dir = await tempDir();
    // Small blocks so the stream crosses many of them, with chunks that straddle block edges.
    const gz = await gzipAll(mixed, level, { blockBytes: 64 * 1024 });
    const file = path.join(dir, "x.gz");
    await writeFile(file, gz);
    await run("gzip", ["-t", file]);
    const py = await pythonMembers(file);
    expect(py).toEqual({ eof: true, unused: 0, sha256: sha });
    expect(gunzipSync(gz).equals(mixed)).toBe(true);
    if (level > 0) expect(gz.length).toBeLessThan(mixed.length * 0.8);
  });

  it("the dictionary carries matches across blocks: repeated 16 KiB text costs once, not once per block", async () => {
    const unit = textData(16 * 1024, 11);
    const data = Buffer.concat(Array.from({ length: 40 }, () => unit)); // 640 KiB: 10 blocks of 64 KiB
    const gz = await gzipAll(data, 6, { blockBytes: 64 * 1024 });
    // Without the previous block's 32 KiB as dictionary, each of the 10 blocks would pay ~6 KB for
    // the text again (60 KB in all); with it only the first does.
    expect(gz.length).toBeLessThan(unit.length);
    expect(gunzipSync(gz).equals(data)).toBe(true);
  });

  it.each([0, 1, 65_535, 65_536, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) - 7])("stored output length is exact for %i bytes", async (n) => {
    const data = randomData(n);
    const gz = await gzipAll(data, 0);
    expect(gz.length).toBe(storedGzipBytes(n));
    expect(gunzipSync(gz).equals(data)).toBe(true);
  });

  it("empty input is a valid, empty .gz at every level", async () => {
    for (const level of [0, 1, 6]) {
      const gz = await gzipAll(Buffer.alloc(0), level);
      expect(gunzipSync(gz).length).toBe(0);
    }
  });

  it("GNU gzip and Python agree on a large stream at the default block size", async () => {
    const dir = await tempDir();
    const data = Buffer.concat([textData(5 << 20), randomData(1 << 20)]);
    const file = path.join(dir, "big.gz");
    await writeFile(file, await gzipAll(data, 1, { chunk: 1 << 20 }));
    const { stdout } = await run("sh", ["-c", `gzip -dc '${file}' | sha256sum`]);
    const want = createHash("sha256").update(data).digest("hex");
    expect(stdout.split(" ")[0]).toBe(want);
    expect((await pythonMembers(file)).unused).toBe(0);
    expect((await readFile(file)).length).toBeLessThan(data.length);
  });

  it("keeps the event loop responsive while compressing", async () => {
    const data = textData(24 << 20);
    let ticks = 0;
    let worstGap = 0;
    let last = Date.now();
    const timer = setInterval(() => {
      const now = Date.now();
      worstGap = Math.max(worstGap, now - last);
      last = now;
      ticks++;
    }, 10);
    try {
      await gzipAll(data, 6, { chunk: 1 << 20 });
    } finally {
      clearInterval(timer);
    }
    expect(ticks).toBeGreaterThan(5);
    // A synchronous deflate of 24 MiB at level 6 would block for about a second here.
    expect(worstGap).toBeLessThan(250);
  });
});
