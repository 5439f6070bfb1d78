import { S3Client, type S3ClientConfig } from "@aws-sdk/client-s3";
import { ConfigError } from "../contract/index.js";

export interface S3ClientOptions {
  /** Custom endpoint (s3rver, MinIO, a VPC endpoint). Falls back to AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL. */
  readonly endpoint?: string;
  /** How the user set `endpoint`, for errors (`--s3-endpoint`, `TRAINGUARD_S3_ENDPOINT`). */
  readonly endpointSource?: string;
  /** Falls back to AWS_REGION, then AWS_DEFAULT_REGION, then us-east-1. */
  readonly region?: string;
  readonly env: NodeJS.ProcessEnv;
  /** Explicit credentials; otherwise keys in `env`, otherwise the SDK's default provider chain. */
  readonly credentials?: S3ClientConfig["credentials"];
  /** SDK attempts per request (standard retry mode). Default 3. */
  readonly maxAttempts?: number;
  /** TCP connect limit. Default 5 s. */
  readonly connectionTimeoutMs?: number;
  /** Limit from sending a request to its response headers (a part's whole body). Default 120 s. */
  readonly requestTimeoutMs?: number;
  /** Limit on socket inactivity: what catches a server that accepted a request and went silent. Default 30 s. */
  readonly socketTimeoutMs?: number;
}

export const S3_CLIENT_DEFAULTS = {
  maxAttempts: 3,
  connectionTimeoutMs: 5_000,
  requestTimeoutMs: 120_000,
  socketTimeoutMs: 30_000,
} as const;

/**
 * An S3 client set up for uploads that must finish or fail within a deadline: explicit timeouts
 * (the SDK has none by default, so a stalled connection would hang until SIGKILL) and the standard
 * retry mode, which backs off on throttling (503 SlowDown), 5xx, timeouts and connection resets.
 */
export function createS3Client(opts: S3ClientOptions): S3Client {
  const { env } = opts;
  const endpoint = resolveEndpoint(opts);
  const region = nonEmpty(opts.region) ?? nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION) ?? "us-east-1";
  const config: S3ClientConfig = {
    region,
    retryMode: "standard",
    maxAttempts: opts.maxAttempts ?? S3_CLIENT_DEFAULTS.maxAttempts,
    requestHandler: {
      connectionTimeout: opts.connectionTimeoutMs ?? S3_CLIENT_DEFAULTS.connectionTimeoutMs,
      requestTimeout: opts.requestTimeoutMs ?? S3_CLIENT_DEFAULTS.requestTimeoutMs,
      // Without this the request timeout only logs a warning and the request runs on.
      throwOnRequestTimeout: true,
      socketTimeout: opts.socketTimeoutMs ?? S3_CLIENT_DEFAULTS.socketTimeoutMs,
    },
  };
  const credentials = opts.credentials ?? credentialsFromEnv(env);
  if (credentials !== undefined) config.credentials = credentials;
  if (endpoint !== undefined) {
    config.endpoint = endpoint;
    // Local and third-party servers rarely resolve bucket subdomains.
    config.forcePathStyle = true;
    // Default checksums send stream bodies aws-chunked, and servers such as s3rver store the
    // framing bytes inside the object. Checksums only where the API requires them.
    config.requestChecksumCalculation = "WHEN_REQUIRED";
    config.responseChecksumValidation = "WHEN_REQUIRED";
  }
  const client = withoutSdkNodeNotice(() => new S3Client(config));
  if (payloadSigningIsRedundant(endpoint)) skipPayloadHashForBodies(client);
  return client;
}

/** The commands whose bodies are checkpoint or archive bytes: hashing them is a pass over every byte. */
const BULK_BODY_COMMANDS = new Set(["PutObjectCommand", "UploadPartCommand"]);

/**
 * Whether a SigV4 hash of each body adds nothing the connection does not already give: TLS (AWS
 * itself, or an https endpoint) protects the bytes in transit, and a loopback endpoint never
 * leaves the machine. Then bodies are sent UNSIGNED-PAYLOAD, as botocore does for S3 over HTTPS.
 * Over plain http to another host the hash stays: it is the only integrity check there.
 */
export function payloadSigningIsRedundant(endpoint: string | undefined): boolean {
  if (endpoint === undefined) return true;
  return new URL(endpoint).protocol === "https:" || isLoopbackEndpoint(endpoint);
}

/** An endpoint on this machine (localhost, 127.0.0.0/8, ::1): the server shares its cores and disk. */
export function isLoopbackEndpoint(endpoint: string): boolean {
  const host = new URL(endpoint).hostname.replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * SigV4 signs the header x-amz-content-sha256 when it is present instead of hashing the body, so
 * setting it to UNSIGNED-PAYLOAD before signing saves a SHA-256 pass over every uploaded byte:
 * measured at 1.6 s of the main thread per GiB on the stop path (the bytes are already hashed
 * once for the manifest and once for the archive).
 */
function skipPayloadHashForBodies(client: S3Client): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const request = args.request as { headers?: Record<string, string> } | undefined;
      if (BULK_BODY_COMMANDS.has(context.commandName ?? "") && request?.headers !== undefined) {
        request.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD";
      }
      return next(args);
    },
    { step: "build", name: "trainguardUnsignedPayload" },
  );
}

function resolveEndpoint(opts: S3ClientOptions): string | undefined {
  const candidates: Array<[string, string | undefined]> = [
    [opts.endpointSource ?? "endpoint", opts.endpoint],
    ["AWS_ENDPOINT_URL_S3", opts.env.AWS_ENDPOINT_URL_S3],
    ["AWS_ENDPOINT_URL", opts.env.AWS_ENDPOINT_URL],
  ];
  for (const [source, value] of candidates) {
    const endpoint = nonEmpty(value);
    if (endpoint === undefined) continue;
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw new ConfigError(source, undefined, "the S3 endpoint is not a valid URL");
    }
    // The value is not echoed back: an endpoint with user:password@ would end up in the failure file.
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new ConfigError(source, undefined, "the S3 endpoint must be an http:// or https:// URL");
    }
    if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "") {
      throw new ConfigError(source, undefined, "the S3 endpoint must not carry credentials, a query or a fragment");
    }
    return endpoint;
  }
  return undefined;
}

/**
 * The SDK's own chain reads process.env; callers that pass another env (tests, a job's environment)
 * expect its keys to win.
 */
function credentialsFromEnv(env: NodeJS.ProcessEnv): S3ClientConfig["credentials"] | undefined {
  const accessKeyId = nonEmpty(env.AWS_ACCESS_KEY_ID);
  const secretAccessKey = nonEmpty(env.AWS_SECRET_ACCESS_KEY);
  if (accessKeyId === undefined || secretAccessKey === undefined) return undefined;
  const sessionToken = nonEmpty(env.AWS_SESSION_TOKEN);
  return sessionToken === undefined ? { accessKeyId, secretAccessKey } : { accessKeyId, secretAccessKey, sessionToken };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}

/** The AWS SDK's documented switch for its notice about the Node versions its future releases need. */
const SDK_NODE_NOTICE_SWITCH = "AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED";

/**
 * Constructs an AWS SDK client without the SDK's notice that its releases after a date will
 * need a newer Node. trainguard ships the SDK inside its own build, so the notice is about
 * releases its users never get; on Node 20 it would otherwise be in every job's log. The SDK
 * reads its switch while the client is constructed, so the switch is set for that moment only:
 * the algorithm's environment, copied from ours, never carries it.
 */
export function withoutSdkNodeNotice<T>(construct: () => T): T {
  const before = process.env[SDK_NODE_NOTICE_SWITCH];
  process.env[SDK_NODE_NOTICE_SWITCH] = "true";
  try {
    return construct();
  } finally {
    if (before === undefined) delete process.env[SDK_NODE_NOTICE_SWITCH];
    else process.env[SDK_NODE_NOTICE_SWITCH] = before;
  }
}
