import { open, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { isEnded, type JobRecord } from "./job-record.js";

/**
 * Reading the hosts' log files (see HostLogWriter for their records): all of a job's records
 * merged by time, each host's in its own order, or followed as they are written.
 */

const jobDirOf = (dataDir: string, name: string): string => path.join(dataDir, "jobs", name);

export async function readJobRecord(dataDir: string, name: string): Promise<JobRecord | undefined> {
  const text = await readFile(path.join(jobDirOf(dataDir, name), "job.json"), "utf8").catch(() => undefined);
  return text === undefined ? undefined : (JSON.parse(text) as JobRecord);
}

const hostsOf = (job: JobRecord): string[] => job.hosts?.map((h) => h.name) ?? [];

/** Complete records (lines) of `bytes`, and what is left after the last newline. */
function splitRecords(bytes: Buffer): { records: Buffer[]; rest: Buffer } {
  const records: Buffer[] = [];
  let start = 0;
  let nl: number;
  while ((nl = bytes.indexOf(0x0a, start)) !== -1) {
    records.push(bytes.subarray(start, nl + 1));
    start = nl + 1;
  }
  return { records, rest: bytes.subarray(start) };
}

/** Records of several hosts in time order; records of one host keep their order (the merge is stable). */
export function mergeByTime(perHost: readonly Buffer[][]): Buffer[] {
  const next = perHost.map(() => 0);
  const out: Buffer[] = [];
  for (;;) {
    let best = -1;
    for (let h = 0; h < perHost.length; h += 1) {
      const rec = perHost[h]?.[next[h] as number];
      if (rec === undefined) continue;
      const bestRec = best === -1 ? undefined : perHost[best]?.[next[best] as number];
      if (bestRec === undefined || rec.subarray(0, 24).toString("latin1") < bestRec.subarray(0, 24).toString("latin1")) best = h;
    }
    if (best === -1) return out;
    out.push(perHost[best]?.[next[best] as number] as Buffer);
    next[best] = (next[best] as number) + 1;
  }
}

/** A host's records still on disk: the rotated generation, then the current file. */
export async function hostRecords(dataDir: string, name: string, host: string): Promise<Buffer[]> {
  const file = path.join(jobDirOf(dataDir, name), `${host}.log`);
  const parts = await Promise.all([`${file}.1`, file].map((f) => readFile(f).catch(() => Buffer.alloc(0))));
  return splitRecords(Buffer.concat(parts)).records;
}

/** The last `count` records of a host. */
export async function hostTail(dataDir: string, name: string, host: string, count: number): Promise<Buffer[]> {
  return (await hostRecords(dataDir, name, host)).slice(-count);
}

export async function jobRecords(dataDir: string, job: JobRecord): Promise<Buffer[]> {
  return mergeByTime(await Promise.all(hostsOf(job).map((h) => hostRecords(dataDir, job.name, h))));
}

interface Cursor {
  ino: number;
  offset: number;
  rest: Buffer;
}

/**
 * Writes every record of the job, then new ones as they come, until the job has ended and its
 * files hold nothing more. A rotation is followed: the rest of the rotated file first.
 */
export async function followJob(dataDir: string, name: string, write: (b: Buffer) => void, pollMs = 200): Promise<void> {
  const cursors = new Map<string, Cursor>();
  for (;;) {
    const job = await readJobRecord(dataDir, name);
    const ended = job !== undefined && isEnded(job.status);
    const batch = await Promise.all(hostsOf(job ?? ({} as JobRecord)).map((h) => readNew(path.join(jobDirOf(dataDir, name), `${h}.log`), cursors, h)));
    for (const rec of mergeByTime(batch)) write(rec);
    if (ended) return;
    await sleep(pollMs);
  }
}

async function readNew(file: string, cursors: Map<string, Cursor>, host: string): Promise<Buffer[]> {
  const st = await stat(file).catch(() => undefined);
  if (st === undefined) return [];
  let cursor = cursors.get(host);
  const chunks: Buffer[] = [];
  if (cursor !== undefined && cursor.ino !== st.ino) {
    // Rotated: what was written to the old file after our last read is now in `.1`.
    const old = await stat(`${file}.1`).catch(() => undefined);
    if (old?.ino === cursor.ino) chunks.push(await readFrom(`${file}.1`, cursor.offset));
    chunks.unshift(cursor.rest);
    cursor = { ino: st.ino, offset: 0, rest: Buffer.alloc(0) };
  }
  if (cursor === undefined) {
    // First look: the rotated generation too, so nothing still on disk is left out.
    chunks.push(await readFile(`${file}.1`).catch(() => Buffer.alloc(0)));
    cursor = { ino: st.ino, offset: 0, rest: Buffer.alloc(0) };
  }
  const fresh = await readFrom(file, cursor.offset);
  cursor.offset += fresh.length;
  const { records, rest } = splitRecords(Buffer.concat([cursor.rest, ...chunks, fresh]));
  cursor.rest = rest;
  cursors.set(host, cursor);
  return records;
}

async function readFrom(file: string, offset: number): Promise<Buffer> {
  const handle = await open(file, "r").catch(() => undefined);
  if (handle === undefined) return Buffer.alloc(0);
  try {
    const { size } = await handle.stat();
    if (size <= offset) return Buffer.alloc(0);
    const buf = Buffer.alloc(size - offset);
    const { bytesRead } = await handle.read(buf, 0, buf.length, offset);
    return buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}
