import { randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import type { Server } from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "../log/index.js";
import { createS3Client } from "../storage/index.js";
import { startApiServer } from "./api-server.js";
import { EMBEDDED_S3_CREDENTIALS, startEmbeddedS3, type EmbeddedS3 } from "./embedded-s3.js";
import { consoleHandler } from "./console-routes.js";
import { DEFAULT_LOG_MAX_BYTES } from "./host-log.js";
import { JobRunner } from "./job-runner.js";
import { sageMakerOperations } from "./operations.js";
import { probeIsolation, type Isolation } from "./process-backend.js";
import { JobRegistry } from "./registry.js";
import type { Credentials } from "./sigv4-verify.js";

export interface LocalPlatformOptions {
  /** Jobs (registry, ml-roots, logs) live here; the embedded S3 keeps its objects in `<dataDir>/s3`. */
  readonly dataDir: string;
  /** 0 picks a free port. */
  readonly port?: number;
  /** An S3-compatible endpoint to use instead of starting the embedded one. */
  readonly s3Endpoint?: string;
  /** Created in the embedded S3 at start; default `sagemaker-local`. */
  readonly buckets?: readonly string[];
  /** SIGKILL this long after SIGTERM (StopTrainingJob, MaxRuntimeInSeconds). Default 120. */
  readonly stopTimeoutSeconds?: number;
  /** Each host's log file is rotated past this many bytes, one previous generation kept. Default 8 MiB. */
  readonly logMaxBytes?: number;
  /** The keys requests must be signed with; the embedded S3's when omitted. */
  readonly credentials?: Credentials;
  readonly region?: string;
  readonly log: Logger;
}

export interface LocalPlatform {
  readonly endpoint: string;
  readonly s3Endpoint: string;
  readonly credentials: Credentials;
  readonly region: string;
  readonly isolation: Isolation;
  /** `export AWS_ENDPOINT_URL_SAGEMAKER=... AWS_ENDPOINT_URL_S3=... ...`: the client environment. */
  readonly exportLine: string;
  /** The console's page, its per-start token in the fragment (never sent to the server in a URL, nor in a Referer). */
  readonly consoleUrl: string;
  /** Stops serving; jobs run on, and a new `serve` on the same data dir follows them again. */
  close(): Promise<void>;
}

export const DEFAULT_BUCKET = "sagemaker-local";
export const DEFAULT_STOP_TIMEOUT_SECONDS = 120;

/** `trainguard local serve`: the SageMaker training API on 127.0.0.1, backed by processes and S3. */
export async function startLocalPlatform(opts: LocalPlatformOptions): Promise<LocalPlatform> {
  const region = opts.region ?? "us-east-1";
  const credentials = opts.credentials ?? EMBEDDED_S3_CREDENTIALS;
  await mkdir(opts.dataDir, { recursive: true });
  let embedded: EmbeddedS3 | undefined;
  if (opts.s3Endpoint === undefined) {
    await mkdir(path.join(opts.dataDir, "s3"), { recursive: true });
    embedded = await startEmbeddedS3({ dir: path.join(opts.dataDir, "s3"), buckets: opts.buckets ?? [DEFAULT_BUCKET], log: opts.log });
  }
  const s3Endpoint = opts.s3Endpoint ?? (embedded as EmbeddedS3).endpoint;
  const registry = await JobRegistry.open(opts.dataDir);
  const isolation = probeIsolation();
  if (isolation.reason !== undefined) opts.log.warn({ event: "local.isolation", reason: isolation.reason }, `jobs run in their own process group, not a PID namespace: ${isolation.reason}`);
  // AWS_DEFAULT_REGION too: Debian's AWS CLI 2.9 and botocore 1.29 read only that one.
  const clientEnv = { AWS_ENDPOINT_URL_S3: s3Endpoint, AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey, AWS_REGION: region, AWS_DEFAULT_REGION: region };
  const runner = new JobRunner({
    registry,
    s3: createS3Client({ endpoint: s3Endpoint, region, credentials, env: {} }),
    baseEnv: { PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin", ...passThrough(["HOME", "LANG", "TZ", "TMPDIR", "TRAINGUARD_LOG_LEVEL"]), ...clientEnv },
    isolation,
    stopTimeoutMs: (opts.stopTimeoutSeconds ?? DEFAULT_STOP_TIMEOUT_SECONDS) * 1000,
    logMaxBytes: opts.logMaxBytes ?? DEFAULT_LOG_MAX_BYTES,
    trainguard: [process.execPath, fileURLToPath(new URL("../cli/entry.js", import.meta.url)), "train"],
    log: opts.log,
  });
  for (const job of registry.all()) runner.resume(job);
  void runner.sweep(registry.all()).catch((err: unknown) => opts.log.warn({ event: "local.docker.sweep", err }, "could not remove the containers of ended jobs"));
  let server: Server;
  let endpoint: string;
  const consoleToken = randomBytes(24).toString("base64url");
  let port = 0;
  const other = consoleHandler({ registry, runner, dataDir: opts.dataDir, stopTimeoutMs: (opts.stopTimeoutSeconds ?? DEFAULT_STOP_TIMEOUT_SECONDS) * 1000, token: consoleToken, port: () => port });
  try {
    ({ server, endpoint } = await startApiServer({ port: opts.port ?? 0, credentials, operations: sageMakerOperations(registry, runner, region), log: opts.log, other }));
    port = Number(new URL(endpoint).port);
  } catch (err) {
    runner.close();
    await embedded?.close();
    throw err;
  }
  const exportLine = `export AWS_ENDPOINT_URL_SAGEMAKER=${endpoint} ${Object.entries(clientEnv).map(([k, v]) => `${k}=${v}`).join(" ")}`;
  return {
    endpoint,
    s3Endpoint,
    credentials,
    region,
    isolation,
    exportLine,
    consoleUrl: `${endpoint}/#token=${consoleToken}`,
    close: async () => {
      runner.close();
      server.closeIdleConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await embedded?.close();
    },
  };
}

function passThrough(names: readonly string[]): Record<string, string> {
  return Object.fromEntries(names.flatMap((n) => (process.env[n] === undefined ? [] : [[n, process.env[n] as string]])));
}
