import { realpath } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "../log/index.js";
import type { CheckpointSelection, PackEntry, SkippedEntry } from "./types.js";
import { walkCheckpoint } from "./walk.js";
import { openForWriting } from "./open-files.js";
import { checkIntegrity, tornFiles } from "./torn.js";

/** A complete earlier version of a flat checkpoint file, kept aside while the live one was rewritten. */
export interface IntactCopy {
  /** Where the copy is. */
  readonly abs: string;
  readonly size: number;
  readonly mtimeMs: number;
  readonly mode: number;
}

/** What the supervisor knows about writes in a flat checkpoint dir that the files themselves may not show. */
export interface FlatGuard {
  /** Names (top level of the checkpoint dir) whose last write did not finish, with why: never packaged as they are. */
  unfinished?: ReadonlyMap<string, string>;
  /** Names with a kept intact version, packaged in place of a live file that is unfinished or torn. */
  intactCopies?: ReadonlyMap<string, IntactCopy>;
}

/**
 * A dir with no subdirectories is an algorithm that overwrites its files in place. Each file is
 * packaged unless its write is unfinished: held open for writing, named by the guard (its writer
 * died mid-write), or torn by its own structure. Such a file is replaced by its kept intact
 * version when there is one, and otherwise left out and listed in `unfinished`.
 */
export async function selectFlat(checkpointDir: string, opts: FlatGuard & { log?: Logger }): Promise<CheckpointSelection> {
  const { log } = opts;
  const walked = await walkCheckpoint(checkpointDir, { recursive: false });
  if (walked.entries.length === 0) {
    const reason = walked.skipped.length > 0 ? `${checkpointDir} holds nothing that can be packaged` : `${checkpointDir} is empty`;
    return { kind: "none", reason, incomplete: [] };
  }
  const reasons = new Map<string, string>();
  const dirReal = await realpath(checkpointDir);
  const byReal = new Map<string, PackEntry>();
  for (const e of walked.entries) if (e.type === "file") byReal.set(path.join(dirReal, e.path), e);
  for (const [real, pids] of await openForWriting(new Set(byReal.keys()))) {
    const entry = byReal.get(real);
    if (entry) reasons.set(entry.path, `open for writing by pid ${pids.join(", ")}`);
  }
  for (const [name, why] of opts.unfinished ?? []) {
    const entry = walked.entries.find((e) => e.path === name && e.type === "file");
    // A format that proves itself whole (a ZIP's end record) outweighs a close that came late.
    if (entry && !reasons.has(name) && (await checkIntegrity(entry.abs)).kind !== "intact") reasons.set(name, why);
  }
  for (const t of await tornFiles(walked.entries.filter((e) => !reasons.has(e.path)))) reasons.set(t.path, `torn: ${t.reason}`);

  const skipped: SkippedEntry[] = [...walked.skipped];
  const unfinished: SkippedEntry[] = [];
  const warnings: string[] = [];
  const files: PackEntry[] = [];
  for (const e of walked.entries) {
    const why = reasons.get(e.path);
    if (why === undefined) {
      files.push(e);
      continue;
    }
    const copy = opts.intactCopies?.get(e.path);
    if (copy) {
      files.push({ path: e.path, abs: copy.abs, type: "file", size: copy.size, mode: copy.mode, mtimeMs: copy.mtimeMs });
      const note = `${e.path}: the live file is not whole (${why}); its last intact version, written ${new Date(copy.mtimeMs).toISOString()}, is packaged instead`;
      warnings.push(note);
      log?.warn({ event: "artifact.intact-copy", path: e.path, reason: why, bytes: copy.size }, note);
      continue;
    }
    const entry = { path: e.path, reason: why };
    skipped.push(entry);
    unfinished.push(entry);
  }
  for (const s of skipped) log?.warn({ event: "artifact.skip", path: s.path, reason: s.reason }, "not packaged");
  if (files.length === 0) {
    const detail = unfinished.map((u) => `${u.path} (${u.reason})`).join(", ");
    return { kind: "none", reason: detail ? `no file in ${checkpointDir} is whole: ${detail}, and no intact version of it was kept` : `every file in ${checkpointDir} cannot be packaged`, incomplete: [] };
  }
  log?.info({ event: "artifact.select", checkpoint: checkpointDir, flat: true, files: files.length }, "flat checkpoint dir selected");
  return { kind: "flat", dir: checkpointDir, files, skipped, unfinished, warnings };
}
