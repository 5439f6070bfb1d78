import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import { readFile, readdir, rm, stat } from "node:fs/promises";
import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { verifyArchive } from "../../src/artifacts/index.js";
import { commit, randomData, removeTempDirs, sha256File, tempDir, textData, writeTree } from "./helpers.js";

const REPO = path.resolve(import.meta.dirname, "..", "..");
const DIST_INDEX = path.join(REPO, "dist", "artifacts", "index.js");
const CHILD = path.join(import.meta.dirname, "fixtures", "package-child.mjs");
const TRIALS = 30;

/** The child runs compiled JS: build unless dist/artifacts is newer than every source file. */
function ensureBuilt(): void {
  const srcDir = path.join(REPO, "src", "artifacts");
  const newestSource = Math.max(...readdirSync(srcDir).map((n) => statSync(path.join(srcDir, n)).mtimeMs));
  if (existsSync(DIST_INDEX) && statSync(DIST_INDEX).mtimeMs >= newestSource) {
    const distDir = path.dirname(DIST_INDEX);
    const stale = readdirSync(srcDir).some((n) => !existsSync(path.join(distDir, n.replace(/\.ts$/, ".js"))));
    if (!stale) return;
  }
  const r = spawnSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: REPO, encoding: "utf8" });
  // Other modules being written alongside may not compile yet; ours must.
  const ours = (r.stdout + r.stderr).split("\n").filter((l) => l.includes("src/artifacts/"));
  if (ours.length > 0 || !existsSync(DIST_INDEX)) throw new Error(`tsc failed for src/artifacts:\n${ours.join("\n") || r.stdout}`);
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  ms: number;
  stdout: string;
  stderr: string;
}

function packageInChild(ck: string, modelDir: string, killAfterMs?: number): Promise<Run> {
  const started = Date.now();
  const child = spawn(process.execPath, [CHILD, pathToFileURL(DIST_INDEX).href, ck, modelDir, "auto"], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const timer = killAfterMs === undefined ? undefined : setTimeout(() => child.kill("SIGKILL"), killAfterMs);
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, ms: Date.now() - started, stdout, stderr });
    });
  });
}

let root: string;
let oldCk: string;
let newCk: string;
let modelDir: string;

beforeAll(async () => {
  ensureBuilt();
  root = await tempDir();
  oldCk = path.join(root, "old-checkpoints");
  newCk = path.join(root, "checkpoints");
  modelDir = path.join(root, "model");
  await writeTree(path.join(oldCk, "step-1"), { "model.pt": textData(1 << 20) });
  await commit(path.join(oldCk, "step-1"), 1);
  // ~50 MB that compresses: auto picks level 1, the parallel gzip path.
  await writeTree(path.join(newCk, "step-2"), {
    "model.pt": textData(36 << 20),
    "optimizer.pt": Buffer.concat([textData(10 << 20, 4), randomData(4 << 20)]),
    "config.json": "{}",
  });
  await commit(path.join(newCk, "step-2"), 2);
}, 120_000);
afterAll(removeTempDirs);

describe("SIGKILL at any moment during packaging", () => {
  it(`leaves a valid archive at the final name, old or new (${TRIALS} random kills)`, { timeout: 600_000 }, async () => {
    const first = await packageInChild(oldCk, modelDir);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    const oldSha = await sha256File(path.join(modelDir, "model.tar.gz"));

    // Typical duration of a complete run over the previous archive, child start-up included,
    // for each checkpoint (the second run: caches warm, like the trials).
    const typical = new Map<string, number>();
    for (const ck of [newCk, oldCk, newCk]) {
      const full = await packageInChild(ck, modelDir);
      expect(full.code).toBe(0);
      typical.set(ck, full.ms);
    }
    expect(await sha256File(path.join(modelDir, "model.tar.gz"))).not.toBe(oldSha);

    const outcomes = { unchanged: 0, replaced: 0, completed: 0, killedBeforeReplacing: 0, sidecarBehind: 0 };
    const previousIs = { checkpoint: "step-2", sha256: await sha256File(path.join(modelDir, "model.tar.gz")) };
    for (let trial = 0; trial < TRIALS; trial++) {
      // Alternate the starting point so a kill can land on a replacement of either archive.
      const ck = trial % 2 === 0 ? oldCk : newCk;
      const killAt = Math.floor(Math.random() * (typical.get(ck) as number));
      const run = await packageInChild(ck, modelDir, killAt);
      if (run.signal === null) {
        expect(run.code, run.stderr).toBe(0);
        outcomes.completed++;
      }
      const archive = path.join(modelDir, "model.tar.gz");
      const report = await verifyArchive(archive);
      expect(report.problems, `trial ${trial} killed at ${killAt} ms`).toEqual([]);
      expect(report.ok).toBe(true);
      const expectedNow = ck === oldCk ? "step-1" : "step-2";
      const checkpoint = report.manifest?.checkpoint;
      const sha256 = await sha256File(archive);
      // Old: the previous archive, byte for byte. New: a complete archive of this run's checkpoint.
      if (sha256 === previousIs.sha256) {
        expect(checkpoint, `trial ${trial}`).toBe(previousIs.checkpoint);
        outcomes.unchanged++;
        if (run.signal !== null) outcomes.killedBeforeReplacing++;
      } else {
        expect(checkpoint, `trial ${trial} killed at ${killAt} ms`).toBe(expectedNow);
        outcomes.replaced++;
      }
      previousIs.checkpoint = checkpoint as string;
      previousIs.sha256 = sha256;

      // Nothing but the two final names and hidden temp files of a killed run.
      for (const name of await readdir(modelDir)) {
        if (name === "model.tar.gz" || name === "model.tar.gz.manifest.json") continue;
        expect(name).toMatch(/^\.model\.tar\.gz(\.manifest\.json)?\.\d+\.[0-9a-f]{8}\.tmp$/);
      }
      // The sidecar is renamed right after the archive: a kill between the two renames leaves it
      // one archive behind, never half-written.
      const sidecar = JSON.parse(await readFile(path.join(modelDir, "model.tar.gz.manifest.json"), "utf8"));
      if (sidecar.archive.sha256 !== sha256) outcomes.sidecarBehind++;
    }
    console.log(`sigkill trials: typical runs ${JSON.stringify([...typical.values()])} ms; outcomes ${JSON.stringify(outcomes)}`);
    // Most kills must land mid-run, or this proves little.
    expect(outcomes.completed).toBeLessThan(TRIALS / 2);
    // And some of them before the new archive was in place, which then left the old one intact.
    expect(outcomes.killedBeforeReplacing).toBeGreaterThan(0);

    // A later run cleans up what killed runs left behind.
    const final = await packageInChild(newCk, modelDir);
    expect(final.code).toBe(0);
    expect((await readdir(modelDir)).sort()).toEqual(["model.tar.gz", "model.tar.gz.manifest.json"]);
    expect((await stat(path.join(modelDir, "model.tar.gz"))).size).toBeGreaterThan(0);
    await rm(modelDir, { recursive: true, force: true });
  });
});
