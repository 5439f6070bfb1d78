import { lstat, readdir } from "node:fs/promises";
import type { Dirent } from "node:fs";
import path from "node:path";
import type { Logger } from "../log/index.js";
import type { CheckpointSelection } from "./types.js";
import { walkCheckpoint } from "./walk.js";
import { selectFlat, type FlatGuard } from "./select-flat.js";
import { errnoCode, errorMessage } from "../contract/index.js";
import { tornFiles } from "./torn.js";

export const DEFAULT_COMMIT_MARKERS = [".trainguard-commit", ".metadata", ".snapshot_metadata"];

export interface SelectOptions extends FlatGuard {
  markers?: string[];
  log?: Logger;
}

interface Candidate {
  name: string;
  dir: string;
  markerMtimeMs: number;
}

interface Survey {
  complete: Candidate[];
  incomplete: string[];
  subdirectories: number;
}

/**
 * A checkpoint is a subdirectory holding a commit marker, written by the algorithm after
 * everything else; newest marker wins. Subdirectories without one are partial saves and never
 * packaged, however new. A dir with no subdirectories is an algorithm that overwrites its files
 * in place: package those no process is still writing.
 */
export async function selectCheckpoint(checkpointDir: string, opts: SelectOptions = {}): Promise<CheckpointSelection> {
  const survey = await surveyCheckpointDir(checkpointDir, opts.markers ?? DEFAULT_COMMIT_MARKERS);
  if ("reason" in survey) return { kind: "none", reason: survey.reason, incomplete: [] };
  const { complete, incomplete } = survey;
  const torn: string[] = [];
  for (const candidate of complete) {
    let walked;
    try {
      walked = await walkCheckpoint(candidate.dir, { recursive: true });
    } catch (err) {
      // Rotation may delete a checkpoint between the survey and the walk: the next one still counts.
      opts.log?.warn({ event: "artifact.select", checkpoint: candidate.name, err: errorMessage(err) }, "checkpoint vanished");
      continue;
    }
    // A commit marker is the algorithm's word; a file whose own structure says it was cut off overrules it.
    const broken = await tornFiles(walked.entries);
    if (broken.length > 0) {
      for (const b of broken) opts.log?.warn({ event: "artifact.torn", checkpoint: candidate.name, path: b.path, reason: b.reason }, "torn file: checkpoint passed over");
      torn.push(`${candidate.name}/${broken[0]?.path} ${broken[0]?.reason}`);
      continue;
    }
    for (const s of walked.skipped) opts.log?.warn({ event: "artifact.skip", path: s.path, reason: s.reason }, "not packaged");
    for (const w of walked.warnings) opts.log?.warn({ event: "artifact.warning" }, w);
    opts.log?.info(
      { event: "artifact.select", checkpoint: candidate.name, files: walked.entries.length, incomplete },
      "newest complete checkpoint selected",
    );
    return {
      kind: "directory",
      name: candidate.name,
      dir: candidate.dir,
      files: walked.entries,
      incomplete,
      skipped: walked.skipped,
    };
  }
  if (torn.length > 0) {
    return { kind: "none", reason: `no intact complete checkpoint in ${checkpointDir}: ${torn.join("; ")}`, incomplete };
  }
  if (survey.subdirectories > 0) {
    const markers = (opts.markers ?? DEFAULT_COMMIT_MARKERS).join(", ");
    return {
      kind: "none",
      reason: `no complete checkpoint in ${checkpointDir}: ${incomplete.length} subdirector${incomplete.length === 1 ? "y has" : "ies have"} no commit marker (${markers})`,
      incomplete,
    };
  }
  return selectFlat(checkpointDir, opts);
}

async function surveyCheckpointDir(checkpointDir: string, markers: readonly string[]): Promise<Survey | { reason: string }> {
  let dirents: Dirent[];
  try {
    dirents = await readdir(checkpointDir, { withFileTypes: true });
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return { reason: `checkpoint dir ${checkpointDir} does not exist` };
    return { reason: `cannot read checkpoint dir ${checkpointDir}: ${errorMessage(err)}` };
  }
  const complete: Candidate[] = [];
  const incomplete: string[] = [];
  let subdirectories = 0;
  for (const d of dirents) {
    // A symlinked "latest" would duplicate a real checkpoint: only real directories count.
    if (!d.isDirectory()) continue;
    subdirectories++;
    const dir = path.join(checkpointDir, d.name);
    const markerMtimeMs = await newestMarker(dir, markers);
    if (markerMtimeMs === undefined) incomplete.push(d.name);
    else complete.push({ name: d.name, dir, markerMtimeMs });
  }
  complete.sort((a, b) => b.markerMtimeMs - a.markerMtimeMs || NAME_ORDER.compare(b.name, a.name));
  incomplete.sort(NAME_ORDER.compare);
  return { complete, incomplete, subdirectories };
}

/** checkpoint-100 after checkpoint-99. */
const NAME_ORDER = new Intl.Collator("en", { numeric: true });

async function newestMarker(dir: string, markers: readonly string[]): Promise<number | undefined> {
  let newest: number | undefined;
  for (const m of markers) {
    try {
      const st = await lstat(path.join(dir, m));
      if (st.isFile() && (newest === undefined || st.mtimeMs > newest)) newest = st.mtimeMs;
    } catch {
      // absent: not this marker
    }
  }
  return newest;
}

/**
 * Bytes the next packaging would move, from stat alone (no /proc scan, no reads): sizes plus a
 * tar header per entry. Used to size the stop reserve, so it must stay cheap.
 */
export async function estimatePackageBytes(checkpointDir: string, opts: { markers?: string[]; signal?: AbortSignal } = {}): Promise<number> {
  const survey = await surveyCheckpointDir(checkpointDir, opts.markers ?? DEFAULT_COMMIT_MARKERS);
  if ("reason" in survey) return 0;
  const newest = survey.complete[0];
  let walked;
  try {
    const signal = opts.signal ? { signal: opts.signal } : {};
    if (newest) walked = await walkCheckpoint(newest.dir, { recursive: true, ...signal });
    else if (survey.subdirectories === 0) walked = await walkCheckpoint(checkpointDir, { recursive: false, ...signal });
    else return 0;
  } catch (err) {
    if (opts.signal?.aborted) throw err;
    return 0;
  }
  let bytes = 1024 + 1024; // end-of-archive blocks, and the manifest's header and a small body
  for (const e of walked.entries) bytes += 512 + Math.ceil(e.size / 512) * 512;
  return bytes;
}
