import { randomBytes } from "node:crypto";
import { rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CheckpointSync, SYNC_INDEX_NAME, type SyncLag } from "../../src/sync/index.js";
import { waitFor } from "../helpers/wait.js";
import { useBackends, events, type Backend } from "./backends.js";
import {
  MARKER,
  MiB,
  completeRemote,
  remoteTree,
  sha,
  tempDir,
  totalBytes,
  typicalCheckpoint,
  watchRemote,
  writeCheckpoint,
  type CheckpointContent,
} from "./helpers.js";

const backends = useBackends();
let run = 0;
const running: CheckpointSync[] = [];

afterEach(async () => {
  for (const s of running.splice(0)) await s.stop();
  backends.s3().proxy?.clearFaults();
});

function startSync(b: Backend, dir: string, prefix: string, extra: Partial<ConstructorParameters<typeof CheckpointSync>[0]> = {}): CheckpointSync {
  const sync = new CheckpointSync({ checkpointDir: dir, store: b.store, prefix, log: b.log, pollMs: 50, copyObject: b.copyObject, ...extra });
  running.push(sync);
  sync.start();
  return sync;
}

async function waitRemote(sync: CheckpointSync, name: string, timeoutMs = 10_000): Promise<void> {
  await waitFor(`${name} remote and no lag`, () => sync.lag().newestRemote === name && sync.lag().checkpoints === 0, {
    timeoutMs,
    describe: () => JSON.stringify(sync.lag()),
  });
}

async function expectRemoteEquals(b: Backend, prefix: string, name: string, content: CheckpointContent): Promise<void> {
  const tree = await remoteTree(b.store, prefix, name);
  tree.delete(SYNC_INDEX_NAME);
  expect([...tree.keys()].sort()).toEqual([...content.keys()].sort());
  for (const [rel, data] of content) expect(sha(tree.get(rel) ?? Buffer.alloc(0)), rel).toBe(sha(data));
}

describe.each(["s3", "file"] as const)("CheckpointSync on %s", (kind) => {
  const backend = () => (kind === "s3" ? backends.s3() : backends.file());

  it("uploads ten checkpoints during training; the stop moves only the tenth, markers always after files", async () => {
    const b = backend();
    const dir = await tempDir("ten");
    const prefix = `ten-${kind}-${++run}`;
    const lags: SyncLag[] = [];
    const sync = startSync(b, dir, prefix, { keep: 3, onLag: (l) => lags.push(l) });
    const expected = new Map<string, CheckpointContent>();
    const watcher = watchRemote(() => b.list(`${prefix}/`), prefix, expected);
    b.resetSent();
    for (let i = 1; i <= 9; i++) {
      const name = `ckpt-${String(i).padStart(2, "0")}`;
      expected.set(name, await writeCheckpoint(dir, name, typicalCheckpoint(i)));
      // Training goes on between checkpoints; the sync works in the background meanwhile.
      await new Promise((r) => setTimeout(r, 60));
    }
    await waitRemote(sync, "ckpt-09");
    const backgroundBytes = b.sent();

    // The tenth checkpoint commits and the stop comes at once: the flush moves it, and only it.
    const tenthFiles = typicalCheckpoint(10);
    b.resetSent();
    const tenth = await writeCheckpoint(dir, "ckpt-10", tenthFiles, { syncMarker: true });
    expected.set("ckpt-10", tenth);
    const result = await sync.flush({ deadline: Date.now() + 20_000 });
    const flushBytes = b.sent();
    const watched = await watcher.stop();
    await sync.stop();

    const tenthBytes = totalBytes(tenth);
    expect(result).toMatchObject({ ok: true, checkpoint: "ckpt-10", files: tenth.size, copiedFiles: 0, skippedFiles: 0 });
    // Bodies at the proxy: the checkpoint plus its small index, and nothing of the nine before.
    expect(flushBytes).toBeGreaterThanOrEqual(tenthBytes);
    expect(flushBytes).toBeLessThan(tenthBytes + 16 * 1024);
    expect(result.bytes).toBe(flushBytes);

    // In the background every checkpoint went up at most once (one behind by more than `keep`
    // is skipped: pruning would delete it at once), and the wire saw exactly what the sync sent.
    const uploaded = events(b.lines, "sync.uploaded").filter((e) => String(e.remote).endsWith(prefix));
    const names = uploaded.map((e) => String(e.checkpoint));
    expect(new Set(names).size).toBe(names.length);
    expect(names).toContain("ckpt-09");
    expect(names.at(-1)).toBe("ckpt-10");
    const background = uploaded.filter((e) => e.checkpoint !== "ckpt-10");
    expect(background.reduce((n, e) => n + Number(e.bytes), 0)).toBe(backgroundBytes);
    for (const e of background) expect(Number(e.bytes)).toBeLessThan(totalBytes(expected.get(String(e.checkpoint)) ?? new Map()) + 16 * 1024);
    const rates = background.map((e) => Number(e.mbPerSecond));
    console.log(
      `[${kind}] flush moved ${flushBytes} bytes for a ${tenthBytes}-byte checkpoint in ${result.ms} ms; ` +
        `background uploaded ${names.length - 1} of 9 (${backgroundBytes} bytes), MB/s per checkpoint ${rates.join(",")}`,
    );

    expect(watched.violations).toEqual([]);
    expect(watched.markersSeen).toBeGreaterThan(0);
    if (b.proxy !== undefined) {
      // Arrival order at the proxy: every marker PUT after all of its checkpoint's file PUTs and index.
      const puts = b.proxy.log().filter((r) => r.kind === "PutObject" || r.kind === "CompleteMultipartUpload");
      for (const [name, content] of expected) {
        const mine = puts.filter((r) => r.path.startsWith(`/sync/${prefix}/${name}/`));
        if (!names.includes(name)) {
          expect(mine, name).toEqual([]);
          continue;
        }
        expect(mine.length, name).toBe(content.size + 1);
        expect(mine.at(-1)?.path, name).toBe(`/sync/${prefix}/${name}/${MARKER}`);
        expect(mine.at(-2)?.path, name).toBe(`/sync/${prefix}/${name}/${SYNC_INDEX_NAME}`);
      }
    }
    await expectRemoteEquals(b, prefix, "ckpt-10", tenth);
    // Lag was reported while checkpoints waited, and is gone after the flush.
    expect(lags.some((l) => l.checkpoints > 0 && l.bytes > 0)).toBe(true);
    expect(sync.lag()).toMatchObject({ checkpoints: 0, bytes: 0, newestLocal: "ckpt-10", newestRemote: "ckpt-10" });
    await rm(dir, { recursive: true, force: true });
  });

  it("keeps only the newest `keep` complete remote checkpoints and never touches an incomplete one", async () => {
    const b = backend();
    const dir = await tempDir("keep");
    const prefix = `keep-${kind}-${++run}`;
    // Someone's upload that never got its marker: not ours to prune, and never complete.
    await b.store.putBytes(`${prefix}/ckpt-00/model.bin`, randomBytes(1000));
    const sync = startSync(b, dir, prefix, { keep: 2 });
    const contents = new Map<string, CheckpointContent>();
    for (let i = 1; i <= 5; i++) {
      const name = `ckpt-0${i}`;
      contents.set(name, await writeCheckpoint(dir, name, { "model.bin": randomBytes(300 * 1024), "meta.json": Buffer.from(`{"step":${i}}`) }));
      await waitRemote(sync, name);
    }
    await waitFor("pruning down to two", async () => completeRemote(await b.list(`${prefix}/`), prefix).length === 2);
    const entries = await b.list(`${prefix}/`);
    expect(completeRemote(entries, prefix)).toEqual(["ckpt-04", "ckpt-05"]);
    // Pruned ones are gone entirely, files and index too; the incomplete stranger stays.
    for (const gone of ["ckpt-01", "ckpt-02", "ckpt-03"]) expect(entries.filter((e) => e.key.startsWith(`${prefix}/${gone}/`))).toEqual([]);
    expect(entries.map((e) => e.key)).toContain(`${prefix}/ckpt-00/model.bin`);
    await expectRemoteEquals(b, prefix, "ckpt-05", contents.get("ckpt-05") ?? new Map());
    expect(events(b.lines, "sync.pruned").filter((e) => String(e.checkpoint).startsWith("ckpt-0") && e.keep === 2).length).toBeGreaterThanOrEqual(3);

    // keep=1 in a new run over the same remote: the newest complete one survives, always.
    await sync.stop();
    const one = startSync(b, dir, prefix, { keep: 1 });
    await waitFor("pruning down to one", async () => completeRemote(await b.list(`${prefix}/`), prefix).length === 1);
    expect(completeRemote(await b.list(`${prefix}/`), prefix)).toEqual(["ckpt-05"]);
    await one.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("does not send unchanged files again: across runs, on re-commit, and (with server-side copy) across checkpoints", async () => {
    const b = backend();
    const dir = await tempDir("dedupe");
    const prefix = `dedupe-${kind}-${++run}`;
    const shared = randomBytes(4 * MiB);
    const sync = startSync(b, dir, prefix);
    b.resetSent();
    const first = await writeCheckpoint(dir, "step-1", { "shared.bin": shared, "own.bin": randomBytes(MiB) });
    await waitRemote(sync, "step-1");
    const firstBytes = b.sent();
    expect(firstBytes).toBeGreaterThanOrEqual(totalBytes(first));

    // The second checkpoint holds a copy (another file, same bytes) of the 4 MiB file.
    b.resetSent();
    const second = await writeCheckpoint(dir, "step-2", { "shared.bin": Buffer.from(shared), "own.bin": randomBytes(MiB) });
    await waitRemote(sync, "step-2");
    const secondBytes = b.sent();
    await expectRemoteEquals(b, prefix, "step-2", second);
    if (b.copyObject !== undefined) {
      // Copied inside the bucket: only the new 1 MiB, the marker and the index crossed the wire.
      expect(secondBytes).toBeLessThan(MiB + 64 * 1024);
      expect(b.proxy?.log().some((r) => r.kind === "PutObject" && r.path === `/sync/${prefix}/step-2/shared.bin`)).toBe(true);
    } else {
      // A directory store has no copy: same key is what dedupes there; this one is new.
      expect(secondBytes).toBeGreaterThanOrEqual(totalBytes(second));
    }
    await sync.stop();

    // A new run (a restart) rebuilds what is remote from the remote: nothing is sent again.
    b.resetSent();
    const again = new CheckpointSync({ checkpointDir: dir, store: b.store, prefix, log: b.log, copyObject: b.copyObject });
    running.push(again);
    const flushed = await again.flush({ deadline: Date.now() + 10_000 });
    expect(flushed).toMatchObject({ ok: true, checkpoint: "step-2", files: 0, bytes: 0, skippedFiles: second.size });
    expect(b.sent()).toBe(0);

    // The algorithm re-commits step-2 with one file changed: only that file (and marker, index) moves.
    b.resetSent();
    const changed = randomBytes(MiB);
    await rm(path.join(dir, "step-2", MARKER));
    await writeFile(path.join(dir, "step-2", "own.bin"), changed);
    await writeFile(path.join(dir, "step-2", MARKER), "again\n");
    const recommit = await again.flush({ deadline: Date.now() + 10_000 });
    expect(recommit).toMatchObject({ ok: true, checkpoint: "step-2", files: 2, skippedFiles: 1 });
    expect(b.sent()).toBeGreaterThanOrEqual(MiB);
    expect(b.sent()).toBeLessThan(MiB + 64 * 1024);
    await expectRemoteEquals(b, prefix, "step-2", new Map([...second, ["own.bin", changed], [MARKER, Buffer.from("again\n")]]));
    await rm(dir, { recursive: true, force: true });
  });

  it("a flush during the background upload of the same checkpoint carries it on instead of starting over", async () => {
    const b = backend();
    const dir = await tempDir("adopt");
    const prefix = `adopt-${kind}-${++run}`;
    // Slow bodies (about 6 MB/s) so the stop lands mid-upload.
    const slow = b.variant({ bytesPerTick: () => 128 * 1024 });
    const sync = startSync(b, dir, prefix, { store: slow.store, concurrency: 1 });
    await waitFor("the remote is read", () => events(b.lines, "sync.remote-loaded").some((e) => String(e.remote).endsWith(prefix)));
    const before = slow.sent();
    const content = await writeCheckpoint(dir, "step-7", { "a.bin": randomBytes(2 * MiB), "b.bin": randomBytes(2 * MiB), "c.bin": randomBytes(2 * MiB) });
    // One file is up, the others are not: the stop comes now.
    await waitFor("the first file stored", () => sync.lag().checkpoints === 1 && sync.lag().bytes <= totalBytes(content) - 2 * MiB, { timeoutMs: 10_000 });
    const midway = slow.sent() - before;
    const result = await sync.flush({ deadline: Date.now() + 20_000 });
    const total = slow.sent() - before;
    expect(result).toMatchObject({ ok: true, checkpoint: "step-7" });
    expect(result.bytes).toBeLessThan(totalBytes(content));
    expect(result.bytes).toBeGreaterThan(0);
    // Across background and flush, every byte went once.
    expect(total).toBeGreaterThanOrEqual(totalBytes(content));
    expect(total).toBeLessThan(totalBytes(content) + 16 * 1024);
    expect(midway).toBeLessThan(totalBytes(content));
    await expectRemoteEquals(b, prefix, "step-7", content);
    await rm(dir, { recursive: true, force: true });
  });

  it("a flush that runs out of time leaves no marker and says DEADLINE", async () => {
    const b = backend();
    const dir = await tempDir("deadline");
    const prefix = `deadline-${kind}-${++run}`;
    // Bodies trickle (file) or are never answered (s3): the deadline must win.
    const store = kind === "file" ? b.variant({ bytesPerTick: () => 16 * 1024 }).store : b.store;
    b.proxy?.inject({ action: { type: "stall" }, match: (r) => r.kind === "PutObject" && r.path.includes(`/${prefix}/`) });
    await writeCheckpoint(dir, "big", { "model.bin": randomBytes(3 * MiB), "small.txt": Buffer.from("x") });
    const sync = new CheckpointSync({ checkpointDir: dir, store, prefix, log: b.log });
    running.push(sync);
    const started = Date.now();
    const deadline = started + 1_500;
    const result = await sync.flush({ deadline });
    expect(Date.now()).toBeLessThanOrEqual(deadline + 100);
    expect(result).toMatchObject({ ok: false, code: "DEADLINE", checkpoint: "big" });
    b.proxy?.clearFaults();
    const keys = (await b.list(`${prefix}/`)).map((e) => e.key);
    expect(keys).not.toContain(`${prefix}/big/${MARKER}`);
    expect(keys).not.toContain(`${prefix}/big/${SYNC_INDEX_NAME}`);
    await rm(dir, { recursive: true, force: true });
  });
});

describe("CheckpointSync through S3 faults", () => {
  it("retries through 503 SlowDown and connection resets, reports lag meanwhile, and catches up", async () => {
    const b = backends.s3();
    const proxy = b.proxy;
    if (proxy === undefined) throw new Error("s3 backend has a proxy");
    const dir = await tempDir("faults");
    const prefix = `faults-${++run}`;
    const lags: SyncLag[] = [];
    const linesBefore = b.lines.length;
    const sync = startSync(b, dir, prefix, { onLag: (l) => lags.push(l), retryDelayMs: { initial: 100, max: 400 } });
    await waitFor("the remote is read", () => events(b.lines.slice(linesBefore), "sync.remote-loaded").length > 0);

    // S3 throttles every write for a while.
    const slowdown = proxy.inject({ action: { type: "slowdown" }, match: (r) => r.kind === "PutObject" || r.kind === "UploadPart" || r.kind === "CreateMultipartUpload" });
    const one = await writeCheckpoint(dir, "one", typicalCheckpoint(1));
    await waitFor("a sync.error while S3 throttles", () => events(b.lines.slice(linesBefore), "sync.error").length > 0, { timeoutMs: 15_000 });
    expect(sync.lag()).toMatchObject({ checkpoints: 1, newestLocal: "one" });
    expect(sync.lag().bytes).toBeGreaterThan(2 * MiB - 1);
    expect(slowdown.hits).toBeGreaterThan(0);
    const error = events(b.lines.slice(linesBefore), "sync.error")[0];
    expect(String(error?.error)).toMatch(/SlowDown|503/);
    expect(String(error?.error)).not.toContain("\n");
    slowdown.remove();

    // Then connections reset halfway through bodies.
    const resets = proxy.inject({ action: { type: "reset", afterBytes: 200 * 1024 }, match: (r) => r.kind === "PutObject" && r.path.endsWith("model.bin"), times: 2 });
    const two = await writeCheckpoint(dir, "two", typicalCheckpoint(2));
    await waitRemote(sync, "two", 20_000);
    await waitFor("one remote too", async () => completeRemote(await b.list(`${prefix}/`), prefix).includes("one"), { timeoutMs: 10_000 });
    expect(resets.hits).toBe(2);
    await expectRemoteEquals(b, prefix, "one", one);
    await expectRemoteEquals(b, prefix, "two", two);
    expect(lags.some((l) => l.checkpoints >= 1)).toBe(true);
    expect(sync.lag()).toMatchObject({ checkpoints: 0, bytes: 0 });
    await rm(dir, { recursive: true, force: true });
  });
});
