import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { describe } from "vitest";
import { REPO_ROOT } from "./job.js";

export interface E2eSupport {
  readonly ok: boolean;
  readonly reason: string;
}

/**
 * The e2e suite runs trainguard as PID 1 of a real PID namespace, which needs root (CAP_SYS_ADMIN)
 * and a working `unshare`. Without them it is skipped, saying why; in CI (CI set) it must run, so
 * there the same finding is an error instead of a skip.
 */
function probe(): E2eSupport {
  if (process.platform !== "linux") return { ok: false, reason: `PID namespaces need Linux (this is ${process.platform})` };
  if (typeof process.getuid === "function" && process.getuid() !== 0) {
    return { ok: false, reason: `unshare --pid needs root; running as uid ${process.getuid()}` };
  }
  const result = spawnSync("unshare", ["--pid", "--fork", "--mount-proc", "--kill-child", "true"], { encoding: "utf8", timeout: 10_000 });
  if (result.error) return { ok: false, reason: `cannot run unshare: ${result.error.message}` };
  if (result.status !== 0) return { ok: false, reason: `"unshare --pid --fork --mount-proc true" failed (${result.status ?? result.signal}): ${result.stderr.trim()}` };
  return { ok: true, reason: "" };
}

export const e2eSupport: E2eSupport = probe();

if (!e2eSupport.ok) {
  if (process.env.CI) throw new Error(`trainguard e2e tests cannot run in CI: ${e2eSupport.reason}`);
  console.warn(`trainguard e2e tests skipped: ${e2eSupport.reason}`);
}

/** `describe` for e2e suites: skipped (with the reason in its name) where PID namespaces are unavailable. */
export function describeE2E(name: string, fn: () => void): void {
  describe.skipIf(!e2eSupport.ok)(e2eSupport.ok ? name : `${name} [skipped: ${e2eSupport.reason}]`, fn);
}

/** The fixture algorithms, one per language, each taking a mode argument. */
export const FIXTURES = path.join(REPO_ROOT, "test", "fixtures", "algorithms");

function resolvePython(): string {
  // The real interpreter, not a version-manager shim (a shim is a slow shell script, and it would
  // need the shim's own environment variables, which the jobs do not get).
  const result = spawnSync("python3", ["-c", "import sys; print(sys.executable)"], { encoding: "utf8", timeout: 10_000 });
  const exe = result.status === 0 ? result.stdout.trim() : "";
  return exe !== "" && existsSync(exe) ? exe : "python3";
}

export const PYTHON = resolvePython();

export type Language = "sh" | "python" | "node";
export const LANGUAGES: readonly Language[] = ["sh", "python", "node"];

/** argv for the fixture algorithm of `language` in `mode`. */
export function algorithm(language: Language, mode: string): string[] {
  switch (language) {
    case "sh":
      return ["sh", path.join(FIXTURES, "algo.sh"), mode];
    case "python":
      return [PYTHON, path.join(FIXTURES, "algo.py"), mode];
    case "node":
      return [process.execPath, path.join(FIXTURES, "algo.mjs"), mode];
  }
}

/** Signal numbers on Linux x86-64/arm64 (for SigCgt masks). */
export const SIG = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGUSR2: 12, SIGTERM: 15, SIGWINCH: 28 } as const;

/** The reserve trainguard keeps after the checkpoint deadline when there is (almost) nothing to package. */
export function expectedReserveMs(graceSeconds: number): number {
  return Math.min((graceSeconds * 1000) / 2, 2_000);
}
