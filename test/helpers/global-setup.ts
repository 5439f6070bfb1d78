import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

/**
 * vitest globalSetup: the e2e tests run the built CLI (dist/cli/entry.js) as PID 1, so build it
 * once, before any test file runs. A compile error stops the run here with tsc's own message.
 */
export default function setup(): void {
  const root = fileURLToPath(new URL("../../", import.meta.url));
  const started = Date.now();
  execFileSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: root, stdio: "inherit" });
  console.log(`globalSetup: built dist/ with tsc in ${Date.now() - started} ms`);
}
