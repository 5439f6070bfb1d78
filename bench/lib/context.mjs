// What every benchmark module receives: paths, tools, the supervisors under test, a scratch
// directory, and the native helper (compiled on first use).
import { execFileSync } from "node:child_process";
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, tmpdir, release, loadavg, totalmem } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const BENCH_DIR = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
export const REPO_ROOT = path.dirname(BENCH_DIR);
export const ENTRY = path.join(REPO_ROOT, "dist", "cli", "entry.js");

const VERSION = JSON.parse(readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")).version;
/** The self-contained build (`npm run dist`), measured beside the npm install (ENTRY) in the same run. */
export const RELEASE_TREE = path.join(REPO_ROOT, "release", `trainguard-${VERSION}-linux-x64`);
export const SELF_CONTAINED = path.join(RELEASE_TREE, "bin", "trainguard");

export const TINI = process.env.TRAINGUARD_BENCH_TINI ?? "/usr/bin/tini";
/** The algorithm every start-up run executes. Absolute, so no supervisor pays a PATH search. */
export const TRUE = existsSync("/usr/bin/true") ? "/usr/bin/true" : "/bin/true";

export class BenchError extends Error {}

function which(name) {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    const candidate = path.join(dir || ".", name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

function requireExecutable(file, hint) {
  try {
    accessSync(file, constants.X_OK);
  } catch {
    throw new BenchError(`${file} not found or not executable: ${hint}`);
  }
  return file;
}

/**
 * A supervisor under test: `argv(mlRoot, command)` is the command line that supervises `command`.
 * Both run the same algorithm with the same stdio; only the supervisor differs.
 */
/** A Node PID 1 that only forwards SIGTERM: the floor under trainguard's forwarding delay. */
export function bareNodeSupervisor() {
  return {
    id: "bare node",
    argv: (_mlRoot, command) => [process.execPath, path.join(BENCH_DIR, "lib", "bare-node-pid1.mjs"), ...command],
  };
}

export function supervisors() {
  return [
    {
      id: "trainguard",
      argv: (mlRoot, command) => [process.execPath, ENTRY, "run", "--ml-root", mlRoot, "--", ...command],
    },
    {
      id: "trainguard (self-contained)",
      argv: (mlRoot, command) => [SELF_CONTAINED, "run", "--ml-root", mlRoot, "--", ...command],
    },
    {
      id: "tini",
      argv: (_mlRoot, command) => [TINI, "--", ...command],
    },
  ];
}

/**
 * `unshare --pid --fork --mount-proc`: argv runs as PID 1 of a fresh PID namespace, as in a
 * container. `--kill-child`: if unshare dies (the bench is interrupted), the namespace goes too.
 */
export function inNamespace(argv) {
  return ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc", ...argv];
}

export function createContext(options) {
  if (!existsSync(ENTRY)) throw new BenchError(`${ENTRY} missing: build first (npm run build)`);
  if (!existsSync(SELF_CONTAINED)) throw new BenchError(`${SELF_CONTAINED} missing: build it first (npm run dist)`);
  requireExecutable(TINI, "apt-get install -y tini (or set TRAINGUARD_BENCH_TINI)");
  const scratch = mkdtempSync(path.join(options.tmpRoot ?? tmpdir(), "trainguard-bench-"));
  let native;
  return {
    options,
    scratch,
    /** A fresh directory under the run's scratch directory. */
    tempDir(prefix) {
      const dir = path.join(scratch, `${prefix}-${Math.random().toString(36).slice(2, 10)}`);
      mkdirSync(dir, { recursive: true });
      return dir;
    },
    /** Path of the compiled tgbench helper (bench/native/tgbench.c). */
    native() {
      if (native) return native;
      const gcc = which(process.env.CC ?? "gcc") ?? which("cc");
      if (!gcc) throw new BenchError("a C compiler is needed for the signal benchmark: apt-get install -y gcc");
      const out = path.join(scratch, "tgbench");
      execFileSync(gcc, ["-O2", "-Wall", "-o", out, path.join(BENCH_DIR, "native", "tgbench.c")], { stdio: ["ignore", "ignore", "inherit"] });
      native = out;
      return native;
    },
    requireUnshare() {
      if (!which("unshare")) throw new BenchError("unshare not found: apt-get install -y util-linux");
      if (process.getuid?.() !== 0) throw new BenchError("PID namespaces need root here (unshare --pid)");
    },
    progress(message) {
      if (options.quiet || !process.stderr.isTTY) return;
      process.stderr.write(`\r\x1b[K${message}`);
    },
    progressDone() {
      if (!options.quiet && process.stderr.isTTY) process.stderr.write("\r\x1b[K");
    },
    cleanup() {
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}

function tryExec(file, args) {
  try {
    return execFileSync(file, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
  } catch {
    return undefined;
  }
}

/** What the figures were measured on. */
export function machineInfo(scratch) {
  const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, "package.json"), "utf8"));
  return {
    date: new Date().toISOString(),
    trainguardVersion: pkg.version,
    gitCommit: tryExec("git", ["-C", REPO_ROOT, "rev-parse", "--short", "HEAD"]),
    gitDirty: (tryExec("git", ["-C", REPO_ROOT, "status", "--porcelain", "--", "src"]) ?? "") !== "",
    node: process.version,
    nproc: Number(tryExec("nproc", [])) || cpus().length,
    cpuModel: cpus()[0]?.model,
    memTotalMB: Math.round(totalmem() / 2 ** 20),
    kernel: release(),
    os: (() => {
      try {
        return /PRETTY_NAME="([^"]*)"/.exec(readFileSync("/etc/os-release", "utf8"))?.[1];
      } catch {
        return undefined;
      }
    })(),
    tini: tryExec(TINI, ["--version"]),
    scratchFs: tryExec("stat", ["-f", "-c", "%T", scratch]),
    loadavgAtStart: loadavg().map((v) => Number(v.toFixed(2))),
  };
}
