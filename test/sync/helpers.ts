import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, readdir, writeFile } from "node:fs/promises";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable, Transform } from "node:stream";
import type { ObjectEntry, ObjectStore, PutStreamOptions } from "../../src/storage/index.js";

export const MiB = 1024 * 1024;
export const MARKER = ".trainguard-commit";

export function sha(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

export async function tempDir(tag: string): Promise<string> {
  return mkdtemp(path.join(tmpdir(), `tg-sync-${tag}-`));
}

/** A checkpoint as the test wrote it: relative path -> content (marker included). */
export type CheckpointContent = Map<string, Buffer>;

/**
 * Write a checkpoint the way a careful algorithm does: files, then the marker. `syncMarker`
 * writes the marker synchronously, so the caller can act in the same tick it appears.
 */
export async function writeCheckpoint(
  dir: string,
  name: string,
  files: Record<string, Buffer>,
  opts: { syncMarker?: boolean } = {},
): Promise<CheckpointContent> {
  const content: CheckpointContent = new Map();
  for (const [rel, data] of Object.entries(files)) {
    const file = path.join(dir, name, ...rel.split("/"));
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, data);
    content.set(rel, data);
  }
  const marker = Buffer.from(`committed ${name}\n`);
  const markerFile = path.join(dir, name, MARKER);
  if (opts.syncMarker === true) writeFileSync(markerFile, marker);
  else await writeFile(markerFile, marker);
  content.set(MARKER, marker);
  return content;
}

/** 2 MiB of random data plus a few small files: one training checkpoint. */
export function typicalCheckpoint(step: number): Record<string, Buffer> {
  return {
    "model.bin": randomBytes(2 * MiB),
    "optimizer/state-0.bin": randomBytes(96 * 1024),
    "optimizer/state-1.bin": randomBytes(40 * 1024),
    "config.json": Buffer.from(JSON.stringify({ step, lr: 0.001 })),
  };
}

export function totalBytes(content: CheckpointContent): number {
  let n = 0;
  for (const data of content.values()) n += data.length;
  return n;
}

/** Every regular file under `dir`, relative, "/"-separated, with its bytes. */
export async function readTree(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const walk = async (d: string, rel: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const r = rel === "" ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) await walk(path.join(d, e.name), r);
      else if (e.isFile()) out.set(r, await readFile(path.join(d, e.name)));
    }
  };
  await walk(dir, "");
  return out;
}

export interface StoreCounters {
  /** Bytes handed to putStream/putBytes that ended in a stored object. */
  putBytes: number;
  /** Keys stored, in the order the puts completed. */
  puts: string[];
  /** Keys read through getStream. */
  gets: string[];
}

/**
 * A store wrapper for file:// (and anything else without a proxy in front): counts what was
 * stored and read, optionally slows bodies down, optionally adds keys to listings.
 */
export function instrument(
  inner: ObjectStore,
  opts: { bytesPerTick?: () => number | undefined; extraKeys?: () => ObjectEntry[] } = {},
): { store: ObjectStore; counters: StoreCounters } {
  const counters: StoreCounters = { putBytes: 0, puts: [], gets: [] };
  const slow = (source: Readable): Readable => {
    const rate = opts.bytesPerTick?.();
    if (rate === undefined) return source;
    const throttle = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        // Slice and delay, so a deadline or abort lands mid-body.
        const pieces: Buffer[] = [];
        for (let i = 0; i < chunk.length; i += rate) pieces.push(chunk.subarray(i, i + rate));
        const next = () => {
          const piece = pieces.shift();
          if (piece === undefined) return callback();
          this.push(piece);
          setTimeout(next, 20);
        };
        next();
      },
    });
    source.on("error", (err) => throttle.destroy(err));
    throttle.on("close", () => source.destroy());
    return source.pipe(throttle);
  };
  const store: ObjectStore = {
    kind: inner.kind,
    uri: (key) => inner.uri(key),
    async putStream(key: string, source: Readable, putOpts?: PutStreamOptions) {
      const result = await inner.putStream(key, slow(source), putOpts);
      counters.putBytes += result.bytes;
      counters.puts.push(key);
      return result;
    },
    async putBytes(key, data, putOpts) {
      const result = await inner.putBytes(key, data, putOpts);
      counters.putBytes += result.bytes;
      counters.puts.push(key);
      return result;
    },
    async getStream(key, getOpts) {
      counters.gets.push(key);
      return slow(await inner.getStream(key, getOpts));
    },
    head: (key) => inner.head(key),
    async list(prefix) {
      const entries = await inner.list(prefix);
      const extra = (opts.extraKeys?.() ?? []).filter((e) => e.key.startsWith(prefix));
      return [...entries, ...extra].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    },
    deleteMany: (keys) => inner.deleteMany(keys),
  };
  return { store, counters };
}

/**
 * Polls a remote listing while the sync runs and records every moment a checkpoint showed a
 * marker while one of its files was missing or of the wrong size.
 */
export function watchRemote(
  list: () => Promise<ObjectEntry[]>,
  prefix: string,
  expected: Map<string, CheckpointContent>,
): { stop(): Promise<{ looks: number; violations: string[]; markersSeen: number }> } {
  let running = true;
  let looks = 0;
  let markersSeen = 0;
  const violations: string[] = [];
  const loop = (async () => {
    while (running) {
      const entries = await list().catch(() => undefined);
      if (entries !== undefined) {
        looks++;
        const sizes = new Map(entries.map((e) => [e.key, e.size]));
        for (const [name, content] of expected) {
          if (!sizes.has(`${prefix}/${name}/${MARKER}`)) continue;
          markersSeen++;
          for (const [rel, data] of content) {
            const size = sizes.get(`${prefix}/${name}/${rel}`);
            if (size !== data.length) violations.push(`${name}: marker visible while ${rel} is ${size === undefined ? "missing" : `${size} bytes`}`);
          }
        }
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { looks, violations, markersSeen };
    },
  };
}

/** The bytes of every object under `<prefix>/<name>/`, keyed by relative path. */
export async function remoteTree(store: ObjectStore, prefix: string, name: string): Promise<Map<string, Buffer>> {
  const base = `${prefix}/${name}/`;
  const out = new Map<string, Buffer>();
  for (const e of await store.list(base)) {
    const chunks: Buffer[] = [];
    for await (const chunk of await store.getStream(e.key)) chunks.push(chunk as Buffer);
    out.set(e.key.slice(base.length), Buffer.concat(chunks));
  }
  return out;
}

/** Names of remote checkpoints with a marker object. */
export function completeRemote(entries: readonly ObjectEntry[], prefix: string): string[] {
  return entries
    .filter((e) => e.key.startsWith(`${prefix}/`) && e.key.endsWith(`/${MARKER}`))
    .map((e) => e.key.slice(prefix.length + 1, -MARKER.length - 1))
    .sort();
}
