import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { PassThrough, Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UploadError, openStore, parseStorageUri, type ObjectStore, type PutStreamOptions } from "../../src/storage/index.js";
import { startFaultProxy, type FaultProxy } from "../helpers/fault-proxy.js";
import { useS3 } from "../helpers/s3.js";
import { memoryLogger } from "./memory-log.js";

const BUCKET = "truncation";
const MiB = 1024 * 1024;
const PART = 5 * MiB;
const s3 = useS3([BUCKET]);
const data = randomBytes(12 * MiB);
let proxy: FaultProxy;
let s3Store: ObjectStore;
let fileStore: ObjectStore;
let fileRoot: string;
let n = 0;

beforeAll(async () => {
  // No faults: the proxy is here to count what reached the server.
  proxy = await startFaultProxy(s3().endpoint);
  const { log } = await memoryLogger();
  s3Store = openStore(parseStorageUri(`s3://${BUCKET}`, "test"), { client: s3().storageClient({ endpoint: proxy.endpoint }), log });
  fileRoot = await mkdtemp(path.join(tmpdir(), "tg-trunc-"));
  fileStore = openStore(parseStorageUri(`file://${fileRoot}`, "test"), { log });
});
afterAll(async () => {
  await proxy.close();
  await rm(fileRoot, { recursive: true, force: true });
});

type SourceKind = "ends early" | "errors" | "is destroyed" | "runs long" | "stalls";

/** `bytes` of the data in 64 KiB chunks, then the given ending. */
function source(bytes: number, ending: SourceKind): Readable {
  const out = new PassThrough();
  void (async () => {
    for (let i = 0; i < bytes; i += 64 * 1024) {
      if (!out.write(data.subarray(i, Math.min(bytes, i + 64 * 1024)))) await new Promise((r) => out.once("drain", r));
      if (out.destroyed) return;
    }
    if (ending === "errors") out.destroy(new Error("tar packing failed: checkpoint file vanished"));
    else if (ending === "is destroyed") out.destroy();
    else if (ending !== "stalls") out.end();
  })();
  return out;
}

async function failure(store: ObjectStore, key: string, src: Readable, opts: PutStreamOptions): Promise<UploadError> {
  const error = await store.putStream(key, src, { partSize: PART, ...opts }).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(UploadError);
  // Whatever went wrong, the source is not left half-read with a producer waiting on it.
  expect(src.destroyed).toBe(true);
  return error as UploadError;
}

async function expectNothingOnS3(key: string): Promise<void> {
  expect(await s3().headSize(BUCKET, key)).toBeUndefined();
  expect(await s3().list(BUCKET, key)).toEqual([]);
}

async function expectNothingOnDisk(key: string): Promise<void> {
  expect(await fileStore.head(key)).toBeUndefined();
  // No temporary file left beside it either.
  const dir = path.join(fileRoot, path.dirname(key));
  expect(await readdir(dir).catch(() => [])).toEqual([]);
}

const cases: Array<[string, number, SourceKind, number | undefined, RegExp]> = [
  ["ends at 7 MiB of an expected 10 MiB", 7 * MiB, "ends early", 10 * MiB, /ended after 7340032 of the expected 10485760 bytes/],
  ["ends at 3 MiB of an expected 10 MiB (less than one part)", 3 * MiB, "ends early", 10 * MiB, /ended after 3145728 of the expected/],
  ["errors at 7 MiB", 7 * MiB, "errors", 10 * MiB, /tar packing failed/],
  ["errors at 7 MiB with no expected size", 7 * MiB, "errors", undefined, /tar packing failed/],
  ["is destroyed at 7 MiB with no expected size", 7 * MiB, "is destroyed", undefined, /source failed/],
  ["runs past an expected 10 MiB", 12 * MiB, "runs long", 10 * MiB, /more than the expected 10485760 bytes/],
];

describe("S3: a source that does not deliver exactly never completes an object", () => {
  it.each(cases)("source %s: TRUNCATED, nothing under the key", async (_name, bytes, ending, expectedBytes, message) => {
    const key = `s3/${++n}/model.tar.gz`;
    proxy.resetStats();
    const error = await failure(s3Store, key, source(bytes, ending), expectedBytes === undefined ? {} : { expectedBytes });
    expect(error.code).toBe("TRUNCATED");
    expect(error.message).toMatch(message);
    expect(error.uri).toBe(`s3://${BUCKET}/${key}`);
    const requests = proxy.stats().requests;
    expect(requests.CompleteMultipartUpload ?? 0).toBe(0);
    expect(requests.PutObject ?? 0).toBe(0);
    await expectNothingOnS3(key);
  });
});

describe("file://: the same source failures leave no file", () => {
  it.each(cases)("source %s: TRUNCATED, no file, no temporary", async (_name, bytes, ending, expectedBytes, message) => {
    const key = `file/${++n}/model.tar.gz`;
    const error = await failure(fileStore, key, source(bytes, ending), expectedBytes === undefined ? {} : { expectedBytes });
    expect(error.code).toBe("TRUNCATED");
    expect(error.message).toMatch(message);
    await expectNothingOnDisk(key);
  });
});

describe("a source that stalls, a deadline, a cancel", () => {
  for (const kind of ["s3", "file"] as const) {
    it(`${kind}: a stalled source ends in DEADLINE before the deadline`, async () => {
      const store = kind === "s3" ? s3Store : fileStore;
      const key = `${kind}-stall/${++n}/model.tar.gz`;
      const deadline = Date.now() + 1_500;
      const error = await failure(store, key, source(7 * MiB, "stalls"), { expectedBytes: 10 * MiB, deadline });
      expect(Date.now()).toBeLessThan(deadline);
      expect(error.code).toBe("DEADLINE");
      expect(error.bytesRead).toBe(7 * MiB);
      if (kind === "s3") await expectNothingOnS3(key);
      else await expectNothingOnDisk(key);
    });

    it(`${kind}: the caller's signal ends the upload as ABORTED`, async () => {
      const store = kind === "s3" ? s3Store : fileStore;
      const key = `${kind}-abort/${++n}/model.tar.gz`;
      const controller = new AbortController();
      setTimeout(() => controller.abort(new Error("second SIGTERM")), 300);
      const error = await failure(store, key, source(7 * MiB, "stalls"), { expectedBytes: 10 * MiB, signal: controller.signal });
      expect(error.code).toBe("ABORTED");
      expect(error.message).toMatch(/cancelled: Error: second SIGTERM/);
      if (kind === "s3") await expectNothingOnS3(key);
      else await expectNothingOnDisk(key);
    });
  }

  it("a deadline already past fails before reading anything", async () => {
    const error = await failure(s3Store, "past/model.tar.gz", Readable.from([Buffer.alloc(10)]), { deadline: Date.now() - 1 });
    expect(error.code).toBe("DEADLINE");
    await expectNothingOnS3("past/model.tar.gz");
  });
});
