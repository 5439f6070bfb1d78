/**
 * The package as a user gets it: `npm pack` of this checkout (dist/ built by the globalSetup),
 * installed into an empty project from the tarball, imported from ESM, type-checked from
 * TypeScript (and the example's JSDoc-typed JavaScript) with NodeNext resolution, the example
 * run from there, and the bin (the CLI bundle) run from there.
 */
import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it, onTestFinished } from "vitest";
import { REPO_ROOT } from "../helpers/job.js";
import { EXAMPLE, NodeRun, readStatus } from "./helpers.js";

const run = promisify(execFile);

/** A user's TypeScript: every part of the API a training script touches, with its types. */
const USER_TS = `import { runTraining, metricRegex, type TrainingContext, type TrainingResult, type SavedCheckpoint } from "trainguard";
import { writeFile } from "node:fs/promises";
import path from "node:path";

async function train(ctx: TrainingContext): Promise<void> {
  const epochs: number = ctx.hp.integer("epochs", 2);
  const lr: number = ctx.hp.number("learning_rate", 0.1);
  const arch: string = ctx.hp.string("arch", "mlp");
  const layers = ctx.hp.json<number[]>("layers", [64]);
  const leader: boolean = ctx.isLeader;
  const modelDir: string = ctx.dirs.model;
  const train: string | undefined = ctx.channels.train;
  const latest: SavedCheckpoint | null = await ctx.latestCheckpoint();
  for (let epoch = latest ? Number(latest.name.slice(6)) + 1 : 1; epoch <= epochs; epoch++) {
    if (ctx.signal.aborted) return;
    const deadline: Date | null = ctx.deadline;
    const left: number = ctx.timeLeftMs();
    ctx.metric("train:loss", lr / epoch, epoch);
    await ctx.saveCheckpoint(\`epoch-\${epoch}\`, async (dir: string) => {
      await writeFile(path.join(dir, "w.json"), JSON.stringify({ epoch, arch, layers, leader, train, deadline, left }));
    });
  }
  ctx.log.info({ modelDir }, "done");
}

const result: TrainingResult = await runTraining(train, { grace: 30, keep: 2, compression: "fast", exit: false });
const status: "Completed" | "Stopped" | "Failed" = result.status;
console.log(status, result.exitCode, metricRegex("train:loss"));
// @ts-expect-error grace is a number of seconds
await runTraining(train, { grace: "30" });
// @ts-expect-error compression is one of the CLI's modes
await runTraining(train, { compression: "zip" });
`;

/** The same from plain ESM JavaScript, and where "trainguard" resolved. */
const USER_MJS = `import { runTraining } from "trainguard";
import { writeFile } from "node:fs/promises";
import path from "node:path";
console.log("resolved " + import.meta.resolve("trainguard"));
await runTraining(async (ctx) => {
  await ctx.saveCheckpoint("step-1", (dir) => writeFile(path.join(dir, "w.txt"), "w"));
  ctx.metric("loss", 0.25, 1);
});
`;

const TSCONFIG = {
  compilerOptions: {
    target: "ES2022",
    module: "NodeNext",
    moduleResolution: "NodeNext",
    lib: ["ES2023"],
    strict: true,
    noEmit: true,
    allowJs: true,
    checkJs: true,
    // Our declarations are checked too, not only the user's code against them.
    skipLibCheck: false,
    // A user has @types/node; here it comes from this checkout rather than another download.
    typeRoots: [path.join(REPO_ROOT, "node_modules", "@types")],
    types: ["node"],
  },
  include: ["use.ts", "node-train/*.mjs"],
};

describe("the npm package, installed from its tarball into an empty project", () => {
  it("installs, imports from ESM, type-checks from TypeScript (NodeNext), and runs the example", async () => {
    const project = mkdtempSync(path.join(tmpdir(), "tg-lib-user-"));
    onTestFinished(() => {
      if (process.env.TG_E2E_KEEP !== "1") rmSync(project, { recursive: true, force: true });
    });
    const timings: Record<string, number> = {};
    const timed = async <T>(label: string, work: () => Promise<T>): Promise<T> => {
      const started = Date.now();
      try {
        return await work();
      } finally {
        timings[label] = Date.now() - started;
      }
    };

    await timed("npm pack", () => run("npm", ["pack", "--silent", "--pack-destination", project], { cwd: REPO_ROOT }));
    const tarball = readdirSync(project).find((f) => f.endsWith(".tgz"));
    expect(tarball).toBe("trainguard-0.1.0.tgz");
    const { stdout: listing } = await run("tar", ["-tzf", path.join(project, tarball as string)]);
    expect(listing).toContain("package/dist/index.js");
    expect(listing).toContain("package/dist/index.d.ts");
    expect(listing).not.toContain("package/src/");
    // The bin: the bundle's entry and its chunks.
    expect(listing).toContain("package/dist/cli/entry.js");
    expect(listing).toMatch(/package\/dist\/cli\/chunk-[A-Z0-9]+\.js/);

    writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "tg-user-project", version: "1.0.0", private: true, type: "module" }, null, 2));
    await timed("npm install", () =>
      run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error", `./${tarball}`], { cwd: project, timeout: 120_000 }),
    );
    expect(existsSync(path.join(project, "node_modules", "trainguard", "dist", "index.js"))).toBe(true);

    writeFileSync(path.join(project, "use.ts"), USER_TS);
    writeFileSync(path.join(project, "smoke.mjs"), USER_MJS);
    writeFileSync(path.join(project, "tsconfig.json"), JSON.stringify(TSCONFIG, null, 2));
    mkdirSync(path.join(project, "node-train"));
    for (const file of readdirSync(path.dirname(EXAMPLE)).filter((f) => f.endsWith(".mjs"))) {
      cpSync(path.join(path.dirname(EXAMPLE), file), path.join(project, "node-train", file));
    }
    const tsc = path.join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc");
    const checked = await timed("tsc --noEmit", () => run(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: project }).catch((err: { stdout?: string }) => err));
    expect((checked as { stdout?: string }).stdout ?? "", "tsc --noEmit in the user project").toBe("");

    // ESM import from the installed package (not this checkout), a job run in-process to the end.
    const smokeRoot = path.join(project, "smoke-ml");
    const smoke = new NodeRun(path.join(project, "smoke.mjs"), { mlRoot: smokeRoot, logDir: project });
    const smokeExit = await timed("smoke.mjs", () => smoke.waitExit());
    expect(smokeExit.code, smoke.describe()).toBe(0);
    expect(smoke.stdout()).toContain(`resolved file://${path.join(project, "node_modules", "trainguard", "dist", "index.js")}`);
    expect(smoke.stdout()).toContain("METRIC loss=0.25 step=1\n");
    expect(readStatus(smokeRoot)).toMatchObject({ TrainingJobStatus: "Completed", trainguardExitCode: 0 });

    // The example, from the user's project.
    const exampleRoot = path.join(project, "example-ml");
    mkdirSync(path.join(exampleRoot, "input", "config"), { recursive: true });
    writeFileSync(path.join(exampleRoot, "input", "config", "hyperparameters.json"), JSON.stringify({ epochs: "2", samples: "20000" }));
    const example = new NodeRun(path.join(project, "node-train", "train.mjs"), { mlRoot: exampleRoot, logDir: project });
    const exampleExit = await timed("node-train/train.mjs", () => example.waitExit(60_000));
    expect(exampleExit.code, example.describe()).toBe(0);
    expect(example.stdout()).toMatch(/METRIC validation:accuracy=0\.\d+ step=2\n/);
    expect(readStatus(exampleRoot)).toMatchObject({ TrainingJobStatus: "Completed" });
    // 16 features x 64 hidden + 64 + 64 + 1 parameters, 8 bytes each.
    expect(statSync(path.join(exampleRoot, "model", "weights.bin")).size).toBe((16 * 64 + 64 + 64 + 1) * 8);
    // The bin as npm linked it, from the installed package: a job run to the end.
    const binRoot = path.join(project, "bin-ml");
    await timed("trainguard run -- true", () => run(path.join(project, "node_modules", ".bin", "trainguard"), ["run", "--ml-root", binRoot, "--", "true"], { cwd: project }));
    expect(readStatus(binRoot)).toMatchObject({ TrainingJobStatus: "Completed", trainguardExitCode: 0 });
    console.log(`package test timings (ms): ${JSON.stringify(timings)}`);
  }, 120_000);
});
