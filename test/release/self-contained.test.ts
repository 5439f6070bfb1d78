// The self-contained build (npm run dist) on the host: what the tree holds, the glibc it needs, and
// that its launcher leaves the algorithm's environment as it found it. Its images and the example
// images built on it are tested in test/docker.
import { execFile } from "node:child_process";
import { mkdtemp, readdir, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LAUNCHER, RELEASE_TARBALL, RELEASE_TREE, ensureRelease } from "../helpers/release.js";

const execFileAsync = promisify(execFile);
/** Node 22 and 24 official Linux x64 builds need glibc 2.28 (Debian 10, RHEL 8, Ubuntu 18.10): the documented floor. */
const GLIBC_FLOOR = "2.28";
const RUNTIME = path.join(RELEASE_TREE, "runtime", "node");
const KOFFI = path.join(RELEASE_TREE, "lib", "node_modules", "koffi", "build", "koffi", "linux_x64", "koffi.node");

const scratch: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "trainguard-dist-"));
  scratch.push(dir);
  return dir;
}

/** Every file and symlink under `dir`, relative, sorted. */
async function files(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => !e.isDirectory())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

/** The highest GLIBC_x.y symbol version an ELF file needs (objdump of binutils). */
async function glibcNeeded(file: string): Promise<string> {
  const { stdout } = await execFileAsync("objdump", ["-T", file], { maxBuffer: 64 * 1024 * 1024 });
  const versions = [...new Set(stdout.match(/GLIBC_\d+(\.\d+)+/g) ?? [])].map((v) => v.slice("GLIBC_".length));
  return versions.sort((a, b) => compareVersions(a, b)).at(-1) ?? "none";
}

function compareVersions(a: string, b: string): number {
  const [x, y] = [a.split(".").map(Number), b.split(".").map(Number)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
}

/** What an algorithm sees, printed as `key=value` lines. */
const PROBE = [
  'echo "node=$(command -v node || echo none)"',
  'echo "path=$PATH"',
  'echo "node_options=${NODE_OPTIONS-unset}"',
  'echo "launcher=${TRAINGUARD_LAUNCHER_NODE_OPTIONS-unset}"',
].join("; ");

async function probe(env: Record<string, string>): Promise<Record<string, string>> {
  const mlRoot = await tempDir();
  const { stdout } = await execFileAsync(LAUNCHER, ["run", "--ml-root", mlRoot, "--", "sh", "-c", PROBE], { env, timeout: 30_000 });
  return Object.fromEntries(
    stdout
      .split("\n")
      .filter((line) => /^(node|path|node_options|launcher)=/.test(line))
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  );
}

describe("the self-contained build (npm run dist)", () => {
  beforeAll(() => void ensureRelease(), 200_000);
  afterAll(async () => {
    for (const dir of scratch.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  it("bin/trainguard runs the bundle on its own Node.js runtime, 22 or newer", async () => {
    const { stdout: runtimeVersion } = await execFileAsync(RUNTIME, ["--version"]);
    expect(Number(/^v(\d+)\./.exec(runtimeVersion)?.[1])).toBeGreaterThanOrEqual(22);
    const { stdout } = await execFileAsync(LAUNCHER, ["--version"]);
    expect(stdout).toContain(path.basename(RELEASE_TREE).split("-")[1]);
  });

  it("works through a symlink on PATH (the launcher finds its tree from its real path)", async () => {
    const bin = await tempDir();
    await symlink(LAUNCHER, path.join(bin, "trainguard"));
    const { stdout } = await execFileAsync(path.join(bin, "trainguard"), ["--version"]);
    expect(stdout.trim()).not.toBe("");
  });

  it("the .tar.gz beside the tree holds the same files", async () => {
    const unpacked = await tempDir();
    await execFileAsync("tar", ["-xzf", RELEASE_TARBALL, "-C", unpacked]);
    expect(await files(path.join(unpacked, path.basename(RELEASE_TREE)))).toEqual(await files(RELEASE_TREE));
  });

  it(`needs glibc ${GLIBC_FLOOR} at most: the runtime and koffi's native module`, async () => {
    for (const file of [RUNTIME, KOFFI]) expect(compareVersions(await glibcNeeded(file), GLIBC_FLOOR), file).toBeLessThanOrEqual(0);
  });

  it("the algorithm keeps its PATH, its own node and the NODE_OPTIONS meant for it, which never configure trainguard's runtime", async () => {
    // A preload that does not exist: had the runtime taken NODE_OPTIONS, trainguard would not start.
    const nodeOptions = "--require /nonexistent/preload.cjs --max-old-space-size=64";
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", NODE_OPTIONS: nodeOptions };
    const { stdout: hostNode } = await execFileAsync("sh", ["-c", "command -v node || echo none"], { env });
    expect(await probe(env)).toEqual({ node: hostNode.trim(), path: env.PATH, node_options: nodeOptions, launcher: "unset" });
  });

  it("runs the demo: the local platform finds `trainguard train`, its log writer and the console in the tree", async () => {
    // The demo keeps its work dir for the user to look at: here it goes to a directory removed after.
    const tmp = await tempDir();
    const { stdout } = await execFileAsync(LAUNCHER, ["demo"], { timeout: 90_000, env: { ...process.env, TMPDIR: tmp } });
    expect(stdout.trim().split("\n").at(-1)).toBe("demo: StopTrainingJob stopped the job, and it still left a valid model");
    // The files import.meta.url finds beside lib/ (the console is served by `trainguard local serve`).
    expect(await files(RELEASE_TREE)).toEqual(expect.arrayContaining(["package.json", "assets/console/index.html", "lib/local/host-log-main.js", "lib/cli/demo/algorithm.js"]));
  });

  it("an algorithm started without NODE_OPTIONS gets none, not an empty one", async () => {
    const env = { PATH: "/usr/bin:/bin" };
    expect(await probe(env)).toMatchObject({ path: "/usr/bin:/bin", node_options: "unset", launcher: "unset" });
  });
});
