#!/usr/bin/env node
// `npm run build`: dist/ from an empty directory (tsc never removes the output of a source file
// that was moved or deleted), then the CLI bundled over tsc's dist/cli/entry.js.
//
//   dist/**/*.js, *.d.ts   tsc: the library (`main`, `types`: dist/index.js), unbundled; the files
//                          the CLI starts as processes of their own (the demo's algorithm, the
//                          log writer of `trainguard local`) are these too
//   dist/cli/entry.js      the package's bin: esbuild, split at each dynamic import into
//   dist/cli/chunk-*.js    chunks loaded on first use (packaging, S3, `trainguard local`)
//
// Every file has a source map: under `node --enable-source-maps` (or NODE_OPTIONS) stack traces
// name the files of src/. Not enabled by the bin itself: reading the maps at load costs start-up
// (~30 ms of CPU measured), and start-up is the window in which a PID 1 loses a SIGTERM.
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { ROOT, bundleCli } from "./bundle.mjs";

const DIST = path.join(ROOT, "dist");

// The bin bundles its dependencies too (koffi excepted: a native module), though node_modules holds
// them for the library: measured here, it then opens 13 files before the algorithm starts instead
// of 49 (pino is 40 CommonJS files), spends ~20 ms less CPU in start-up, and loads the S3 client
// on first use in ~190 ms instead of ~265. The price is the package's size (0.4 -> 1.9 MB packed).
const BUNDLE_DEPENDENCIES = true;

function fail(message) {
  process.stderr.write(`build: ${message}\n`);
  process.exit(1);
}

rmSync(DIST, { recursive: true, force: true });
try {
  execFileSync(process.execPath, [path.join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"], { cwd: ROOT, stdio: "inherit" });
} catch {
  fail("tsc failed (its messages are above)");
}
const { engines } = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8"));
await bundleCli({
  outdir: DIST,
  entryPoints: { "cli/entry": "src/cli/entry.ts" },
  chunkNames: "cli/chunk-[hash]",
  target: `node${engines.node.replace(/^>=\s*/, "").split(".")[0]}`,
  bundleDependencies: BUNDLE_DEPENDENCIES,
  urlTree: DIST,
  sourcemap: true,
  fail,
});
