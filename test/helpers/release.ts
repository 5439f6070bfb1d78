import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { REPO_ROOT } from "./job.js";

const version = (JSON.parse(readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as { version: string }).version;

/** The self-contained build `npm run dist` writes: release/trainguard-<version>-linux-x64/. */
export const RELEASE_TREE = path.join(REPO_ROOT, "release", `trainguard-${version}-linux-x64`);
export const RELEASE_TARBALL = `${RELEASE_TREE}.tar.gz`;
export const LAUNCHER = path.join(RELEASE_TREE, "bin", "trainguard");

/**
 * The release tree, built with `npm run dist` when it is missing (CI builds it in docker/ci-setup.sh;
 * a first build fetches the pinned Node.js runtime from the npm registry, later ones use npm's cache).
 */
export function ensureRelease(): string {
  if (!existsSync(LAUNCHER) || !existsSync(RELEASE_TARBALL)) {
    execFileSync(process.execPath, [path.join(REPO_ROOT, "scripts", "dist.mjs")], { cwd: REPO_ROOT, stdio: "inherit", timeout: 180_000 });
  }
  return RELEASE_TREE;
}
