import { afterAll, beforeAll } from "vitest";
import type { Logger } from "../../src/log/index.js";
import { openStore, parseStorageUri, type ObjectEntry, type ObjectStore } from "../../src/storage/index.js";
import { s3CopyObject, type CopyObject } from "../../src/sync/index.js";
import { startFaultProxy, type FaultProxy } from "../helpers/fault-proxy.js";
import { useS3 } from "../helpers/s3.js";
import { memoryLogger } from "../storage/memory-log.js";
import { instrument, tempDir, type StoreCounters } from "./helpers.js";

export const BUCKET = "sync";

/** One remote for a test file: s3rver behind the fault proxy, or a directory. */
export interface Backend {
  readonly kind: "s3" | "file";
  readonly store: ObjectStore;
  readonly copyObject: CopyObject | undefined;
  /** Set for s3: the proxy every request of the code under test goes through. */
  readonly proxy: FaultProxy | undefined;
  readonly counters: StoreCounters | undefined;
  readonly log: Logger;
  readonly lines: string[];
  /** Object bytes sent so far (request bodies at the proxy for s3; stored bytes for file). */
  sent(): number;
  resetSent(): void;
  /** A listing that does not go through the code under test. */
  list(prefix: string): Promise<ObjectEntry[]>;
  /**
   * An instrumented store over the same remote (slow bodies, extra listed keys), and a byte count
   * of what goes through it (request bodies at the proxy for s3).
   */
  variant(opts: Parameters<typeof instrument>[1]): { store: ObjectStore; sent(): number };
}

export function useBackends(): { s3: () => Backend; file: () => Backend } {
  const s3 = useS3([BUCKET]);
  let s3Backend: Backend | undefined;
  let fileBackend: Backend | undefined;
  let proxy: FaultProxy | undefined;
  beforeAll(async () => {
    const { log, lines } = await memoryLogger();
    proxy = await startFaultProxy(s3().endpoint);
    const p = proxy;
    // One SDK attempt: the store's and the sync's own retries are what is under test. Short
    // timeouts so a stalled request is noticed within the suite's time.
    const client = s3().storageClient({ endpoint: p.endpoint, maxAttempts: 1, socketTimeoutMs: 2_000, requestTimeoutMs: 10_000, connectionTimeoutMs: 1_000 });
    const s3Store = openStore(parseStorageUri(`s3://${BUCKET}`, "test"), { client, log });
    const bodyBytes = () => {
      const up = p.stats().bytesUpstream;
      return (up.PutObject ?? 0) + (up.UploadPart ?? 0);
    };
    s3Backend = {
      kind: "s3",
      store: s3Store,
      copyObject: s3CopyObject(client, BUCKET),
      proxy: p,
      counters: undefined,
      log,
      lines,
      sent: bodyBytes,
      resetSent: () => p.resetStats(),
      list: async (prefix) => s3().list(BUCKET, prefix),
      variant: (opts) => ({ store: instrument(s3Store, opts).store, sent: bodyBytes }),
    };
    const root = await tempDir("remote");
    const fileStore = openStore(parseStorageUri(`file://${root}`, "test"), { log });
    const { store, counters } = instrument(fileStore);
    fileBackend = {
      kind: "file",
      store,
      copyObject: undefined,
      proxy: undefined,
      counters,
      log,
      lines,
      sent: () => counters.putBytes,
      resetSent: () => {
        counters.putBytes = 0;
        counters.puts.length = 0;
        counters.gets.length = 0;
      },
      // FileObjectStore.list stats what readdir returned: an object deleted in between (the sync
      // pruning while the test looks) makes it throw ENOENT. Looking again is what a reader does.
      list: async (prefix) => {
        for (let attempt = 1; ; attempt++) {
          try {
            return await fileStore.list(prefix);
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== "ENOENT" || attempt >= 5) throw err;
          }
        }
      },
      variant: (opts) => {
        const made = instrument(fileStore, opts);
        return { store: made.store, sent: () => made.counters.putBytes };
      },
    };
  });
  afterAll(async () => {
    await proxy?.close();
  });
  return {
    s3: () => s3Backend ?? fail(),
    file: () => fileBackend ?? fail(),
  };
}

function fail(): never {
  throw new Error("backend used before beforeAll ran");
}

/** Log lines (JSON) with this event. */
export function events(lines: readonly string[], event: string): Array<Record<string, unknown>> {
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.event === event);
}
