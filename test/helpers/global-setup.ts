import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * vitest globalSetup: the e2e tests run the built CLI (dist/cli/entry.js) as PID 1, so build it
 * once, before any test file runs. A compile error stops the run here with tsc's own message.
 * From an empty dist/: tsc never removes the output of a source file that was moved or deleted,
 * and a test could pass on that stale file here and fail on a clean clone.
 */
export default function setup(): void {
  const root = fileURLToPath(new URL("../../", import.meta.url));
  const started = Date.now();
  rmSync(path.join(root, "dist"), { recursive: true, force: true });
  execFileSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: root, stdio: "inherit" });
  console.log(`globalSetup: built dist/ with tsc in ${Date.now() - started} ms`);
}
