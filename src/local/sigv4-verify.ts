import { createHash, createHmac, timingSafeEqual, type Hash, type Hmac } from "node:crypto";
import { SignatureV4 } from "@smithy/signature-v4";
import { ApiError } from "./api-error.js";

export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

export interface SignedRequest {
  readonly method: string;
  /** Path and query as received. */
  readonly url: string;
  /** Lower-case names, as node:http gives them. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
}

/** AWS refuses a request whose X-Amz-Date is further than this from its own clock. */
export const MAX_SKEW_MS = 15 * 60 * 1000;

const AUTH = /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;_.-]+),\s*Signature=([0-9a-f]{64})$/;

/**
 * Check a request's SigV4 signature by signing a copy of it again with the SDK's own signer
 * (same signed headers, same X-Amz-Date, same region and service from the credential scope) and
 * comparing the two in constant time. JSON clients send no x-amz-content-sha256, so the signer
 * hashes the raw body, as they did. Throws the ApiError AWS answers with.
 */
export async function verifySignature(request: SignedRequest, credentials: Credentials, service: string, now = Date.now()): Promise<void> {
  const authorization = header(request.headers, "authorization");
  if (authorization === undefined) throw new ApiError("MissingAuthenticationTokenException", "Missing Authentication Token", 403);
  const match = AUTH.exec(authorization);
  if (!match) throw new ApiError("IncompleteSignatureException", `Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters of AWS4-HMAC-SHA256. Authorization=${authorization.split(" ")[0] ?? ""}`, 400);
  const [, accessKeyId, day, region, scopeService, signedList, signature] = match as unknown as [string, string, string, string, string, string, string];
  if (accessKeyId !== credentials.accessKeyId) throw new ApiError("UnrecognizedClientException", "The security token included in the request is invalid.", 403);
  if (scopeService !== service) throw invalidSignature(`Credential should be scoped to correct service: '${service}'.`);
  const amzDate = header(request.headers, "x-amz-date");
  const signingDate = amzDate === undefined ? undefined : parseAmzDate(amzDate);
  if (signingDate === undefined) throw new ApiError("IncompleteSignatureException", "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.", 400);
  if (!amzDate?.startsWith(day)) throw invalidSignature(`Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${day}' != '${amzDate?.slice(0, 8)}'`);
  if (Math.abs(now - signingDate.getTime()) > MAX_SKEW_MS) {
    throw invalidSignature(`Signature expired: ${amzDate} is now earlier than ${formatAmzDate(new Date(now - MAX_SKEW_MS))} (${formatAmzDate(new Date(now))} - 15 min.)`);
  }
  // A client may sign the body's hash as a header instead (applyChecksum): then the signer trusts
  // that header, so it must be the hash of the body that arrived (UNSIGNED-PAYLOAD included: refused).
  const claimedHash = header(request.headers, "x-amz-content-sha256");
  if (claimedHash !== undefined && claimedHash !== createHash("sha256").update(request.body).digest("hex")) {
    throw invalidSignature("The provided 'x-amz-content-sha256' header does not match what was computed.");
  }
  const signedHeaders = signedList.split(";");
  if (!signedHeaders.includes("host")) throw invalidSignature("'Host' must be a 'SignedHeader' in the AWS Authorization.");
  const headers: Record<string, string> = {};
  for (const name of signedHeaders) headers[name] = header(request.headers, name) ?? "";
  const [pathPart, query] = splitUrl(request.url);
  const signer = new SignatureV4({ credentials, region, service, sha256: NodeSha256, uriEscapePath: true, applyChecksum: false });
  const resigned = await signer.sign(
    { method: request.method, protocol: "http:", hostname: "localhost", path: pathPart, query, headers, body: request.body },
    { signingDate, signableHeaders: new Set(signedHeaders) },
  );
  const expected = /Signature=([0-9a-f]{64})/.exec(String(resigned.headers.authorization ?? resigned.headers.Authorization))?.[1] ?? "";
  const ok = expected.length === signature.length && timingSafeEqual(Buffer.from(expected), Buffer.from(signature));
  if (!ok) {
    throw invalidSignature(
      "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
    );
  }
}

const invalidSignature = (message: string) => new ApiError("InvalidSignatureException", message, 403);

function header(headers: SignedRequest["headers"], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(",") : value;
}

function splitUrl(url: string): [string, Record<string, string | string[]>] {
  const parsed = new URL(url, "http://localhost");
  const query: Record<string, string | string[]> = {};
  for (const [key, value] of parsed.searchParams) {
    const prior = query[key];
    query[key] = prior === undefined ? value : [...(Array.isArray(prior) ? prior : [prior]), value];
  }
  return [parsed.pathname, query];
}

function parseAmzDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  return new Date(Date.UTC(y, mo - 1, d, h, mi, s));
}

function formatAmzDate(date: Date): string {
  return date.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

/** The hash the signer asks for, from node:crypto (an HMAC when given a secret). */
class NodeSha256 {
  private hash: Hash | Hmac;
  constructor(private readonly secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = this.fresh();
  }
  private fresh(): Hash | Hmac {
    if (this.secret === undefined) return createHash("sha256");
    const key = typeof this.secret === "string" ? this.secret : ArrayBuffer.isView(this.secret) ? Buffer.from(this.secret.buffer, this.secret.byteOffset, this.secret.byteLength) : Buffer.from(this.secret);
    return createHmac("sha256", key);
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.hash.update(typeof data === "string" ? data : ArrayBuffer.isView(data) ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.from(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(this.hash.digest());
  }
  reset(): void {
    this.hash = this.fresh();
  }
}
