// What adding trainguard costs an image, in bytes: the self-contained build (npm run dist; the one
// `COPY --from` adds exactly its tree) against the npm install on the Node base image (the package
// with its production node_modules, plus the node binary an image without Node would also need).
// Docker figures come from the images of docker/ci-setup.sh when an engine answers.
import { execFileSync } from "node:child_process";
import { statSync } from "node:fs";
import path from "node:path";
import { RELEASE_TREE } from "./lib/context.mjs";
import { fmt } from "./lib/stats.mjs";

export const meta = {
  name: "size",
  aliases: ["dist-size"],
  title: "Size trainguard adds to an image (self-contained build vs npm install)",
};

const GOAL_MB = 120;
const mb = (bytes) => (bytes === undefined ? "-" : fmt(bytes / 1e6, 1));

/** Apparent size of a file or tree, bytes (what a layer stores, before compression). */
function bytes(target) {
  return Number(execFileSync("du", ["-sb", target], { encoding: "utf8" }).split("\t")[0]);
}

function imageBytes(image) {
  try {
    return Number(execFileSync("docker", ["image", "inspect", "--format", "{{.Size}}", image], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim());
  } catch {
    return undefined;
  }
}

export async function run() {
  const tree = bytes(RELEASE_TREE);
  const runtime = bytes(path.join(RELEASE_TREE, "runtime"));
  const lib = bytes(path.join(RELEASE_TREE, "lib"));
  const koffi = bytes(path.join(RELEASE_TREE, "lib", "node_modules"));
  const tarball = statSync(`${RELEASE_TREE}.tar.gz`).size;
  const hostNode = statSync(process.execPath).size;
  const dist = imageBytes("trainguard-dist:local");
  const nodeBase = imageBytes("trainguard:local");
  const nodeOs = imageBytes("trainguard-os:bookworm");
  const npmAdds = nodeBase !== undefined && nodeOs !== undefined ? nodeBase - nodeOs : undefined;
  const results = {
    selfContained: { treeBytes: tree, runtimeBytes: runtime, libBytes: lib, koffiBytes: koffi, tarGzBytes: tarball, imageBytes: dist },
    npmInstall: { onNodeBaseBytes: npmAdds, hostNodeBinaryBytes: hostNode, withoutNodeBytes: npmAdds === undefined ? undefined : npmAdds + hostNode },
  };
  const rows = [
    ["self-contained: whole tree (what COPY adds)", mb(tree), mb(dist)],
    ["  runtime/node (stripped)", mb(runtime), "-"],
    ["  lib/ (bundle, koffi)", mb(lib), "-"],
    ["  of which koffi", mb(koffi), "-"],
    ["  .tar.gz", mb(tarball), "-"],
    ["npm install on the Node base (package + production node_modules)", "-", mb(npmAdds)],
    ["  + a node binary, for an image without Node", mb(hostNode), mb(results.npmInstall.withoutNodeBytes)],
  ];
  return {
    params: { tree: path.relative(process.cwd(), RELEASE_TREE) },
    results,
    table: { columns: ["what", "MB on disk", "MB in the image (docker)"], rows },
    notes: [
      `Goal: the one COPY adds under ${GOAL_MB} MB -> ${tree < GOAL_MB * 1e6 ? "met" : "NOT met"} (${mb(tree)} MB).`,
      dist === undefined ? "No trainguard-dist:local image (docker/ci-setup.sh builds it) or no Docker engine: image sizes left out." : `Image sizes from \`docker image inspect\` of trainguard-dist:local and trainguard:local minus trainguard-os:bookworm.`,
    ],
  };
}
