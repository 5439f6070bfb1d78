import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { afterAll, afterEach, beforeAll } from "vitest";

/** What an S3 request is, from its method and query: enough to aim a fault at "the 2nd UploadPart". */
export type RequestKind =
  | "PutObject"
  | "UploadPart"
  | "CreateMultipartUpload"
  | "CompleteMultipartUpload"
  | "AbortMultipartUpload"
  | "HeadObject"
  | "GetObject"
  | "ListObjects"
  | "DeleteObjects"
  | "Other";

export interface RequestInfo {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly kind: RequestKind;
  /** 1-based, over all requests the proxy has seen. */
  readonly seq: number;
  /**
   * 1-based, among requests of the same kind since the rule being asked was injected (so
   * `match.nth("UploadPart", 2)` means the 2nd part sent after inject(), whatever ran before).
   */
  readonly kindSeq: number;
  /** ms since the proxy started. */
  readonly at: number;
  /** The x-amz-content-sha256 header the client signed: a body hash, or UNSIGNED-PAYLOAD. */
  readonly contentSha256: string | undefined;
}

export type FaultAction =
  /** Forward `afterBytes` bytes of the request body upstream, then reset both connections (RST). */
  | { readonly type: "reset"; readonly afterBytes: number }
  /** Read the whole body, answer 503 SlowDown with S3's XML error body. Nothing goes upstream. */
  | { readonly type: "slowdown" }
  /** Read the whole body, answer this S3 error (status and code). Nothing goes upstream. */
  | { readonly type: "error"; readonly status: number; readonly code: string }
  /** Read the body (unless readBody is false), never answer. Nothing goes upstream. */
  | { readonly type: "stall"; readonly readBody?: boolean }
  /** Leave the request unread and unanswered until the rule's release(), then forward it as is. */
  | { readonly type: "hold" }
  /**
   * Forward the request whole and let the server answer it, then reset the client's connection
   * instead of passing the answer on: the request took effect, the client cannot know it did.
   */
  | { readonly type: "lose-response" };

export interface FaultRule {
  readonly action: FaultAction;
  readonly match: (request: RequestInfo) => boolean;
  /** Transient: applies to the first `times` matching requests, then never again. Omitted: permanent. */
  readonly times?: number;
}

export interface FaultHandle {
  /** How many requests this rule has hit so far. */
  readonly hits: number;
  remove(): void;
  /** Stop holding: forward every request this rule holds (a "hold" rule) and remove the rule. */
  release(): void;
}

export interface ProxyStats {
  /** Request-body bytes forwarded upstream, by kind. */
  readonly bytesUpstream: Record<string, number>;
  /** Requests received, by kind. */
  readonly requests: Record<string, number>;
  /** Requests a fault was applied to, by action type. */
  readonly faulted: Record<string, number>;
}

export interface FaultProxy {
  readonly endpoint: string;
  readonly port: number;
  inject(rule: FaultRule): FaultHandle;
  clearFaults(): void;
  stats(): ProxyStats;
  resetStats(): void;
  /**
   * Requests received whose client connection is still waiting on them (stalled ones included).
   * Stalls with readBody false are seen to close only after clearFaults() starts reading them.
   */
  openRequests(): number;
  /** Requests currently open to the upstream server. */
  openUpstream(): number;
  /** Every request seen, in order. */
  log(): readonly RequestInfo[];
  close(): Promise<void>;
}

/** Predicates for FaultRule.match. */
export const match = {
  kind:
    (kind: RequestKind) =>
    (r: RequestInfo): boolean =>
      r.kind === kind,
  /** The nth request of a kind (1-based). */
  nth:
    (kind: RequestKind, n: number) =>
    (r: RequestInfo): boolean =>
      r.kind === kind && r.kindSeq === n,
  /** Every request (optionally only those also matching `and`) for the next `ms` from now. */
  forNextMs(ms: number, and: (r: RequestInfo) => boolean = () => true): (r: RequestInfo) => boolean {
    const until = Date.now() + ms;
    return (r) => Date.now() < until && and(r);
  },
  any: (): boolean => true,
};

/** Query parameters that name a subresource (?acl, ?tagging...): their requests are not plain object operations. */
const SUBRESOURCES = ["acl", "tagging", "retention", "legal-hold", "torrent", "restore", "select", "attributes", "uploads", "uploadId", "delete"];

export function classify(method: string, query: URLSearchParams, path: string): RequestKind {
  const isObject = path.split("/").filter((s) => s !== "").length >= 2;
  // The SDK adds ?x-id=PutObject (and the like) to some operations: no subresource, just a label.
  const subresource = SUBRESOURCES.some((name) => query.has(name));
  switch (method) {
    case "PUT":
      if (isObject && query.has("uploadId") && query.has("partNumber")) return "UploadPart";
      if (isObject && !subresource) return "PutObject";
      return "Other";
    case "POST":
      if (query.has("uploads")) return "CreateMultipartUpload";
      if (query.has("uploadId")) return "CompleteMultipartUpload";
      if (query.has("delete")) return "DeleteObjects";
      return "Other";
    case "DELETE":
      return query.has("uploadId") ? "AbortMultipartUpload" : "Other";
    case "HEAD":
      return isObject ? "HeadObject" : "Other";
    case "GET":
      if (isObject) return subresource ? "Other" : "GetObject";
      return path !== "/" && !subresource ? "ListObjects" : "Other";
    default:
      return "Other";
  }
}

function errorXml(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>fault-proxy</RequestId></Error>`;
}

interface ActiveRule {
  readonly rule: FaultRule;
  /** Requests of each kind seen before the rule was injected. */
  readonly base: Map<RequestKind, number>;
  hits: number;
  removed: boolean;
  /** Requests a "hold" rule keeps until release(). */
  readonly held: { req: IncomingMessage; res: ServerResponse; kind: RequestKind }[];
}

/**
 * An HTTP proxy on 127.0.0.1 in front of an S3 server, for tests of what an upload does when the
 * network or the server misbehaves. It parses requests (so faults can target one operation), counts
 * bytes, and keeps track of requests still open on either side, so a test can assert that an
 * abandoned upload really cancelled everything.
 */
export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const target = new URL(upstream);
  const started = Date.now();
  const rules: ActiveRule[] = [];
  const seen: RequestInfo[] = [];
  const perKind = new Map<RequestKind, number>();
  let bytesUpstream: Record<string, number> = {};
  let requests: Record<string, number> = {};
  let faulted: Record<string, number> = {};
  let openRequests = 0;
  let openUpstream = 0;
  const sockets = new Set<Socket>();
  /** Stalled requests whose body is left unread: a socket that is not read never sees its peer close. */
  const unread = new Set<IncomingMessage>();
  const agent = new http.Agent({ keepAlive: true });

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://proxy");
    const kind = classify(req.method ?? "GET", url.searchParams, url.pathname);
    const kindTotal = (perKind.get(kind) ?? 0) + 1;
    perKind.set(kind, kindTotal);
    const info: RequestInfo = { method: req.method ?? "GET", path: url.pathname, query: url.searchParams, kind, seq: seen.length + 1, kindSeq: kindTotal, at: Date.now() - started, contentSha256: req.headers["x-amz-content-sha256"] as string | undefined };
    seen.push(info);
    requests[kind] = (requests[kind] ?? 0) + 1;

    openRequests++;
    let closed = false;
    const done = () => {
      if (closed) return;
      closed = true;
      openRequests--;
    };
    const socket = req.socket;
    res.once("finish", done);
    res.once("close", done);
    // Keep-alive sockets carry many requests: the listener must go with its request.
    socket.once("close", done);
    res.once("close", () => socket.removeListener("close", done));

    const active = rules.find(
      (r) =>
        !r.removed &&
        (r.rule.times === undefined || r.hits < r.rule.times) &&
        r.rule.match({ ...info, kindSeq: kindTotal - (r.base.get(kind) ?? 0) }),
    );
    if (active !== undefined) {
      active.hits++;
      faulted[active.rule.action.type] = (faulted[active.rule.action.type] ?? 0) + 1;
    }
    const action = active?.rule.action;
    if (action?.type === "slowdown" || action?.type === "error") {
      const [status, body] =
        action.type === "slowdown" ? [503, errorXml("SlowDown", "Please reduce your request rate.")] : [action.status, errorXml(action.code, "injected by the fault proxy")];
      req.resume();
      req.once("end", () => {
        res.writeHead(status, { "content-type": "application/xml", "content-length": Buffer.byteLength(body) });
        res.end(body);
      });
      return;
    }
    if (action?.type === "hold" && active !== undefined) {
      active.held.push({ req, res, kind });
      return;
    }
    if (action?.type === "stall") {
      if (action.readBody !== false) req.resume();
      else unread.add(req);
      req.once("close", () => unread.delete(req));
      return;
    }
    forward(req, res, kind, action?.type === "reset" ? action.afterBytes : undefined, action?.type === "lose-response");
  });

  function forward(req: IncomingMessage, res: ServerResponse, kind: RequestKind, resetAfter: number | undefined, loseResponse = false): void {
    const headers = { ...req.headers, host: target.host };
    const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent });
    openUpstream++;
    let upOpen = true;
    const upDone = () => {
      if (!upOpen) return;
      upOpen = false;
      openUpstream--;
    };
    up.once("close", upDone);
    up.on("error", () => {
      if (!res.headersSent) res.destroy();
    });
    up.on("response", (upRes) => {
      if (loseResponse) {
        upRes.resume();
        upRes.once("end", () => req.socket.resetAndDestroy());
        return;
      }
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
      upRes.on("error", () => res.destroy());
    });
    // The client went away (its own abort, a timeout): the upstream request must not linger.
    res.once("close", () => {
      if (!res.writableFinished) up.destroy();
    });

    let forwarded = 0;
    const count = (n: number) => {
      forwarded += n;
      bytesUpstream[kind] = (bytesUpstream[kind] ?? 0) + n;
    };
    const reset = () => {
      up.destroy();
      req.socket.resetAndDestroy();
    };
    req.on("data", (chunk: Buffer) => {
      let piece = chunk;
      if (resetAfter !== undefined && forwarded + piece.length >= resetAfter) {
        piece = piece.subarray(0, Math.max(0, resetAfter - forwarded));
        if (piece.length > 0) {
          count(piece.length);
          up.write(piece);
        }
        req.removeAllListeners("data");
        reset();
        return;
      }
      count(piece.length);
      if (!up.write(piece)) {
        req.pause();
        up.once("drain", () => req.resume());
      }
    });
    req.on("end", () => {
      if (resetAfter !== undefined) {
        // The body was shorter than the reset point: reset before any answer instead.
        reset();
        return;
      }
      up.end();
    });
    req.on("error", () => up.destroy());
  }

  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  // Node answers "Expect: 100-continue" itself before emitting 'request', which is what S3 does.
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    inject(rule) {
      const active: ActiveRule = { rule, base: new Map(perKind), hits: 0, removed: false, held: [] };
      rules.push(active);
      return {
        get hits() {
          return active.hits;
        },
        remove() {
          active.removed = true;
        },
        release() {
          active.removed = true;
          for (const { req, res, kind } of active.held.splice(0)) forward(req, res, kind, undefined);
        },
      };
    },
    clearFaults() {
      for (const r of rules) r.removed = true;
      rules.length = 0;
      // Start reading what unread stalls hold, so that a client that has gone is seen to have gone
      // (they still never get an answer).
      for (const req of unread) req.resume();
      unread.clear();
    },
    stats: () => ({ bytesUpstream: { ...bytesUpstream }, requests: { ...requests }, faulted: { ...faulted } }),
    resetStats() {
      bytesUpstream = {};
      requests = {};
      faulted = {};
    },
    openRequests: () => openRequests,
    openUpstream: () => openUpstream,
    log: () => seen,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      agent.destroy();
      await closed;
    },
  };
}

/**
 * One fault proxy for a suite, in front of `upstream()` (read once the suite's servers are up):
 * started before its tests, faults cleared after each, closed at the end.
 */
export function useFaultProxy(upstream: () => string): () => FaultProxy {
  let proxy: FaultProxy | undefined;
  beforeAll(async () => {
    proxy = await startFaultProxy(upstream());
  });
  afterEach(() => {
    proxy?.clearFaults();
  });
  afterAll(async () => {
    await proxy?.close();
  });
  return () => {
    if (proxy === undefined) throw new Error("useFaultProxy(): the proxy is not started yet (use it inside a test or hook)");
    return proxy;
  };
}
