import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { randomUUID } from "node:crypto";
import type { Logger } from "../log/index.js";
import { ApiError, serializationError } from "./api-error.js";
import { verifySignature, type Credentials } from "./sigv4-verify.js";
import { errorMessage } from "../contract/index.js";

/** Larger requests are refused before they are read into memory (CreateTrainingJob is a few KiB). */
export const MAX_BODY_BYTES = 1024 * 1024;
const TARGET_PREFIX = "SageMaker.";

export type Operation = (input: Record<string, unknown>) => Promise<Record<string, unknown> | undefined>;

export interface ApiServerOptions {
  readonly port: number;
  readonly credentials: Credentials;
  readonly operations: ReadonlyMap<string, Operation>;
  readonly log: Logger;
  /** Requests that are not the API's (the console): true when it answered. */
  readonly other?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;
}

/**
 * AWS JSON 1.1 on 127.0.0.1: `POST /` with `X-Amz-Target: SageMaker.<Operation>`, SigV4 checked
 * before anything else is read from the request. Every failure is an answer the SDKs parse (HTTP
 * 4xx, `{"__type", "Message"}` and `X-Amzn-ErrorType`); an unexpected one is a 500
 * InternalFailure, and the server goes on serving.
 */
export async function startApiServer(opts: ApiServerOptions): Promise<{ server: Server; endpoint: string }> {
  const server = createServer((req, res) => {
    void handle(req, res, opts).catch((err: unknown) => {
      opts.log.error({ event: "local.api.error", err }, "request failed");
      if (!res.headersSent) send(res, 500, { __type: "InternalFailure", Message: "The request processing has failed because of an unknown error." }, "InternalFailure");
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("the API server has no TCP address");
  return { server, endpoint: `http://127.0.0.1:${address.port}` };
}

async function handle(req: IncomingMessage, res: ServerResponse, opts: ApiServerOptions): Promise<void> {
  // The API is POST / with X-Amz-Target; everything else may be the console's.
  if (opts.other !== undefined && req.headers["x-amz-target"] === undefined && (await opts.other(req, res))) return;
  try {
    const body = await readBody(req);
    await verifySignature({ method: req.method ?? "GET", url: req.url ?? "/", headers: req.headers, body }, opts.credentials, "sagemaker");
    const target = req.headers["x-amz-target"];
    if (req.method !== "POST" || typeof target !== "string") throw new ApiError("UnknownOperationException", "Operation is not supported: send POST / with X-Amz-Target: SageMaker.<Operation>");
    const operation = target.startsWith(TARGET_PREFIX) ? opts.operations.get(target.slice(TARGET_PREFIX.length)) : undefined;
    if (operation === undefined) throw new ApiError("UnknownOperationException", `Operation ${target} is not supported by trainguard local (supported: ${[...opts.operations.keys()].join(", ")})`);
    const input = parseInput(body);
    const output = await operation(input);
    opts.log.debug({ event: "local.api.request", target }, target);
    send(res, 200, output);
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    opts.log.debug({ event: "local.api.refused", code: err.code }, err.message);
    send(res, err.httpStatus, { __type: err.code, Message: err.message }, err.code);
  }
}

/** The body, or a 413 once it passes MAX_BODY_BYTES; the rest is drained so the client reads the answer. */
function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on("end", () => {
      if (size > MAX_BODY_BYTES) reject(new ApiError("RequestEntityTooLargeException", `Request body of ${size} bytes exceeds the limit of ${MAX_BODY_BYTES} bytes`, 413));
      else resolve(Buffer.concat(chunks));
    });
    req.on("error", reject);
  });
}

function parseInput(body: Buffer): Record<string, unknown> {
  // The SDKs send "{}" for an empty input; some clients send nothing at all.
  if (body.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(body.toString("utf8"));
  } catch (err) {
    throw serializationError(`Could not parse the request body as JSON: ${errorMessage(err)}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw serializationError("The request body must be a JSON object");
  return value as Record<string, unknown>;
}

function send(res: ServerResponse, status: number, body: Record<string, unknown> | undefined, errorType?: string): void {
  // StopTrainingJob's success is an empty body, as the service sends it.
  const text = body === undefined ? "" : JSON.stringify(body);
  const headers: Record<string, string | number> = {
    "Content-Type": "application/x-amz-json-1.1",
    "Content-Length": Buffer.byteLength(text),
    "x-amzn-RequestId": randomUUID(),
  };
  if (errorType !== undefined) headers["X-Amzn-ErrorType"] = errorType;
  res.writeHead(status, headers);
  res.end(text);
}
