import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

/**
 * vitest globalSetup: the e2e tests run the built CLI (dist/cli/entry.js, the bundle the package
 * publishes as its bin) as PID 1, so build it once, before any test file runs, exactly as
 * `npm run build` does: from an empty dist/ (tsc never removes the output of a source file that
 * was moved or deleted, and a test could pass on that stale file here and fail on a clean clone),
 * tsc, then the CLI bundle. A compile error stops the run here with tsc's own message.
 */
export default function setup(): void {
  const root = fileURLToPath(new URL("../../", import.meta.url));
  const started = Date.now();
  execFileSync(process.execPath, ["scripts/build.mjs"], { cwd: root, stdio: "inherit" });
  console.log(`globalSetup: built dist/ (tsc and the CLI bundle) in ${Date.now() - started} ms`);
}
