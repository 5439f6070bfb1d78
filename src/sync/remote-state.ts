import type { Logger } from "../log/index.js";
import type { ObjectStore } from "../storage/index.js";
import { NAME_ORDER, SYNC_INDEX_NAME, checkpointKeyPrefix, groupListing, listingPrefix } from "./layout.js";
import { runPool } from "./pool.js";
import { raceAbort } from "../async/index.js";
import { MAX_SYNC_INDEX_BYTES, parseSyncIndex, type SyncIndex } from "./sync-index.js";

export interface RemoteFile {
  readonly size: number;
  /** Known when this run uploaded it or a trusted sync index lists it; otherwise only its size is. */
  readonly sha256?: string;
  readonly probe?: string;
}

export interface RemoteCheckpoint {
  readonly name: string;
  /** Relative path -> what is stored under it (the sync index itself not included). */
  readonly files: Map<string, RemoteFile>;
  /** Marker objects present: a checkpoint is complete when there is at least one. */
  readonly markers: Set<string>;
  /** From its sync index; undefined for checkpoints another tool wrote, or ours before the index. */
  committedAtMs: number | undefined;
  hasIndex: boolean;
  /** Being deleted by pruning: markers are gone, the rest may not be yet. */
  pruning: boolean;
}

export function isComplete(checkpoint: RemoteCheckpoint): boolean {
  return checkpoint.markers.size > 0;
}

/** Newest first: commit time (unknown counts as oldest), then name. */
export function byCommitDesc(a: RemoteCheckpoint, b: RemoteCheckpoint): number {
  const ta = a.committedAtMs ?? Number.NEGATIVE_INFINITY;
  const tb = b.committedAtMs ?? Number.NEGATIVE_INFINITY;
  if (ta !== tb) return tb > ta ? 1 : -1;
  return NAME_ORDER.compare(b.name, a.name);
}

/**
 * What the sync believes is under the prefix. Built once from a listing plus the sync indexes,
 * then kept current by the sync itself (it is the only writer under its prefix).
 */
export class RemoteState {
  readonly checkpoints = new Map<string, RemoteCheckpoint>();

  static async load(opts: {
    store: ObjectStore;
    prefix: string;
    markers: readonly string[];
    log: Logger;
    signal?: AbortSignal;
  }): Promise<RemoteState> {
    const { store, prefix, markers, log, signal } = opts;
    const state = new RemoteState();
    const listing = await raceAbort(store.list(listingPrefix(prefix)), signal);
    const groups = groupListing(prefix, listing, (key, problem) =>
      // Never downloaded by the sync, so only worth a warning here; resume refuses it.
      log.warn({ event: "sync.unsafe-key", key, problem }, "remote key ignored"),
    );
    const indexes = new Map<string, SyncIndex>();
    const withIndex = [...groups].filter(([, files]) => files.has(SYNC_INDEX_NAME)).map(([name]) => name);
    await runPool(withIndex, 4, async (name) => {
      const index = await readSyncIndex(store, prefix, name, log, signal);
      if (index !== undefined) indexes.set(name, index);
    });
    for (const [name, files] of groups) state.checkpoints.set(name, describe(name, files, indexes.get(name), markers));
    return state;
  }

  get(name: string): RemoteCheckpoint | undefined {
    return this.checkpoints.get(name);
  }

  ensure(name: string): RemoteCheckpoint {
    let checkpoint = this.checkpoints.get(name);
    if (checkpoint === undefined) {
      checkpoint = { name, files: new Map(), markers: new Set(), committedAtMs: undefined, hasIndex: false, pruning: false };
      this.checkpoints.set(name, checkpoint);
    }
    return checkpoint;
  }

  /** Complete checkpoints, newest first. */
  complete(): RemoteCheckpoint[] {
    return [...this.checkpoints.values()].filter(isComplete).sort(byCommitDesc);
  }

  /**
   * A stored object with this content, to copy from: size and sha256 equal. Any checkpoint will do,
   * complete or not: the object itself is whole either way.
   */
  findContent(size: number, sha256: string): { checkpoint: string; rel: string } | undefined {
    for (const checkpoint of this.checkpoints.values()) {
      if (checkpoint.pruning) continue;
      for (const [rel, file] of checkpoint.files) {
        if (file.size === size && file.sha256 === sha256) return { checkpoint: checkpoint.name, rel };
      }
    }
    return undefined;
  }

  /** Whether any stored object of this size has a known probe equal to `probe` (or any at all when probe is omitted). */
  hasCandidate(size: number, probe?: string): boolean {
    for (const checkpoint of this.checkpoints.values()) {
      if (checkpoint.pruning) continue;
      for (const file of checkpoint.files.values()) {
        if (file.size === size && file.sha256 !== undefined && (probe === undefined || file.probe === probe)) return true;
      }
    }
    return false;
  }
}

/**
 * Trust the index only for files the listing shows with the indexed size: a file overwritten
 * since keeps its size only by accident, and then only the index (rewritten before any marker) can
 * be wrong, which the sync rules out by deleting marker and index before it overwrites anything.
 */
function describe(name: string, files: Map<string, number>, index: SyncIndex | undefined, markers: readonly string[]): RemoteCheckpoint {
  const checkpoint: RemoteCheckpoint = {
    name,
    files: new Map(),
    markers: new Set(),
    committedAtMs: index?.committedAtMs,
    hasIndex: index !== undefined,
    pruning: false,
  };
  const indexed = new Map(index?.files.map((f) => [f.path, f]));
  for (const [rel, size] of files) {
    if (rel === SYNC_INDEX_NAME) continue;
    const known = indexed.get(rel);
    checkpoint.files.set(rel, known !== undefined && known.size === size ? { size, sha256: known.sha256, probe: known.probe } : { size });
    if (markers.includes(rel)) checkpoint.markers.add(rel);
  }
  return checkpoint;
}

export async function readSyncIndex(
  store: ObjectStore,
  prefix: string,
  name: string,
  log: Logger,
  signal?: AbortSignal,
): Promise<SyncIndex | undefined> {
  const key = `${checkpointKeyPrefix(prefix, name)}${SYNC_INDEX_NAME}`;
  const stream = await store.getStream(key, signal === undefined ? {} : { signal });
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of stream) {
    bytes += (chunk as Buffer).length;
    if (bytes > MAX_SYNC_INDEX_BYTES) {
      stream.destroy();
      log.warn({ event: "sync.index-invalid", checkpoint: name, problem: "too large" }, "remote sync index ignored");
      return undefined;
    }
    chunks.push(chunk as Buffer);
  }
  const parsed = parseSyncIndex(Buffer.concat(chunks).toString("utf8"), name);
  if ("problem" in parsed) {
    log.warn({ event: "sync.index-invalid", checkpoint: name, problem: parsed.problem }, "remote sync index ignored");
    return undefined;
  }
  return parsed;
}

