import { timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { fileURLToPath } from "node:url";
import { jobDetail, jobRow } from "./console-data.js";
import { isEnded } from "./job-record.js";
import type { JobRunner } from "./job-runner.js";
import type { JobRegistry } from "./registry.js";

/** The page's files, beside src/ and dist/ alike. */
const ASSETS = fileURLToPath(new URL("../../assets/console/", import.meta.url));
const FILES: Readonly<Record<string, [string, string]>> = {
  "/": ["index.html", "text/html; charset=utf-8"],
  "/console/app.js": ["app.js", "text/javascript; charset=utf-8"],
  "/console/style.css": ["style.css", "text/css; charset=utf-8"],
};
export const CONSOLE_TOKEN_HEADER = "x-trainguard-console-token";

export interface ConsoleOptions {
  readonly registry: JobRegistry;
  readonly runner: JobRunner;
  readonly dataDir: string;
  readonly stopTimeoutMs: number;
  /** Printed by `serve` in the console's URL; every data request and the Stop carry it. */
  readonly token: string;
  /** The port serve listens on, once it does. */
  readonly port: () => number;
}

/**
 * The console's requests: `GET /` and its files, `GET /console/jobs[/NAME]`, `POST
 * /console/jobs/NAME/stop`. Returns false for anything else (the SageMaker API's). A person at
 * this machine may stop a job from the page; nothing else may: the Host must be this loopback
 * address (no DNS rebinding), data and Stop need the token in a header (which a page of another
 * origin cannot send without a CORS preflight, and none is ever granted), Stop is POST only and
 * refuses a foreign Origin, and the page may not be framed.
 */
export function consoleHandler(opts: ConsoleOptions): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  return async (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const isPage = req.method === "GET" && FILES[url.pathname] !== undefined;
    if (!isPage && !url.pathname.startsWith("/console/")) return false;
    const origins = [`http://127.0.0.1:${opts.port()}`, `http://localhost:${opts.port()}`];
    if (!origins.includes(`http://${req.headers.host ?? ""}`)) return reply(res, 403, { message: "the console answers only on its own loopback address" });
    const file = FILES[url.pathname];
    if (isPage && file !== undefined) {
      const body = await readFile(`${ASSETS}${file[0]}`);
      return send(res, 200, file[1], body);
    }
    if (!tokenMatches(req.headers[CONSOLE_TOKEN_HEADER], opts.token)) return reply(res, 403, { message: "missing or wrong console token: open the URL serve printed" });
    let parts: string[];
    try {
      parts = url.pathname.split("/").filter((p) => p !== "").map(decodeURIComponent);
    } catch {
      return reply(res, 400, { message: "the path is not valid percent-encoding" });
    }
    if (req.method === "GET" && parts.length === 2 && parts[1] === "jobs") {
      const jobs = opts.registry.all().sort((a, b) => b.creationTime - a.creationTime);
      return reply(res, 200, { jobs: jobs.map((j) => jobRow(j)) });
    }
    const job = parts[1] === "jobs" && parts[2] !== undefined ? opts.registry.get(parts[2]) : undefined;
    if (job === undefined) return reply(res, 404, { message: `no such job: ${parts[2] ?? ""}` });
    if (req.method === "GET" && parts.length === 3) {
      return reply(res, 200, await jobDetail(job, opts.registry.jobDir(job.name), opts.dataDir, opts.stopTimeoutMs));
    }
    if (parts.length === 4 && parts[3] === "stop") {
      if (req.method !== "POST") return reply(res, 405, { message: "Stop is POST only" }, { Allow: "POST" });
      const origin = req.headers.origin;
      if (origin !== undefined && !origins.includes(origin)) return reply(res, 403, { message: `a page of ${origin} may not stop jobs` });
      if (isEnded(job.status)) return reply(res, 409, { message: `the job is ${job.status}` });
      await opts.runner.stop(job, "StopTrainingJob");
      return reply(res, 200, { status: job.status });
    }
    return reply(res, 404, { message: "not a console request" });
  };
}

function tokenMatches(given: string | string[] | undefined, token: string): boolean {
  if (typeof given !== "string" || given.length !== token.length) return false;
  return timingSafeEqual(Buffer.from(given), Buffer.from(token));
}

function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): true {
  return send(res, status, "application/json; charset=utf-8", Buffer.from(JSON.stringify(body)), headers);
}

function send(res: ServerResponse, status: number, type: string, body: Buffer, headers: Record<string, string> = {}): true {
  res.writeHead(status, {
    "Content-Type": type,
    "Content-Length": body.length,
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    ...headers,
  });
  res.end(body);
  return true;
}
