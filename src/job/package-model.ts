import { readdir } from "node:fs/promises";
import {
  MANIFEST_NAME,
  PackagingError,
  packageCheckpoint,
  selectCheckpoint,
  type ArtifactResult,
  type CompressionMode,
  type ModelLayout,
  type PackageOptions,
  type ProgressInfo,
  type StopReason,
  type FlatGuard,
} from "../artifacts/index.js";
import type { Logger } from "../log/index.js";
import type { ArtifactStatus } from "./status.js";

export interface PackageModelInput {
  readonly reason: StopReason;
  readonly checkpointDir: string;
  readonly modelDir: string;
  readonly jobName: string;
  readonly compression: CompressionMode;
  readonly layout: ModelLayout;
  readonly markers?: string[];
  /** Epoch ms: packaging that would end later is abandoned, and the previous artifact kept. */
  readonly deadline?: number;
  readonly signal?: AbortSignal;
  readonly log: Logger;
  /** Flat files whose write did not finish (the algorithm died writing them), and kept intact versions. */
  readonly guard?: FlatGuard;
  /** A second consumer of the archive bytes: the upload. */
  readonly tee?: PackageOptions["tee"];
}

export type PackageModelOutcome =
  /** `problem`: files left out because they were torn and no intact version was kept. */
  | { readonly kind: "packaged"; readonly artifact: ArtifactStatus; readonly result: ArtifactResult; readonly problem?: string }
  /** Nothing to package, but the algorithm left its own model in the model dir: not a problem. */
  | { readonly kind: "algorithm-model"; readonly note: string }
  /** What a user must be told: nothing complete to package, or packaging failed. */
  | { readonly kind: "problem"; readonly problem: string };

/**
 * The newest complete checkpoint becomes the model artifact. Never throws for expected failures
 * (nothing complete, deadline, full disk): those come back as a problem to record, with the
 * previous artifact left as it was.
 */
export async function packageModel(input: PackageModelInput): Promise<PackageModelOutcome> {
  const { log } = input;
  const selection = await selectCheckpoint(input.checkpointDir, { log, ...input.guard, ...(input.markers ? { markers: input.markers } : {}) });
  if (selection.kind === "none") {
    const ownModel = await algorithmModelFiles(input.modelDir);
    if (ownModel.length > 0) {
      return { kind: "algorithm-model", note: `no checkpoint to package (${selection.reason}); the model dir holds the algorithm's own files (${ownModel.slice(0, 3).join(", ")}${ownModel.length > 3 ? ", ..." : ""})` };
    }
    log.warn({ event: "package.nothing", reason: selection.reason }, "nothing to package");
    return { kind: "problem", problem: `No model was saved: ${selection.reason}, and ${input.modelDir} is empty.` };
  }
  const progress = progressReporter(log, input.deadline);
  log.info({ event: "package.start", checkpoint: selection.kind === "directory" ? selection.name : "(files)", files: selection.files.length, compression: input.compression, layout: input.layout }, "packaging the newest complete checkpoint");
  try {
    const result = await packageCheckpoint(selection, {
      modelDir: input.modelDir,
      jobName: input.jobName,
      reason: input.reason,
      compression: input.compression,
      layout: input.layout,
      log,
      onProgress: progress.report,
      ...(input.deadline === undefined ? {} : { deadline: input.deadline }),
      ...(input.signal ? { signal: input.signal } : {}),
      ...(input.tee ? { tee: input.tee } : {}),
    });
    progress.done();
    for (const warning of result.warnings) log.warn({ event: "package.warning" }, warning);
    log.info(
      { event: "package.done", path: result.path, bytes: result.bytes, sha256: result.sha256, compression: result.compression, gzipLevel: result.gzipLevel, files: result.files, durationMs: result.durationMs },
      `model saved to ${result.path}`,
    );
    const torn = selection.kind === "flat" ? selection.unfinished : [];
    return {
      kind: "packaged",
      result,
      ...(torn.length > 0 ? { problem: `Packaged without ${torn.map((t) => `${t.path} (${t.reason})`).join(", ")}: no intact version of it was kept.` } : {}),
      artifact: {
        path: result.path,
        bytes: result.bytes,
        sha256: result.sha256,
        uploadedTo: null,
        checkpoint: result.checkpoint,
        compression: result.compression,
        layout: result.layout,
        files: result.files,
        manifestPath: result.manifestPath,
        durationMs: result.durationMs,
      },
    };
  } catch (err) {
    progress.done();
    if (!(err instanceof PackagingError)) throw err;
    log.error({ event: "package.failed", code: err.code, err: err.message }, "packaging failed; the previous artifact is kept");
    return { kind: "problem", problem: `Packaging the checkpoint failed (${err.code}): ${err.message}. Any previous model artifact was kept.` };
  }
}

/** Files in the model dir that trainguard did not write. */
async function algorithmModelFiles(modelDir: string): Promise<string[]> {
  const entries = await readdir(modelDir).catch(() => [] as string[]);
  return entries.filter((name) => !/^model\.tar(\.gz)?(\.manifest\.json)?$/.test(name) && name !== MANIFEST_NAME && !name.startsWith("."));
}

/**
 * Progress for people and machines: a bar redrawn in place on a terminal, otherwise a log line
 * at most every few seconds (packaging reports four times a second).
 */
function progressReporter(log: Logger, deadline: number | undefined): { report: (p: ProgressInfo) => void; done: () => void } {
  const tty = process.stderr.isTTY === true;
  let lastLog = 0;
  let drewBar = false;
  const report = (p: ProgressInfo): void => {
    const fraction = p.totalBytes > 0 ? Math.min(1, p.bytes / p.totalBytes) : 1;
    const deadlineLeftMs = deadline === undefined ? undefined : deadline - Date.now();
    if (tty) {
      const width = 30;
      const filled = Math.round(fraction * width);
      const left = deadlineLeftMs === undefined ? "" : `, ${(deadlineLeftMs / 1000).toFixed(1)} s to deadline`;
      process.stderr.write(`\r[${"#".repeat(filled)}${" ".repeat(width - filled)}] ${(fraction * 100).toFixed(0)}% ${mib(p.bytes)}/${mib(p.totalBytes)} MiB ${mib(p.rateBytesPerSec)} MiB/s${left}   `);
      drewBar = true;
      return;
    }
    const now = Date.now();
    if (now - lastLog < 2_000 && fraction < 1) return;
    lastLog = now;
    log.info({ event: "package.progress", bytes: p.bytes, totalBytes: p.totalBytes, rateBytesPerSec: Math.round(p.rateBytesPerSec), msLeft: p.msLeft, deadlineLeftMs }, `packaging ${(fraction * 100).toFixed(0)}%`);
  };
  return {
    report,
    done: () => {
      if (drewBar) process.stderr.write("\n");
    },
  };
}

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}
