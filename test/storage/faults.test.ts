import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { Readable } from "node:stream";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { UploadError, openStore, parseStorageUri, type ObjectStore } from "../../src/storage/index.js";
import { match, startFaultProxy, type FaultAction, type FaultProxy, type FaultRule } from "../helpers/fault-proxy.js";
import { sha256, useS3 } from "../helpers/s3.js";
import { memoryLogger } from "./memory-log.js";

const BUCKET = "faults";
const MiB = 1024 * 1024;
const PART = 5 * MiB;
const s3 = useS3([BUCKET]);
// Three parts of 5, 5 and 2 MiB.
const data = randomBytes(12 * MiB);
let proxy: FaultProxy;
let store: ObjectStore;
let n = 0;

function source(): Readable {
  const chunks: Buffer[] = [];
  for (let i = 0; i < data.length; i += 64 * 1024) chunks.push(data.subarray(i, i + 64 * 1024));
  return Readable.from(chunks);
}

beforeAll(async () => {
  proxy = await startFaultProxy(s3().endpoint);
  const { log } = await memoryLogger();
  // Short socket timeout: a stalled request is detected in a second, not thirty.
  const client = s3().storageClient({ endpoint: proxy.endpoint, socketTimeoutMs: 1_000, requestTimeoutMs: 5_000, connectionTimeoutMs: 1_000 });
  store = openStore(parseStorageUri(`s3://${BUCKET}`, "test"), { client, log });
});
afterAll(() => proxy.close());
afterEach(() => {
  proxy.clearFaults();
  proxy.resetStats();
});

async function expectObject(key: string): Promise<void> {
  const back = await s3().getBytes(BUCKET, key);
  expect(back.length).toBe(data.length);
  expect(sha256(back)).toBe(sha256(data));
}

async function expectNothingUnder(key: string): Promise<void> {
  expect(await s3().headSize(BUCKET, key)).toBeUndefined();
  expect(await s3().list(BUCKET, key)).toEqual([]);
}

/** Nothing of the abandoned upload is still running, on either side of the proxy. */
async function expectNoOpenRequests(): Promise<void> {
  await sleep(300);
  expect(proxy.openRequests()).toBe(0);
  expect(proxy.openUpstream()).toBe(0);
}

const transient: Array<[string, FaultRule]> = [
  ["a connection reset 1 MiB into the 2nd part", { action: { type: "reset", afterBytes: MiB }, match: match.nth("UploadPart", 2), times: 1 }],
  ["503 SlowDown on the first three parts sent", { action: { type: "slowdown" }, match: match.kind("UploadPart"), times: 3 }],
  ["a stalled 1st part (server never answers)", { action: { type: "stall" }, match: match.nth("UploadPart", 1), times: 1 }],
  ["a stalled CompleteMultipartUpload", { action: { type: "stall" }, match: match.kind("CompleteMultipartUpload"), times: 1 }],
];

describe("transient faults are retried and the upload succeeds", () => {
  it.each(transient)("%s", async (_name, rule) => {
    const key = `transient/${++n}.bin`;
    const fault = proxy.inject(rule);
    const result = await store.putStream(key, source(), { expectedBytes: data.length, partSize: PART, deadline: Date.now() + 30_000 });
    expect(result.bytes).toBe(data.length);
    expect(fault.hits).toBe(rule.times);
    await expectObject(key);
    // Faulted requests were sent again: the proxy saw more requests than a clean upload makes.
    const requests = Object.values(proxy.stats().requests).reduce((a, b) => a + b, 0);
    expect(requests).toBe(5 + (rule.times ?? 0)); // Create, 3 parts, Complete + one retry per fault
    await expectNoOpenRequests();
  });
});

describe("what a clean upload sends", () => {
  it("part bodies go UNSIGNED-PAYLOAD to a loopback endpoint (no SHA-256 pass over them); the small requests stay hashed", async () => {
    const key = `clean/${++n}.bin`;
    await store.putStream(key, source(), { expectedBytes: data.length, partSize: PART });
    const mine = proxy.log().filter((r) => r.path === `/${BUCKET}/${key}`);
    const parts = mine.filter((r) => r.kind === "UploadPart");
    expect(parts).toHaveLength(3);
    for (const part of parts) expect(part.contentSha256).toBe("UNSIGNED-PAYLOAD");
    const complete = mine.find((r) => r.kind === "CompleteMultipartUpload");
    expect(complete?.contentSha256).toMatch(/^[0-9a-f]{64}$/);
    await expectObject(key);
  });
});

describe("a CompleteMultipartUpload that took effect but whose answer was lost", () => {
  it("is recognised on the retry (the upload is gone, the object is ours): success, not a failure", async () => {
    const key = `lost-answer/${++n}.bin`;
    const fault = proxy.inject({ action: { type: "lose-response" }, match: match.kind("CompleteMultipartUpload"), times: 1 });
    const result = await store.putStream(key, source(), { expectedBytes: data.length, partSize: PART, deadline: Date.now() + 30_000 });
    expect(result.bytes).toBe(data.length);
    expect(fault.hits).toBe(1);
    // The retried Complete reached the server and was refused there (the upload no longer exists).
    expect(proxy.stats().requests.CompleteMultipartUpload).toBe(2);
    await expectObject(key);
    await expectNoOpenRequests();
  });

  it("an older object of the same size is not taken for ours: the failure stands and the old object stays", async () => {
    const key = `lost-answer/${++n}.bin`;
    // An earlier run left an object of the same size under the key.
    await store.putStream(key, source(), { expectedBytes: data.length, partSize: PART });
    await sleep(3_100);
    // The first Complete never reaches the server; its retry is told the upload does not exist.
    proxy.inject({ action: { type: "reset", afterBytes: 0 }, match: match.nth("CompleteMultipartUpload", 1), times: 1 });
    proxy.inject({ action: { type: "error", status: 404, code: "NoSuchUpload" }, match: match.nth("CompleteMultipartUpload", 2), times: 1 });
    const error = await store.putStream(key, source(), { expectedBytes: data.length, partSize: PART, deadline: Date.now() + 30_000 }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(UploadError);
    expect((error as UploadError).message).toMatch(/NoSuchUpload/);
    await expectObject(key);
  });
});

const permanent: Array<[string, FaultAction, FaultRule["match"]]> = [
  ["every part reset 1 MiB in", { type: "reset", afterBytes: MiB }, match.kind("UploadPart")],
  ["every part answered 503 SlowDown", { type: "slowdown" }, match.kind("UploadPart")],
  ["every request stalled", { type: "stall" }, match.any],
  ["every part stalled without its body being read", { type: "stall", readBody: false }, match.kind("UploadPart")],
];

describe("permanent faults end in DEADLINE before the deadline, with nothing published", () => {
  it.each(permanent)("%s", async (_name, action, predicate) => {
    const key = `permanent/${++n}.bin`;
    proxy.inject({ action, match: predicate });
    const deadline = Date.now() + 3_000;
    const error = await store.putStream(key, source(), { expectedBytes: data.length, partSize: PART, deadline }).then(
      () => undefined,
      (err: unknown) => err,
    );
    const settledAt = Date.now();
    expect(error).toBeInstanceOf(UploadError);
    expect((error as UploadError).code).toBe("DEADLINE");
    expect((error as UploadError).message).toMatch(/stopped before its deadline/);
    expect(settledAt).toBeLessThan(deadline);
    // Not absurdly early either: it kept trying until the reserve before the deadline.
    expect(settledAt).toBeGreaterThan(deadline - 1_000);
    expect(proxy.stats().faulted[action.type] ?? 0).toBeGreaterThan(0);
    proxy.clearFaults();
    await expectNoOpenRequests();
    await expectNothingUnder(key);
  });
});

describe("a small object (one PutObject)", () => {
  it("reset mid-body every time: DEADLINE, and the server shows no partial object", async () => {
    const key = `single/${++n}.bin`;
    proxy.inject({ action: { type: "reset", afterBytes: 256 * 1024 }, match: match.kind("PutObject") });
    const deadline = Date.now() + 2_000;
    const small = data.subarray(0, MiB);
    const error = await store.putStream(key, Readable.from([small]), { expectedBytes: small.length, deadline }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(Date.now()).toBeLessThan(deadline);
    expect((error as UploadError).code).toBe("DEADLINE");
    expect(proxy.stats().requests.PutObject ?? 0).toBeGreaterThan(1);
    expect(proxy.stats().bytesUpstream.PutObject ?? 0).toBeGreaterThan(0);
    proxy.clearFaults();
    await expectNoOpenRequests();
    await expectNothingUnder(key);
  });

  it("reset once: retried, and the object is exact", async () => {
    const key = `single/${++n}.bin`;
    const fault = proxy.inject({ action: { type: "reset", afterBytes: 256 * 1024 }, match: match.kind("PutObject"), times: 1 });
    const small = data.subarray(0, MiB);
    await store.putStream(key, Readable.from([small]), { expectedBytes: small.length, deadline: Date.now() + 10_000 });
    expect(fault.hits).toBe(1);
    expect(sha256(await s3().getBytes(BUCKET, key))).toBe(sha256(small));
  });
});

describe("a non-transient error fails at once", () => {
  it("a missing bucket (404 NoSuchBucket) is an S3 error, not a retry loop until the deadline", async () => {
    const { log } = await memoryLogger();
    const missing = openStore(parseStorageUri("s3://no-such-bucket", "test"), { client: s3().storageClient({ endpoint: proxy.endpoint }), log });
    const started = Date.now();
    const error = await missing.putStream("k", source(), { expectedBytes: data.length, partSize: PART, deadline: Date.now() + 20_000 }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(UploadError);
    expect((error as UploadError).code).toBe("S3");
    expect((error as UploadError).message).toMatch(/NoSuchBucket/);
    expect(Date.now() - started).toBeLessThan(5_000);
    await expectNoOpenRequests();
  });
});
