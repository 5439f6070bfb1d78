import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { copyFile, link, mkdir, open, readdir, rename, rm, stat, utimes } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { DEFAULT_COMMIT_MARKERS } from "../artifacts/index.js";
import { describeError, errorMessage, fsyncDirectory } from "../contract/index.js";
import type { Logger } from "../log/index.js";
import { safeRelativeKey, type ObjectStore } from "../storage/index.js";
import { Cancelled, DeadlineReached, ResumeError } from "./errors.js";
import { HashingStream, hashHandle } from "./hashing.js";
import { LOCAL_TEMP_PREFIX, NAME_ORDER, SYNC_INDEX_NAME, fileKey, groupListing, isMarker, listingPrefix, normalizePrefix } from "./layout.js";
import { runPool } from "./pool.js";
import { readSyncIndex } from "./remote-state.js";
import { raceAbort } from "../async/index.js";
import { limitSignal } from "./signals.js";
import type { SyncIndex } from "./sync-index.js";
import type { ResumeOptions, ResumeResult } from "./types.js";

const STAGE_PREFIX = `${LOCAL_TEMP_PREFIX}resume-`;
const ASIDE_PREFIX = `${LOCAL_TEMP_PREFIX}replaced-`;

interface RemoteFileSpec {
  readonly rel: string;
  readonly size: number;
  readonly sha256?: string;
}

interface Candidate {
  readonly name: string;
  readonly committedAtMs: number | undefined;
  readonly files: RemoteFileSpec[];
}

/**
 * Before the algorithm starts: bring the newest complete remote checkpoint (one with a marker
 * object) to `<checkpointDir>/<name>/`. Everything is staged in a hidden sibling directory,
 * markers last, checked against the sync index (size and sha256), and published with one
 * rename; files already there with the same content are linked, not downloaded. An abort or a
 * failure removes the staging directory and leaves what was there before untouched.
 */
export async function resumeFromRemote(opts: ResumeOptions): Promise<ResumeResult> {
  const { store, checkpointDir, log } = opts;
  const prefix = normalizePrefix(opts.prefix, "resume");
  const markers = opts.markers ?? DEFAULT_COMMIT_MARKERS;
  const concurrency = opts.concurrency ?? 4;
  const limit = limitSignal(opts.deadline, opts.signal, "resume");
  const signal = limit.signal;
  const started = Date.now();
  log.info({ event: "resume.start", remote: store.uri(prefix), checkpointDir }, "looking for a remote checkpoint to resume from");
  try {
    const chosen = await chooseCheckpoint({ store, prefix, markers, log, signal });
    if (chosen === undefined) {
      log.info({ event: "resume.done", checkpoint: null, downloadedBytes: 0, skippedFiles: 0 }, "no complete remote checkpoint: starting fresh");
      return { checkpoint: null, downloadedBytes: 0, skippedFiles: 0 };
    }
    await mkdir(checkpointDir, { recursive: true });
    await removeStale(checkpointDir, log);
    const result = await materialize({ store, prefix, markers, checkpointDir, chosen, signal, concurrency });
    log.info({ event: "resume.done", checkpoint: chosen.name, ...result, ms: Date.now() - started }, "resumed from remote checkpoint");
    return { checkpoint: chosen.name, ...result };
  } catch (err) {
    const failure = asResumeError(err, signal);
    log.warn({ event: "resume.failed", code: failure instanceof ResumeError ? failure.code : undefined, error: describeError(failure) }, "resume failed");
    throw failure;
  } finally {
    limit.dispose();
  }
}

function asResumeError(err: unknown, signal: AbortSignal): unknown {
  if (err instanceof ResumeError) return err;
  if (signal.aborted) {
    const reason: unknown = signal.reason;
    if (reason instanceof DeadlineReached) return new ResumeError("DEADLINE", "resume stopped at its deadline; nothing was published", undefined, { cause: err });
    if (reason instanceof Cancelled) return new ResumeError("ABORTED", "resume aborted; nothing was published", undefined, { cause: err });
  }
  return err;
}

/** Newest complete remote checkpoint whose index (when it has one) matches the listing. */
async function chooseCheckpoint(opts: {
  store: ObjectStore;
  prefix: string;
  markers: readonly string[];
  log: Logger;
  signal: AbortSignal;
}): Promise<Candidate | undefined> {
  const { store, prefix, markers, log, signal } = opts;
  const listing = await raceAbort(store.list(listingPrefix(prefix)), signal);
  const groups = groupListing(prefix, listing, (key, problem) => {
    throw new ResumeError("UNSAFE_KEY", `refusing remote key ${JSON.stringify(key)} under ${store.uri(prefix)}: ${problem}`, key);
  });
  const complete = [...groups].filter(([, files]) => [...files.keys()].some((rel) => isMarker(rel, markers)));
  const indexes = new Map<string, SyncIndex>();
  await runPool(
    complete.filter(([, files]) => files.has(SYNC_INDEX_NAME)),
    4,
    async ([name]) => {
      const index = await readSyncIndex(store, prefix, name, log, signal);
      if (index !== undefined) indexes.set(name, index);
    },
  );
  const candidates: Candidate[] = [];
  for (const [name, files] of complete) {
    const index = indexes.get(name);
    if (index === undefined) {
      const specs = [...files].filter(([rel]) => rel !== SYNC_INDEX_NAME).map(([rel, size]) => ({ rel, size }));
      candidates.push({ name, committedAtMs: undefined, files: specs });
      continue;
    }
    const missing = index.files.filter((f) => files.get(f.path) !== f.size);
    if (missing.length > 0) {
      log.warn({ event: "resume.skip", checkpoint: name, missing: missing.length, first: missing[0]?.path }, "remote checkpoint lacks files its index lists: not used");
      continue;
    }
    candidates.push({ name, committedAtMs: index.committedAtMs, files: index.files.map((f) => ({ rel: f.path, size: f.size, sha256: f.sha256 })) });
  }
  candidates.sort(
    (a, b) => (b.committedAtMs ?? Number.NEGATIVE_INFINITY) - (a.committedAtMs ?? Number.NEGATIVE_INFINITY) || NAME_ORDER.compare(b.name, a.name),
  );
  return candidates[0];
}

async function materialize(opts: {
  store: ObjectStore;
  prefix: string;
  markers: readonly string[];
  checkpointDir: string;
  chosen: Candidate;
  signal: AbortSignal;
  concurrency: number;
}): Promise<{ downloadedBytes: number; skippedFiles: number }> {
  const { store, prefix, markers, checkpointDir, chosen, signal } = opts;
  const finalDir = path.join(checkpointDir, chosen.name);
  const stage = path.join(checkpointDir, `${STAGE_PREFIX}${randomBytes(6).toString("hex")}`);
  // An index is remote data too: its paths get the same check as listed keys.
  const files = chosen.files.map((f) => ({ ...f, parts: safeParts(store.uri(fileKey(prefix, chosen.name, f.rel)), f.rel) }));
  let downloadedBytes = 0;
  let skippedFiles = 0;
  await mkdir(stage);
  try {
    const fetchOne = async (f: (typeof files)[number]) => {
      const target = path.join(stage, ...f.parts);
      await mkdir(path.dirname(target), { recursive: true });
      if (await reuseLocal(path.join(finalDir, ...f.parts), target, f, signal)) {
        skippedFiles++;
        return;
      }
      await download(store, fileKey(prefix, chosen.name, f.rel), target, f, signal);
      downloadedBytes += f.size;
    };
    await runPool(
      files.filter((f) => !isMarker(f.rel, markers)),
      opts.concurrency,
      fetchOne,
    );
    // Markers last: the staged checkpoint becomes complete only once everything else is in.
    for (const f of files.filter((m) => isMarker(m.rel, markers))) {
      await fetchOne(f);
      // The local commit order (marker mtime) is the remote one: the sync then sees this very
      // commit as already remote instead of hashing it all again.
      if (chosen.committedAtMs !== undefined) {
        const when = new Date(chosen.committedAtMs);
        await utimes(path.join(stage, ...f.parts), when, when);
      }
    }
    signal.throwIfAborted();
    fsyncDirectory(stage);
    await publish(stage, finalDir, checkpointDir);
  } catch (err) {
    await rm(stage, { recursive: true, force: true });
    throw err;
  }
  return { downloadedBytes, skippedFiles };
}

function safeParts(uri: string, rel: string): string[] {
  try {
    return safeRelativeKey("", rel).split("/");
  } catch (err) {
    throw new ResumeError("UNSAFE_KEY", `refusing ${uri}: the sync index names ${JSON.stringify(rel)}: ${errorMessage(err)}`, rel);
  }
}

/** Swap the staged checkpoint in. What was at `finalDir` (a partial copy) goes aside first and is then deleted. */
async function publish(stage: string, finalDir: string, checkpointDir: string): Promise<void> {
  const existing = await stat(finalDir).catch(() => undefined);
  if (existing === undefined) {
    await rename(stage, finalDir);
  } else {
    const aside = path.join(checkpointDir, `${ASIDE_PREFIX}${randomBytes(6).toString("hex")}`);
    await rename(finalDir, aside);
    try {
      await rename(stage, finalDir);
    } catch (err) {
      await rename(aside, finalDir).catch(() => undefined);
      throw err;
    }
    await rm(aside, { recursive: true, force: true });
  }
  fsyncDirectory(checkpointDir);
}

/** A local file with the same size and sha256 is linked (or copied) into the stage instead of downloaded. */
async function reuseLocal(local: string, target: string, f: RemoteFileSpec, signal: AbortSignal): Promise<boolean> {
  if (f.sha256 === undefined) return false;
  let handle;
  try {
    handle = await open(local, "r");
  } catch {
    return false;
  }
  try {
    const st = await handle.stat();
    if (!st.isFile() || st.size !== f.size) return false;
    const digest = await hashHandle(handle, signal);
    if (digest.sha256 !== f.sha256) return false;
  } finally {
    await handle.close();
  }
  await link(local, target).catch(() => copyFile(local, target));
  return true;
}

async function download(store: ObjectStore, key: string, target: string, f: RemoteFileSpec, signal: AbortSignal): Promise<void> {
  const body = await store.getStream(key, { signal });
  const hasher = new HashingStream();
  await pipeline(body, hasher, createWriteStream(target, { flags: "wx", mode: 0o644 }), { signal });
  if (hasher.bytes !== f.size) {
    throw new ResumeError("CORRUPT", `${store.uri(key)} gave ${hasher.bytes} bytes, expected ${f.size}`, key);
  }
  const { sha256 } = hasher.digest();
  if (f.sha256 !== undefined && sha256 !== f.sha256) {
    throw new ResumeError("CORRUPT", `${store.uri(key)} does not match the sha256 its sync index lists`, key);
  }
  const handle = await open(target, "r+");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Staging and set-aside directories a killed resume left behind. */
async function removeStale(checkpointDir: string, log: Logger): Promise<void> {
  for (const name of await readdir(checkpointDir)) {
    if (!name.startsWith(STAGE_PREFIX) && !name.startsWith(ASIDE_PREFIX)) continue;
    await rm(path.join(checkpointDir, name), { recursive: true, force: true });
    log.info({ event: "resume.cleanup", path: path.join(checkpointDir, name) }, "removed what an interrupted resume left");
  }
}
