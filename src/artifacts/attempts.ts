import path from "node:path";
import type { Logger } from "../log/index.js";
import type { CompressionMode, PackableSelection, PackEntry, SkippedEntry, StopReason } from "./types.js";
import { FileChangedError, PackagingError } from "./errors.js";
import { planCompression, type CompressionPlan } from "./compression.js";
import { trainguardVersion, type ManifestBase } from "./manifest.js";

/** A flat dir whose files keep changing is retried this many times, each without the changed file. */
const MAX_ATTEMPTS = 4;

export function archiveFileName(level: number | null): string {
  return level === null ? "model.tar" : "model.tar.gz";
}

export function checkpointLabel(selection: PackableSelection): string {
  return selection.kind === "directory" ? selection.name : path.basename(path.resolve(selection.dir));
}

export interface ArchivePlan {
  readonly plan: CompressionPlan;
  readonly fileName: string;
  readonly checkpoint: string;
  /** The manifest of an attempt that leaves out `skipped`. */
  manifest(skipped: readonly SkippedEntry[]): ManifestBase;
}

/** What every archive of this selection shares, wherever it goes: compression, name, manifest fields. */
export async function planArchive(
  selection: PackableSelection,
  opts: { jobName: string; reason: StopReason; compression: CompressionMode; deadline?: number; log?: Logger },
  signal: AbortSignal,
  started: number,
): Promise<ArchivePlan> {
  const plan = await planCompression(opts.compression, selection.files, { ...(opts.deadline === undefined ? {} : { deadline: opts.deadline }), signal });
  opts.log?.info({ event: "artifact.compression", compression: plan.compression, level: plan.level, sample: plan.sample }, plan.reason);
  const checkpoint = checkpointLabel(selection);
  const createdAt = new Date(started).toISOString();
  const version = await trainguardVersion();
  return {
    plan,
    fileName: archiveFileName(plan.level),
    checkpoint,
    manifest: (skipped) => ({
      job: opts.jobName,
      checkpoint,
      reason: opts.reason,
      createdAt,
      trainguardVersion: version,
      compression: plan.compression,
      ...(plan.level === null ? {} : { gzipLevel: plan.level }),
      layout: "archive",
      skipped: [...skipped],
    }),
  };
}

/**
 * Runs one archive attempt over the selection's entries. A file that changes while read voids the
 * attempt (its entry header already went out with the old size): a committed checkpoint directory
 * that changes is an error, a flat dir is retried without that file. `attempt` must have cleaned
 * up (and its consumer given up) before it throws.
 */
export async function withChangedFilesLeftOut<T>(
  selection: PackableSelection,
  signal: AbortSignal,
  log: Logger | undefined,
  attempt: (entries: readonly PackEntry[], skipped: readonly SkippedEntry[]) => Promise<T>,
): Promise<T> {
  const skipped: SkippedEntry[] = [...selection.skipped];
  let entries: readonly PackEntry[] = selection.files;
  for (let n = 1; ; n++) {
    try {
      return await attempt(entries, [...skipped]);
    } catch (err) {
      if (!(err instanceof FileChangedError) || signal.aborted) throw err;
      if (selection.kind === "directory") {
        throw new PackagingError("IO", `checkpoint ${selection.name} changed after it was committed: ${err.message}`, { cause: err });
      }
      if (n >= MAX_ATTEMPTS) throw new PackagingError("IO", `files keep changing in ${selection.dir}: ${err.message}`, { cause: err });
      log?.warn({ event: "artifact.skip", path: err.path, reason: err.detail, attempt: n }, "file changed while packaging; retrying without it");
      skipped.push({ path: err.path, reason: `changed while being packaged: ${err.detail}` });
      entries = entries.filter((e) => e.path !== err.path);
      if (!entries.some((e) => e.type === "file")) throw new PackagingError("IO", `no stable file left in ${selection.dir} to package`);
    }
  }
}

/** The result's warnings: what stood in for what, and what was left out. */
export function artifactWarnings(selection: PackableSelection, skipped: readonly SkippedEntry[]): string[] {
  return [...(selection.kind === "flat" ? selection.warnings : []), ...skipped.map((s) => `not packaged: ${s.path}: ${s.reason}`)];
}
