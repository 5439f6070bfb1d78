import type { Logger } from "../log/index.js";
import type { ObjectStore } from "../storage/index.js";
import { checkpointKeyPrefix, isMarker } from "./layout.js";
import type { RemoteCheckpoint, RemoteState } from "./remote-state.js";
import { raceAbort } from "../async/index.js";

/**
 * Delete remote checkpoints beyond the newest `keep` complete ones, in commit order. Only
 * checkpoints this sync indexed count: their order is known, and checkpoints another tool wrote
 * are not ours to delete. Incomplete ones (an upload in progress, or one that died) are never
 * touched. Markers go first, so a checkpoint being deleted is never seen as complete.
 */
export async function pruneRemote(opts: {
  store: ObjectStore;
  prefix: string;
  markers: readonly string[];
  remote: RemoteState;
  keep: number;
  log: Logger;
  signal: AbortSignal;
}): Promise<string[]> {
  const { store, prefix, markers, remote, keep, log, signal } = opts;
  const victims = pruneVictims(remote, keep);
  const removed: string[] = [];
  for (const victim of victims) {
    const base = checkpointKeyPrefix(prefix, victim.name);
    if (!victim.pruning) {
      const markerKeys = [...victim.markers].map((m) => `${base}${m}`);
      await raceAbort(store.deleteMany(markerKeys), signal);
      // No longer complete, whatever happens to the rest; a failure below is retried next round.
      victim.markers.clear();
      victim.pruning = true;
    }
    const keys = (await raceAbort(store.list(base), signal)).map((e) => e.key);
    // Markers first even here: one that a listing shows although the record says none.
    const markerKeys = keys.filter((k) => isMarker(k.slice(base.length), markers));
    if (markerKeys.length > 0) await raceAbort(store.deleteMany(markerKeys), signal);
    await deleteAll(store, base, keys.filter((k) => !markerKeys.includes(k)), signal);
    remote.checkpoints.delete(victim.name);
    removed.push(victim.name);
    log.info({ event: "sync.pruned", checkpoint: victim.name, objects: keys.length, keep }, "old remote checkpoint deleted");
  }
  return removed;
}

/** Complete checkpoints of ours beyond the newest `keep`, and those whose deletion was interrupted. */
export function pruneVictims(remote: RemoteState, keep: number): RemoteCheckpoint[] {
  const ours = remote.complete().filter((c) => c.hasIndex && c.committedAtMs !== undefined);
  const interrupted = [...remote.checkpoints.values()].filter((c) => c.pruning);
  return [...interrupted, ...ours.slice(Math.max(1, keep))];
}

/**
 * One batch request; if it fails, what is still listed goes one key at a time. Some servers
 * (s3rver) fail a batch whose keys share a directory while still deleting most of them.
 */
async function deleteAll(store: ObjectStore, base: string, keys: readonly string[], signal: AbortSignal): Promise<void> {
  try {
    await raceAbort(store.deleteMany(keys), signal);
    return;
  } catch (err) {
    if (signal.aborted) throw err;
  }
  const wanted = new Set(keys);
  for (const entry of await raceAbort(store.list(base), signal)) {
    if (wanted.has(entry.key)) await raceAbort(store.deleteMany([entry.key]), signal);
  }
}
