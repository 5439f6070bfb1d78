import { open } from "node:fs/promises";
import zlib from "node:zlib";
import type { CompressionMode, EffectiveCompression, PackEntry } from "./types.js";
import { defaultGzipConcurrency } from "./gzip-parallel.js";
import { forEachLimited } from "./limit.js";
import { READ_FLAGS } from "./open-flags.js";

export interface CompressionPlan {
  readonly compression: EffectiveCompression;
  /** gzip level, or null for a plain tar. */
  readonly level: number | null;
  /** Why, in words, for logs and the result's warnings. */
  readonly reason: string;
  readonly sample?: CompressionSample;
}

export interface CompressionSample {
  readonly sampledBytes: number;
  /** Compressed/raw at level 1. */
  readonly ratio: number;
  /** Measured with the same parallelism packaging uses. */
  readonly level1BytesPerSec: number;
  readonly level6BytesPerSec?: number;
}

const LEVEL: Record<Exclude<EffectiveCompression, "none">, number> = { gzip: 6, fast: 1, stored: 0 };
const SAMPLE_REGIONS = 16;
const REGION_BYTES = 256 * 1024;
/** Tensors in fp32 land at ~0.93: deflate would burn the time budget to save almost nothing. */
const INCOMPRESSIBLE_RATIO = 0.9;
/** "Fits well inside": the estimate is rough, and hashing, disk and upload share the time. */
const FIT_FRACTION = 0.5;

export function compressionForLevel(level: number | null): EffectiveCompression {
  if (level === null) return "none";
  if (level === 0) return "stored";
  if (level === 1) return "fast";
  return "gzip";
}

/**
 * Fixed modes map to a level. `auto` samples a few MiB spread over the files: data that barely
 * compresses is stored; otherwise the strongest level (6, then 1) whose estimated time fits well
 * inside the time left. Without a deadline, level 1: nothing says there is time to spare, and
 * level 6 costs about 3x the time for a few percent.
 */
export async function planCompression(
  mode: CompressionMode,
  entries: readonly PackEntry[],
  opts: { deadline?: number; signal?: AbortSignal } = {},
): Promise<CompressionPlan> {
  if (mode === "none") return { compression: "none", level: null, reason: "compression none: plain tar" };
  if (!(mode in LEVEL) && mode !== "auto") throw new TypeError(`unknown compression mode ${JSON.stringify(mode)}`);
  if (mode !== "auto") return { compression: mode, level: LEVEL[mode], reason: `compression ${mode}: level ${LEVEL[mode]}` };

  const files = entries.filter((e) => e.type === "file" && e.size > 0);
  const total = files.reduce((n, e) => n + e.size, 0);
  const regions = await readSample(files, total, opts.signal);
  const sampledBytes = regions.reduce((n, r) => n + r.length, 0);
  if (sampledBytes === 0) return { compression: "gzip", level: 6, reason: "auto: no file content, level 6" };

  const level1 = await measure(regions, 1);
  const sample: { -readonly [K in keyof CompressionSample]: CompressionSample[K] } = {
    sampledBytes,
    ratio: level1.ratio,
    level1BytesPerSec: level1.bytesPerSec,
  };
  const pct = (level1.ratio * 100).toFixed(0);
  if (level1.ratio > INCOMPRESSIBLE_RATIO) {
    return { compression: "stored", level: 0, sample, reason: `auto: sample compresses only to ${pct}% at level 1, stored` };
  }
  if (opts.deadline === undefined) {
    return { compression: "fast", level: 1, sample, reason: `auto: compresses to ${pct}%, no deadline, level 1` };
  }
  opts.signal?.throwIfAborted();
  const level6 = await measure(regions.slice(0, Math.max(2, regions.length >> 2)), 6);
  sample.level6BytesPerSec = level6.bytesPerSec;
  const secondsLeft = Math.max(0, (opts.deadline - Date.now()) / 1000);
  const t6 = total / level6.bytesPerSec;
  const t1 = total / level1.bytesPerSec;
  const est = (t: number): string => `${t.toFixed(1)} s of ${secondsLeft.toFixed(1)} s left`;
  if (t6 <= FIT_FRACTION * secondsLeft) return { compression: "gzip", level: 6, sample, reason: `auto: level 6 needs ~${est(t6)}` };
  if (t1 <= FIT_FRACTION * secondsLeft) return { compression: "fast", level: 1, sample, reason: `auto: level 1 needs ~${est(t1)}` };
  return { compression: "stored", level: 0, sample, reason: `auto: level 1 would need ~${est(t1)}, stored` };
}

async function readSample(files: readonly PackEntry[], total: number, signal: AbortSignal | undefined): Promise<Buffer[]> {
  if (total === 0) return [];
  // Evenly spaced points over all bytes, so one big tensor file and many small configs are both
  // represented in proportion to the bytes they will cost.
  const wanted: { entry: PackEntry; offset: number; length: number }[] = [];
  if (total <= SAMPLE_REGIONS * REGION_BYTES) {
    for (const entry of files) wanted.push({ entry, offset: 0, length: entry.size });
  } else {
    let fileIndex = 0;
    let fileStart = 0;
    for (let k = 0; k < SAMPLE_REGIONS; k++) {
      const point = Math.floor(((k + 0.5) * total) / SAMPLE_REGIONS);
      while (fileIndex < files.length && fileStart + (files[fileIndex]?.size ?? 0) <= point) {
        fileStart += files[fileIndex]?.size ?? 0;
        fileIndex++;
      }
      const entry = files[fileIndex];
      if (!entry) break;
      const offset = Math.max(0, Math.min(point - fileStart, entry.size - REGION_BYTES));
      wanted.push({ entry, offset, length: Math.min(REGION_BYTES, entry.size) });
    }
  }
  const regions: Buffer[] = [];
  await forEachLimited(wanted, 4, async (w) => {
    signal?.throwIfAborted();
    try {
      const fh = await open(w.entry.abs, READ_FLAGS);
      try {
        const buf = Buffer.allocUnsafe(w.length);
        const { bytesRead } = await fh.read(buf, 0, w.length, w.offset);
        if (bytesRead > 0) regions.push(buf.subarray(0, bytesRead));
      } finally {
        await fh.close();
      }
    } catch {
      // A file that vanished is packaging's problem to report, not sampling's.
    }
  });
  return regions;
}

async function measure(regions: readonly Buffer[], level: number): Promise<{ ratio: number; bytesPerSec: number }> {
  let raw = 0;
  let packed = 0;
  const start = process.hrtime.bigint();
  await forEachLimited(regions, defaultGzipConcurrency(), async (r) => {
    const out = await new Promise<Buffer>((resolve, reject) =>
      zlib.deflateRaw(r, { level, chunkSize: r.length + 65536 }, (err, res) => (err ? reject(err) : resolve(res))),
    );
    raw += r.length;
    packed += out.length;
  });
  const seconds = Math.max(1e-6, Number(process.hrtime.bigint() - start) / 1e9);
  return { ratio: raw === 0 ? 1 : packed / raw, bytesPerSec: raw / seconds };
}
