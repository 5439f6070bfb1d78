import { validationError } from "./api-error.js";
import type { JobRecord } from "./job-record.js";

export interface ListQuery {
  readonly NextToken?: string;
  readonly MaxResults?: number;
  readonly CreationTimeAfter?: number;
  readonly CreationTimeBefore?: number;
  readonly LastModifiedTimeAfter?: number;
  readonly LastModifiedTimeBefore?: number;
  readonly NameContains?: string;
  readonly StatusEquals?: string;
  readonly SortBy?: "Name" | "CreationTime" | "Status";
  readonly SortOrder?: "Ascending" | "Descending";
}

/**
 * ListTrainingJobs: filters (times are epoch seconds, bounds exclusive as the service's are),
 * sort (CreationTime, Descending by default), and pages of MaxResults (default 10). NextToken is
 * the offset into the same query's result, tied to the query so a token is not reused with another.
 */
export function listJobs(jobs: readonly JobRecord[], q: ListQuery): { page: JobRecord[]; nextToken?: string } {
  const after = (ms: number, bound?: number) => bound === undefined || ms > bound * 1000;
  const before = (ms: number, bound?: number) => bound === undefined || ms < bound * 1000;
  const matching = jobs.filter(
    (j) =>
      after(j.creationTime, q.CreationTimeAfter) &&
      before(j.creationTime, q.CreationTimeBefore) &&
      after(j.lastModifiedTime, q.LastModifiedTimeAfter) &&
      before(j.lastModifiedTime, q.LastModifiedTimeBefore) &&
      (q.NameContains === undefined || j.name.toLowerCase().includes(q.NameContains.toLowerCase())) &&
      (q.StatusEquals === undefined || j.status === q.StatusEquals),
  );
  const sortBy = q.SortBy ?? "CreationTime";
  const key = (j: JobRecord): string | number => (sortBy === "Name" ? j.name : sortBy === "Status" ? j.status : j.creationTime);
  const direction = (q.SortOrder ?? "Descending") === "Ascending" ? 1 : -1;
  matching.sort((a, b) => {
    const [x, y] = [key(a), key(b)];
    return (x < y ? -1 : x > y ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0) * direction;
  });
  const fingerprint = JSON.stringify({ ...q, NextToken: undefined, MaxResults: undefined });
  let offset = 0;
  if (q.NextToken !== undefined) {
    const token = decodeToken(q.NextToken);
    if (token === undefined || token.q !== fingerprint) throw validationError("Invalid pagination token");
    offset = token.offset;
  }
  const size = q.MaxResults ?? 10;
  const page = matching.slice(offset, offset + size);
  const next = offset + size < matching.length ? Buffer.from(JSON.stringify({ offset: offset + size, q: fingerprint })).toString("base64url") : undefined;
  return next === undefined ? { page } : { page, nextToken: next };
}

function decodeToken(token: string): { offset: number; q: string } | undefined {
  try {
    const value = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as { offset?: unknown; q?: unknown };
    return typeof value.offset === "number" && Number.isInteger(value.offset) && value.offset >= 0 && typeof value.q === "string" ? { offset: value.offset, q: value.q } : undefined;
  } catch {
    return undefined;
  }
}
