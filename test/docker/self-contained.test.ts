// The self-contained trainguard in training images that have no Node: the image it comes in holds
// /opt/trainguard only; in the example images built FROM a plain base with one COPY of it,
// trainguard is PID 1 on its own runtime and the algorithm sees nothing of it (no node on PATH, the
// image's PATH, the NODE_OPTIONS it was given); in an image with its own node, that node stays the
// algorithm's. Needs a Docker engine, the images of docker/ci-setup.sh and the release tree.
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { it } from "vitest";
import { ensureRelease } from "../helpers/release.js";
import {
  DIST_IMAGE,
  NODE_OS_IMAGE,
  PYTHON_BULLSEYE_IMAGE,
  PYTHON_IMAGE,
  SELF_CONTAINED_TRAINGUARD,
  SHELL_IMAGE,
  describeWithDocker,
  dockerOk,
  inspect,
  tempDir,
  waitExit,
} from "./docker.js";

const execFileAsync = promisify(execFile);

/** A preload that does not exist: had trainguard's runtime taken NODE_OPTIONS, it would not start. */
const USER_NODE_OPTIONS = "--require /nonexistent/preload.cjs --max-old-space-size=64";

/** What the algorithm sees, and what PID 1 is and was given, as `probe:key=value` lines. */
const PROBE = [
  'echo "probe:node=$(command -v node || echo none)"',
  'echo "probe:path=$PATH"',
  'echo "probe:node_options=${NODE_OPTIONS-unset}"',
  'echo "probe:launcher=${TRAINGUARD_LAUNCHER_NODE_OPTIONS-unset}"',
  "echo \"probe:pid1=$(tr '\\0' ' ' </proc/1/cmdline)\"",
  "echo \"probe:pid1_node_options=$(tr '\\0' '\\n' </proc/1/environ | grep -c '^NODE_OPTIONS=')\"",
].join("\n");

async function runProbe(image: string, script: string, extra: { entrypoint?: string; volumes?: string[] } = {}): Promise<Record<string, string>> {
  const root = await tempDir("self-contained");
  const args = ["run", "-d", "--network", "none", "--label", "org.trainguard.test=1", "-v", `${root}:/opt/ml`, "-e", `NODE_OPTIONS=${USER_NODE_OPTIONS}`];
  for (const volume of extra.volumes ?? []) args.push("-v", volume);
  if (extra.entrypoint) args.push("--entrypoint", extra.entrypoint);
  args.push("-e", `TRAINGUARD_COMMAND=${JSON.stringify(["sh", "-c", script])}`, image, "train");
  const id = await dockerOk(args);
  const { exitCode } = await waitExit(id, Date.now(), 60_000);
  const logs = await dockerOk(["logs", id]);
  await dockerOk(["rm", "-f", id]);
  if (exitCode !== 0) throw new Error(`${image} exited ${exitCode}:\n${logs}`);
  return Object.fromEntries(
    logs
      .split("\n")
      .filter((line) => line.startsWith("probe:"))
      .map((line) => [line.slice("probe:".length, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  );
}

async function imagePath(image: string): Promise<string> {
  const env = JSON.parse(await inspect(image, "{{json .Config.Env}}")) as string[];
  return env.find((entry) => entry.startsWith("PATH="))?.slice("PATH=".length) ?? "";
}

await describeWithDocker("the self-contained trainguard in images without Node", [DIST_IMAGE, PYTHON_IMAGE, PYTHON_BULLSEYE_IMAGE, SHELL_IMAGE, NODE_OS_IMAGE], () => {
  it(`${DIST_IMAGE} is one layer holding /opt/trainguard and nothing else`, async ({ expect }) => {
    const dir = await tempDir("dist-image");
    await dockerOk(["save", "-o", path.join(dir, "image.tar"), DIST_IMAGE], 120_000);
    await execFileAsync("tar", ["-xf", path.join(dir, "image.tar"), "-C", dir]);
    const [manifest] = JSON.parse(await readFile(path.join(dir, "manifest.json"), "utf8")) as { Layers: string[] }[];
    expect(manifest?.Layers).toHaveLength(1);
    const { stdout } = await execFileAsync("tar", ["-tf", path.join(dir, manifest?.Layers[0] ?? "")], { maxBuffer: 16 * 1024 * 1024 });
    const entries = stdout.trim().split("\n");
    expect(entries.filter((entry) => entry !== "opt/" && !entry.startsWith("opt/trainguard/"))).toEqual([]);
    expect(entries).toContain("opt/trainguard/bin/trainguard");
    expect(entries).toContain("opt/trainguard/runtime/node");
  });

  for (const image of [PYTHON_IMAGE, PYTHON_BULLSEYE_IMAGE, SHELL_IMAGE]) {
    it(`${image}: trainguard is PID 1 on its own runtime; the algorithm has no node on PATH, the image's PATH and the NODE_OPTIONS it was given`, async ({ expect }) => {
      expect(await runProbe(image, PROBE)).toEqual({
        node: "none",
        path: await imagePath(image),
        node_options: USER_NODE_OPTIONS,
        launcher: "unset",
        pid1: `${SELF_CONTAINED_TRAINGUARD.args} `,
        pid1_node_options: "0",
      });
    }, 60_000);
  }

  it("an image with its own node: that node stays the algorithm's, with the NODE_OPTIONS meant for it", async ({ expect }) => {
    const tree = ensureRelease();
    const script = `${PROBE}\necho "probe:node_version=$(NODE_OPTIONS= node --version)"`;
    const seen = await runProbe(NODE_OS_IMAGE, script, { entrypoint: SELF_CONTAINED_TRAINGUARD.entrypoint[0], volumes: [`${tree}:/opt/trainguard:ro`] });
    expect(seen).toMatchObject({
      node: "/usr/local/bin/node",
      node_version: process.version,
      node_options: USER_NODE_OPTIONS,
      path: await imagePath(NODE_OS_IMAGE),
      pid1: `${SELF_CONTAINED_TRAINGUARD.args} `,
      pid1_node_options: "0",
    });
  }, 60_000);
});
