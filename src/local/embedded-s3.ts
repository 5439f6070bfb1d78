import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { format } from "node:util";
import type { Logger } from "../log/index.js";
import { bucketNameProblem } from "../storage/index.js";
import { makePutObjectAtomic } from "./s3rver-atomic.js";
import { completeMultipartLikeS3, type S3rverMultipartStore } from "./s3rver-multipart.js";
import { serveSingleDesWithTripleDes } from "./s3rver-tokens.js";

export interface EmbeddedS3Options {
  /** Where objects are kept; a temporary directory (removed on close) when omitted. */
  readonly dir?: string;
  /** 0 (the default) picks a free port. */
  readonly port?: number;
  /** Loopback only: the server accepts any signature made with the well-known S3RVER keys. */
  readonly host?: "127.0.0.1";
  readonly buckets?: readonly string[];
  /** s3rver's warnings and errors go here at debug level; its per-request lines are dropped. */
  readonly log?: Logger;
}

export interface EmbeddedS3 {
  /** http://127.0.0.1:PORT, for createS3Client({ endpoint }) or AWS_ENDPOINT_URL_S3. */
  readonly endpoint: string;
  readonly port: number;
  readonly dir: string;
  close(): Promise<void>;
}

/** s3rver's fixed credentials: clients must sign with these (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY). */
export const EMBEDDED_S3_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } as const;

/** The part of s3rver 3.7 this module uses (the package ships no types). */
interface S3rverInstance {
  run(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
  httpServer?: Server;
  store: S3rverMultipartStore;
  /** A winston logger; its per-request koa-logger lines go through `info` too. */
  logger: Record<string, unknown>;
}
type S3rverConstructor = new (options: {
  address: string;
  port: number;
  silent: boolean;
  directory: string;
  configureBuckets: Array<{ name: string }>;
  resetOnClose: boolean;
}) => S3rverInstance;

/**
 * Even "silent", s3rver's winston logger complains on stderr when a request ends after close()
 * ("Attempt to write logs with no transports"). Its methods are replaced on the instance (the
 * request logger holds the same object): warnings and errors to our debug log, the rest dropped.
 * Query strings are cut from messages: presigned URLs carry their signature there.
 */
function quiet(logger: Record<string, unknown>, log: Logger | undefined): void {
  const drop = () => logger;
  for (const level of ["info", "http", "verbose", "debug", "silly", "log"]) logger[level] = drop;
  for (const level of ["warn", "error"]) {
    logger[level] = (message: unknown, ...args: unknown[]) => {
      log?.debug({ event: "embedded-s3.log", level }, format(message, ...args).replace(/\?\S*/g, "?…"));
      return logger;
    };
  }
}

/** Connections still open this long after close() are cut, so close() cannot hang on a stalled client. */
const CLOSE_GRACE_MS = 1_000;

/**
 * An S3-compatible server on loopback for `trainguard local` and tests (s3rver, filesystem
 * backed). Its limits: no AbortMultipartUpload (MethodNotAllowed) and no
 * ListMultipartUploads. Unlike plain s3rver, objects appear only complete (s3rver-atomic.ts),
 * CompleteMultipartUpload behaves as S3's (s3rver-multipart.ts), and listings of more than 1,000
 * keys work on OpenSSL 3 (s3rver-tokens.ts).
 */
export async function startEmbeddedS3(options: EmbeddedS3Options = {}): Promise<EmbeddedS3> {
  const buckets = options.buckets ?? [];
  for (const bucket of buckets) {
    const problem = bucketNameProblem(bucket);
    if (problem !== undefined) throw new RangeError(problem);
  }
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(path.join(tmpdir(), "trainguard-s3-")));
  // Loaded on demand: s3rver pulls in koa and winston, which the PID-1 path never needs.
  const S3rver = createRequire(import.meta.url)("s3rver") as S3rverConstructor;
  const server = new S3rver({
    address: options.host ?? "127.0.0.1",
    port: options.port ?? 0,
    // s3rver logs every request to stdout through its own winston logger: stdout belongs to the algorithm.
    silent: true,
    directory: dir,
    configureBuckets: buckets.map((name) => ({ name })),
    resetOnClose: false,
  });
  makePutObjectAtomic(server.store);
  completeMultipartLikeS3(server.store);
  serveSingleDesWithTripleDes();
  quiet(server.logger, options.log);
  let address;
  try {
    address = await server.run();
  } catch (err) {
    if (ownDir) await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const endpoint = `http://127.0.0.1:${address.port}`;
  let closing: Promise<void> | undefined;
  return {
    endpoint,
    port: address.port,
    dir,
    close: () =>
      (closing ??= (async () => {
        const http = server.httpServer;
        const closed = server.close();
        http?.closeIdleConnections();
        const cut = setTimeout(() => http?.closeAllConnections(), CLOSE_GRACE_MS);
        try {
          await closed;
        } finally {
          clearTimeout(cut);
          if (ownDir) await rm(dir, { recursive: true, force: true });
        }
      })()),
  };
}
