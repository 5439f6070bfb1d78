import { readFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import type { Manifest, ManifestFile, PackEntry } from "./types.js";
import { errorMessage } from "../contract/index.js";

export const EMPTY_SHA256 = createHash("sha256").digest("hex");
const PLACEHOLDER_SHA256 = "0".repeat(64);

export type ManifestBase = Omit<Manifest, "files">;

let version: Promise<string> | undefined;

/** The version of the package this code ships in: src/ and dist/ both sit one level below it. */
export function trainguardVersion(): Promise<string> {
  version ??= readFile(new URL("../../package.json", import.meta.url), "utf8")
    .then((text) => {
      const v = (JSON.parse(text) as { version?: unknown }).version;
      return typeof v === "string" ? v : "unknown";
    })
    .catch(() => "unknown");
  return version;
}

export function manifestFile(entry: PackEntry, sha256: string): ManifestFile {
  const base = { path: entry.path, size: entry.size, mode: entry.mode, sha256, type: entry.type };
  return entry.linkTarget === undefined ? base : { ...base, linkTarget: entry.linkTarget };
}

/** The sidecar beside an archive also names the archive it describes, for checks without opening it. */
export interface SidecarManifest extends Manifest {
  readonly archive: { readonly file: string; readonly bytes: number; readonly sha256: string };
}

export function serializeManifest(manifest: Manifest | SidecarManifest): Buffer {
  return Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
}

/**
 * The manifest's length before any file is hashed: every field but the hashes is known up front
 * and a hash is always 64 hex digits. That makes the whole tar's length known before the first
 * byte, which an upload with a declared length needs.
 */
export function predictManifestBytes(base: ManifestBase, entries: readonly PackEntry[]): number {
  const files = entries.map((e) => manifestFile(e, PLACEHOLDER_SHA256));
  return serializeManifest({ ...base, files }).length;
}

const SHA256_RE = /^[0-9a-f]{64}$/;

/** Checks the shape of a manifest read back from an archive; returns what is wrong, if anything. */
export function parseManifest(text: string): { manifest: Manifest } | { problem: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { problem: `manifest is not valid JSON: ${errorMessage(err)}` };
  }
  if (typeof raw !== "object" || raw === null) return { problem: "manifest is not a JSON object" };
  const m = raw as Record<string, unknown>;
  if (!Array.isArray(m.files)) return { problem: "manifest has no files list" };
  for (const [i, f] of (m.files as unknown[]).entries()) {
    if (typeof f !== "object" || f === null) return { problem: `manifest files[${i}] is not an object` };
    const file = f as Record<string, unknown>;
    if (typeof file.path !== "string") return { problem: `manifest files[${i}] has no path` };
    if (typeof file.size !== "number" || !Number.isSafeInteger(file.size) || file.size < 0) {
      return { problem: `manifest entry ${file.path} has no valid size` };
    }
    if (typeof file.sha256 !== "string" || !SHA256_RE.test(file.sha256)) {
      return { problem: `manifest entry ${file.path} has no valid sha256` };
    }
    if (file.type !== "file" && file.type !== "directory" && file.type !== "symlink") {
      return { problem: `manifest entry ${file.path} has unknown type ${String(file.type)}` };
    }
    if (file.type === "symlink" && typeof file.linkTarget !== "string") {
      return { problem: `manifest symlink ${file.path} has no linkTarget` };
    }
  }
  if (!Array.isArray(m.skipped)) m.skipped = [];
  if (m.layout !== "files") m.layout = "archive";
  return { manifest: m as unknown as Manifest };
}
