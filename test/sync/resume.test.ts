import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { CheckpointSync, ResumeError, SYNC_INDEX_NAME, resumeFromRemote } from "../../src/sync/index.js";
import { waitFor } from "../helpers/wait.js";
import { useBackends, type Backend } from "./backends.js";
import { MARKER, MiB, readTree, sha, tempDir, totalBytes, writeCheckpoint, type CheckpointContent } from "./helpers.js";

const backends = useBackends();
let run = 0;

/**
 * Two complete checkpoints uploaded by a real sync, then a newer third one whose files are
 * remote but whose marker never made it (the job was killed mid-upload).
 */
async function seedRemote(b: Backend, prefix: string): Promise<{ older: CheckpointContent; newest: CheckpointContent }> {
  const dir = await tempDir("seed");
  const sync = new CheckpointSync({ checkpointDir: dir, store: b.store, prefix, log: b.log, pollMs: 30 });
  sync.start();
  const older = await writeCheckpoint(dir, "ckpt-1", { "model.bin": randomBytes(MiB), "config.json": Buffer.from("{}") });
  await waitFor("ckpt-1 remote", () => sync.lag().newestRemote === "ckpt-1", { timeoutMs: 10_000 });
  const newest = await writeCheckpoint(dir, "ckpt-2", {
    "model.bin": randomBytes(4 * MiB),
    "shards/part-0.bin": randomBytes(700 * 1024),
    "config.json": Buffer.from('{"step":2}'),
  });
  await waitFor("ckpt-2 remote", () => sync.lag().newestRemote === "ckpt-2" && sync.lag().checkpoints === 0, { timeoutMs: 10_000 });
  await sync.stop();
  await b.store.putBytes(`${prefix}/ckpt-3/model.bin`, randomBytes(MiB));
  await b.store.putBytes(`${prefix}/ckpt-3/config.json`, "{}");
  await rm(dir, { recursive: true, force: true });
  return { older, newest };
}

async function expectTree(dir: string, content: CheckpointContent): Promise<void> {
  const tree = await readTree(dir);
  expect([...tree.keys()].sort()).toEqual([...content.keys()].sort());
  for (const [rel, data] of content) expect(sha(tree.get(rel) ?? Buffer.alloc(0)), rel).toBe(sha(data));
}

/** Nothing but `names` in the checkpoint dir: no staging or set-aside directories left over. */
async function expectOnly(dir: string, names: string[]): Promise<void> {
  expect((await readdir(dir)).sort()).toEqual(names.sort());
}

describe.each(["s3", "file"] as const)("resumeFromRemote on %s", (kind) => {
  const backend = () => (kind === "s3" ? backends.s3() : backends.file());

  it("restores the newest complete checkpoint, ignores a newer incomplete one, reuses identical local files", async () => {
    const b = backend();
    const prefix = `resume-${kind}-${++run}`;
    const { newest } = await seedRemote(b, prefix);

    // A fresh machine: everything is downloaded.
    const fresh = await tempDir("fresh");
    const result = await resumeFromRemote({ store: b.store, prefix, checkpointDir: fresh, log: b.log });
    expect(result).toEqual({ checkpoint: "ckpt-2", downloadedBytes: totalBytes(newest), skippedFiles: 0 });
    await expectTree(path.join(fresh, "ckpt-2"), newest);
    await expectOnly(fresh, ["ckpt-2"]);

    // A machine that kept part of it: the identical 4 MiB file is not downloaded again; a
    // corrupt one is replaced.
    const partial = await tempDir("partial");
    await mkdir(path.join(partial, "ckpt-2", "shards"), { recursive: true });
    await writeFile(path.join(partial, "ckpt-2", "model.bin"), newest.get("model.bin") ?? Buffer.alloc(0));
    await writeFile(path.join(partial, "ckpt-2", "shards", "part-0.bin"), randomBytes(700 * 1024));
    b.resetSent();
    b.proxy?.resetStats();
    const logBefore = b.proxy?.log().length ?? 0;
    const gotBefore = b.counters?.gets.length ?? 0;
    const second = await resumeFromRemote({ store: b.store, prefix, checkpointDir: partial, log: b.log });
    expect(second).toEqual({ checkpoint: "ckpt-2", downloadedBytes: totalBytes(newest) - 4 * MiB, skippedFiles: 1 });
    await expectTree(path.join(partial, "ckpt-2"), newest);
    await expectOnly(partial, ["ckpt-2"]);
    const fetched =
      b.proxy !== undefined
        ? b.proxy.log().slice(logBefore).filter((r) => r.kind === "GetObject").map((r) => r.path.replace(`/sync/`, ""))
        : (b.counters?.gets.slice(gotBefore) ?? []);
    expect(fetched).not.toContain(`${prefix}/ckpt-2/model.bin`);
    expect(fetched).toContain(`${prefix}/ckpt-2/shards/part-0.bin`);

    // The resumed checkpoint is what the remote holds: a sync in the new run sends nothing.
    b.resetSent();
    const sync = new CheckpointSync({ checkpointDir: partial, store: b.store, prefix, log: b.log });
    const flushed = await sync.flush({ deadline: Date.now() + 10_000 });
    expect(flushed).toMatchObject({ ok: true, checkpoint: "ckpt-2", bytes: 0, files: 0 });
    expect(b.sent()).toBe(0);
    await sync.stop();
    await rm(fresh, { recursive: true, force: true });
    await rm(partial, { recursive: true, force: true });
  });

  it("refuses a remote key that would land outside the checkpoint dir, naming it", async () => {
    const b = backend();
    const prefix = `hostile-${kind}-${++run}`;
    await seedRemote(b, prefix);
    const parent = await tempDir("hostile");
    const dir = path.join(parent, "checkpoints");
    // A climbing key, and one whose empty segment would make it absolute once joined.
    for (const evil of [`${prefix}/ckpt-2/../../../evil.sh`, `${prefix}/ckpt-2//tmp/evil.sh`]) {
      const { store } = b.variant({ extraKeys: () => [{ key: evil, size: 10 }] });
      const failure = await resumeFromRemote({ store, prefix, checkpointDir: dir, log: b.log }).catch((err: unknown) => err);
      expect(failure).toBeInstanceOf(ResumeError);
      expect(failure).toMatchObject({ code: "UNSAFE_KEY", key: evil });
      expect((failure as Error).message).toContain(JSON.stringify(evil));
      expect(existsSync(path.join(parent, "evil.sh"))).toBe(false);
      // Refused before anything was written: not even the checkpoint dir exists.
      expect(await readdir(parent)).toEqual([]);
    }
    await rm(parent, { recursive: true, force: true });
  });

  it("an abort during the download leaves no partial checkpoint, and the previous local copy untouched", async () => {
    const b = backend();
    const prefix = `abort-${kind}-${++run}`;
    await seedRemote(b, prefix);
    const dir = await tempDir("abort");
    // A partial local copy from before: it must still be exactly there afterwards.
    await mkdir(path.join(dir, "ckpt-2"));
    await writeFile(path.join(dir, "ckpt-2", "config.json"), "old");
    const store = kind === "file" ? b.variant({ bytesPerTick: () => 8 * 1024 }).store : b.store;
    b.proxy?.inject({ action: { type: "stall" }, match: (r) => r.kind === "GetObject" && r.path.endsWith("/ckpt-2/model.bin") });
    const controller = new AbortController();
    const pending = resumeFromRemote({ store, prefix, checkpointDir: dir, log: b.log, signal: controller.signal }).catch((err: unknown) => err);
    // Abort once the download is under way: a staging directory exists.
    await waitFor("the download to start", async () => (await readdir(dir)).some((n) => n.startsWith(".trainguard-")), { timeoutMs: 5_000 });
    await new Promise((r) => setTimeout(r, 200));
    controller.abort();
    const failure = await pending;
    b.proxy?.clearFaults();
    expect(failure).toMatchObject({ name: "ResumeError", code: "ABORTED" });
    await expectOnly(dir, ["ckpt-2"]);
    expect([...(await readTree(path.join(dir, "ckpt-2"))).keys()]).toEqual(["config.json"]);
    expect(existsSync(path.join(dir, "ckpt-2", MARKER))).toBe(false);

    // With a deadline instead of a signal: the same, as DEADLINE.
    b.proxy?.inject({ action: { type: "stall" }, match: (r) => r.kind === "GetObject" && r.path.endsWith("/ckpt-2/model.bin") });
    const late = await resumeFromRemote({ store, prefix, checkpointDir: dir, log: b.log, deadline: Date.now() + 800 }).catch((err: unknown) => err);
    b.proxy?.clearFaults();
    expect(late).toMatchObject({ name: "ResumeError", code: "DEADLINE" });
    await expectOnly(dir, ["ckpt-2"]);
    expect(existsSync(path.join(dir, "ckpt-2", MARKER))).toBe(false);
    await rm(dir, { recursive: true, force: true });
  });

  it("with nothing complete remote, starts fresh", async () => {
    const b = backend();
    const prefix = `empty-${kind}-${++run}`;
    await b.store.putBytes(`${prefix}/ckpt-1/model.bin`, randomBytes(1000));
    const dir = await tempDir("empty");
    expect(await resumeFromRemote({ store: b.store, prefix, checkpointDir: dir, log: b.log })).toEqual({ checkpoint: null, downloadedBytes: 0, skippedFiles: 0 });
    expect(await readdir(dir)).toEqual([]);
    expect((await stat(dir)).isDirectory()).toBe(true);
    expect(SYNC_INDEX_NAME).toBe(".trainguard-sync.json");
    await rm(dir, { recursive: true, force: true });
  });
});
