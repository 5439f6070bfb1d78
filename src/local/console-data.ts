import { readFile } from "node:fs/promises";
import path from "node:path";
import { mlPaths, type JobStatusDocument } from "../contract/index.js";
import type { JobRecord } from "./job-record.js";
import { hostTail } from "./log-read.js";
import { describeResponse } from "./responses.js";

/** What the console shows of jobs; plain JSON, computed from the registry and the hosts' files. */

export const LOG_TAIL_LINES = 40;

export function jobRow(job: JobRecord, now = Date.now()): Record<string, unknown> {
  return {
    name: job.name,
    status: job.status,
    secondaryStatus: job.secondaryStatus,
    created: job.creationTime,
    durationMs: (job.trainingEndTime ?? now) - job.creationTime,
    hosts: (job.request.ResourceConfig as { InstanceCount?: number } | undefined)?.InstanceCount ?? 1,
  };
}

export interface BudgetPhase {
  readonly name: "save" | "package" | "exit" | "upload";
  /** Ms after SIGTERM. */
  readonly from: number;
  readonly to: number;
}

/**
 * A stopped job's stop budget, from the platform's SIGTERM (0) to its SIGKILL (`timeoutMs`):
 * the algorithm's save (until the last host's algorithm exited), trainguard's packaging (until the
 * last host's trainguard ended), the processes' exit, and the platform's upload.
 */
export function stopBudget(job: JobRecord, statuses: readonly (JobStatusDocument | undefined)[], timeoutMs: number): { timeoutMs: number; phases: BudgetPhase[] } | undefined {
  const sigterm = job.stopRequestedAt;
  const uploading = job.transitions.find((t) => t.Status === "Uploading" && t.StartTime >= (sigterm ?? Infinity));
  if (sigterm === undefined || uploading === undefined || uploading.EndTime === undefined) return undefined;
  const last = (times: (number | undefined)[]) => Math.max(sigterm, ...times.filter((t): t is number => t !== undefined && Number.isFinite(t)));
  const saved = last(statuses.map((s) => Date.parse(s?.transitions.find((t) => t.secondaryStatus === "Uploading")?.at ?? "")));
  const packaged = Math.max(saved, last(statuses.map((s) => Date.parse(s?.endedAt ?? ""))));
  const exited = Math.max(packaged, uploading.StartTime);
  const points: [BudgetPhase["name"], number, number][] = [
    ["save", sigterm, saved],
    ["package", saved, packaged],
    ["exit", packaged, exited],
    ["upload", exited, uploading.EndTime],
  ];
  return { timeoutMs, phases: points.map(([name, a, b]) => ({ name, from: a - sigterm, to: b - sigterm })) };
}

/** One job for the console: DescribeTrainingJob's answer, the artifact, each host's log tail, the stop budget. */
export async function jobDetail(job: JobRecord, jobDir: string, dataDir: string, stopTimeoutMs: number): Promise<Record<string, unknown>> {
  const hosts = job.hosts?.map((h) => h.name) ?? [];
  const statuses = await Promise.all(
    hosts.map((h) => readFile(mlPaths(path.join(jobDir, h)).statusFile, "utf8").then((t) => JSON.parse(t) as JobStatusDocument, () => undefined)),
  );
  const tails = await Promise.all(hosts.map(async (h) => ({ host: h, lines: (await hostTail(dataDir, job.name, h, LOG_TAIL_LINES)).map((b) => b.toString("utf8")) })));
  return {
    describe: describeResponse(job),
    artifact: job.artifact ?? null,
    logs: tails,
    budget: stopBudget(job, statuses, stopTimeoutMs) ?? null,
  };
}
