// The CLI as an esbuild bundle (ESM, split at each dynamic import), shared by `npm run build` (the
// npm package's bin, dist/cli/entry.js) and `npm run dist` (the self-contained build's lib/).
// Node's ES module loader resolves, reads and links files one by one: a bundle loads a handful of
// chunks before the algorithm is spawned instead of dozens of modules.
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

// esbuild bundles require() calls it can see; createRequire(import.meta.url)("x") hides them. The
// lazy loads of the embedded S3 server (trainguard local) are made visible when dependencies are
// bundled (into chunks loaded only by that verb). koffi always stays external: its loader finds
// the native module next to its index.js.
const LAZY_REQUIRES = ["s3rver", "s3rver/lib/models/error"];

// Bundled CommonJS (the AWS SDK, pino) and the lazy requires call require(): give ESM one, on top
// of every output file, before any of trainguard's code runs.
const REQUIRE_SHIM = ['import { createRequire as __trainguardCreateRequire } from "node:module";', "const require = __trainguardCreateRequire(import.meta.url);"].join("\n");

/**
 * The source transforms, per file of src/:
 * - lazyRequires: createRequire(import.meta.url)("s3rver") becomes require("s3rver"), bundled;
 * - urlsOf: import.meta.url becomes the URL of the file tsc writes for this source under that
 *   tree (relative to the bundle's output directory), so `new URL("../../assets/", import.meta.url)`,
 *   the demo's `./algorithm.js` and koffi's createRequire resolve as in the unbundled build,
 *   whichever chunk the code lands in.
 */
function sourcePlugin({ lazyRequires, urlsOf }) {
  return {
    name: "trainguard-sources",
    setup(b) {
      b.onLoad({ filter: /[/\\]src[/\\].+\.ts$/ }, (args) => {
        let text = readFileSync(args.path, "utf8");
        if (lazyRequires) for (const name of LAZY_REQUIRES) text = text.replaceAll(`createRequire(import.meta.url)(${JSON.stringify(name)})`, `require(${JSON.stringify(name)})`);
        if (urlsOf) {
          const compiled = path.join(urlsOf.tree, path.relative(path.join(ROOT, "src"), args.path)).replace(/\.ts$/, ".js");
          const relative = path.relative(urlsOf.outputDir, compiled).split(path.sep).join("/");
          text = text.replaceAll("import.meta.url", `new URL(${JSON.stringify(relative)}, import.meta.url).href`);
        }
        return { contents: text, loader: "ts" };
      });
    },
  };
}

/**
 * Bundles `entryPoints` (name -> source) into `outdir`, chunks named `chunkNames`.
 * - bundleDependencies: false leaves every package in node_modules (imported from there); true
 *   bundles them all but koffi.
 * - urlTree: the directory where src/ is mirrored (tsc's output beside the npm bundle; in the
 *   self-contained tree, the files the code finds from import.meta.url are placed there): each
 *   source's import.meta.url becomes its file's URL in that tree. Every output file must then be in
 *   one directory (checked), from which the URLs are made relative.
 * Fails with `fail(message)` when the bundle is not what the code expects.
 */
export async function bundleCli({ outdir, entryPoints, chunkNames, target, bundleDependencies, urlTree, banner = "", sourcemap = false, fail }) {
  const outputDir = urlTree && path.join(outdir, path.dirname(chunkNames));
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints,
    chunkNames,
    outdir,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target,
    external: ["koffi"],
    packages: bundleDependencies ? undefined : "external",
    plugins: [sourcePlugin({ lazyRequires: bundleDependencies, urlsOf: urlTree && { tree: urlTree, outputDir } })],
    banner: { js: [REQUIRE_SHIM, banner].filter(Boolean).join("\n") },
    legalComments: bundleDependencies ? "linked" : "none",
    sourcemap: sourcemap ? "linked" : false,
    sourcesContent: false,
    logLevel: "warning",
    metafile: true,
  });
  // Only a bundle with the embedded S3 server (the CLI's) needs s3rver.
  const withEmbeddedS3 = Object.keys(result.metafile.inputs).some((input) => input.endsWith("src/local/embedded-s3.ts"));
  if (bundleDependencies && withEmbeddedS3) {
    for (const name of LAZY_REQUIRES) {
      if (!Object.keys(result.metafile.inputs).some((input) => input.startsWith(`node_modules/${name.split("/")[0]}/`))) {
        fail(`the bundle lacks ${name}: src/local no longer loads it with createRequire(import.meta.url)(${JSON.stringify(name)}); update LAZY_REQUIRES in scripts/bundle.mjs`);
      }
    }
  }
  if (outputDir) {
    const elsewhere = Object.keys(result.metafile.outputs).filter((file) => file.endsWith(".js") && path.resolve(ROOT, path.dirname(file)) !== outputDir);
    if (elsewhere.length > 0) fail(`${elsewhere.join(", ")} not in ${path.relative(ROOT, outputDir)}: import.meta.url is rewritten for that directory only`);
  }
  return result.metafile;
}
