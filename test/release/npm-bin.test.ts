/**
 * The npm package's bin (dist/cli/entry.js) is an esbuild bundle: before it spawns the algorithm it
 * opens a handful of files, not the ~90 modules of the unbundled build (start-up is the window in
 * which a PID 1 loses a SIGTERM). Counted by the kernel, not by Node's loaders: strace records every
 * successful openat (-z), whichever loader (ESM, CommonJS, native) asks, up to the execve of the
 * algorithm.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { ENTRY, REPO_ROOT } from "../helpers/job.js";

const ALGORITHM = "/usr/bin/true";
/** 13 today: package.json, the entry, 9 chunks, koffi's package.json and native module. */
const MAX_FILES_BEFORE_SPAWN = 16;

function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The files of this checkout that `argv` opened (successfully) before it exec'd ALGORITHM, if it did. */
function filesOpened(argv: string[]): { files: string[]; spawned: boolean } {
  const trace = path.join(tempDir("tg-strace-"), "trace");
  execFileSync("strace", ["-f", "-qq", "-z", "-e", "trace=openat,execve", "-e", "signal=none", "-o", trace, ...argv], { stdio: "ignore", timeout: 30_000 });
  const files: string[] = [];
  for (const line of readFileSync(trace, "utf8").split("\n")) {
    if (line.includes(`execve("${ALGORITHM}"`)) return { files, spawned: true };
    const opened = /openat\([^"]*"([^"]+)".*\) = \d+$/.exec(line);
    if (opened?.[1]?.startsWith(REPO_ROOT)) files.push(path.relative(REPO_ROOT, opened[1]));
  }
  return { files, spawned: false };
}

describe("the npm package's bin, bundled", () => {
  it(`opens at most ${MAX_FILES_BEFORE_SPAWN} files of the package before it spawns the algorithm, none of tsc's dist/ or of node_modules but koffi`, () => {
    const { files, spawned } = filesOpened([process.execPath, ENTRY, "run", "--ml-root", tempDir("tg-ml-"), "--", ALGORITHM]);
    expect(spawned, "the algorithm was exec'd").toBe(true);
    expect(files.length, files.join("\n")).toBeLessThanOrEqual(MAX_FILES_BEFORE_SPAWN);
    expect(files).toContain(path.join("dist", "cli", "entry.js"));
    const unbundled = files.filter((f) => !/^dist\/cli\/(entry|chunk-[A-Z0-9]+)\.js$/.test(f) && f !== "package.json" && !f.startsWith("node_modules/koffi/"));
    expect(unbundled).toEqual([]);
  });

  it("is not loaded by the library's entry (import from the package root)", () => {
    const { files } = filesOpened([process.execPath, "--input-type=module", "-e", `await import(${JSON.stringify(path.join(REPO_ROOT, "dist", "index.js"))})`]);
    expect(files).toContain(path.join("dist", "index.js"));
    expect(files.filter((f) => f.startsWith(path.join("dist", "cli")))).toEqual([]);
  });

  it("has a source map for each output file, naming trainguard's src/ files", () => {
    const outputs = readdirSync(path.join(REPO_ROOT, "dist", "cli")).filter((f) => /^(entry|chunk-[A-Z0-9]+)\.js$/.test(f));
    const ours = new Set<string>();
    for (const file of outputs) {
      const map = JSON.parse(readFileSync(path.join(REPO_ROOT, "dist", "cli", `${file}.map`), "utf8")) as { sources: string[] };
      for (const source of map.sources) {
        const resolved = path.resolve(REPO_ROOT, "dist", "cli", source);
        if (resolved.startsWith(path.join(REPO_ROOT, "src"))) ours.add(resolved);
      }
      expect(readFileSync(path.join(REPO_ROOT, "dist", "cli", file), "utf8")).toContain(`//# sourceMappingURL=${file}.map`);
    }
    expect([...ours].filter((f) => !existsSync(f))).toEqual([]);
    expect(ours).toContain(path.join(REPO_ROOT, "src", "cli", "entry.ts"));
    expect(ours).toContain(path.join(REPO_ROOT, "src", "supervisor", "signals.ts"));
  });
});
