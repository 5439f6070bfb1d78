import { spawnSync } from "node:child_process";
import { describe } from "vitest";

/** Debian's Python, which has python3-torch; another python3 may come first on PATH. */
export const TORCH_PYTHON = "/usr/bin/python3";

function probe(): { ok: boolean; reason: string } {
  const r = spawnSync(TORCH_PYTHON, ["-c", "import torch; print(torch.__version__)"], { encoding: "utf8", timeout: 60_000 });
  if (r.status === 0) return { ok: true, reason: "" };
  return { ok: false, reason: `${TORCH_PYTHON} cannot import torch (apt-get install python3-torch): ${(r.error?.message ?? r.stderr).trim().split("\n").pop() ?? ""}` };
}

export const torchSupport = probe();

if (!torchSupport.ok) {
  if (process.env.CI) throw new Error(`torch tests cannot run in CI: ${torchSupport.reason}`);
  console.warn(`torch tests skipped: ${torchSupport.reason}`);
}

/** `describe` for suites that need the real torch: skipped, saying why, where it is missing (never in CI). */
export function describeTorch(name: string, fn: () => void): void {
  describe.skipIf(!torchSupport.ok)(torchSupport.ok ? name : `${name} [skipped: ${torchSupport.reason}]`, fn);
}

/** Runs a Python snippet with torch imported; throws with its stderr when it fails. */
export function torchPython(code: string, args: readonly string[] = []): string {
  const r = spawnSync(TORCH_PYTHON, ["-c", `import sys, torch\n${code}`, ...args], { encoding: "utf8", timeout: 120_000 });
  if (r.status !== 0) throw new Error(`python failed (${r.status ?? r.signal}): ${r.stderr}`);
  return r.stdout;
}

/** torch.save of a state dict of about `megabytes` MB of float32, seeded, to `file`. */
export function torchSave(file: string, megabytes: number, seed = 0): void {
  torchPython(
    "torch.manual_seed(int(sys.argv[3]))\nn = int(float(sys.argv[2]) * 1e6 / 4)\ntorch.save({'w': torch.randn(n), 'b': torch.zeros(3)}, sys.argv[1])",
    [file, String(megabytes), String(seed)],
  );
}
