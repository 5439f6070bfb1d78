import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { selectCheckpoint } from "../../src/artifacts/index.js";
import { CheckpointKeeper, CheckpointsFrozen } from "../../src/library/checkpoint-keeper.js";
import { COMMIT_MARKER, STAGING_DIR, latestCheckpoint, removeStaleStaging, saveCheckpoint } from "../../src/library/checkpoints.js";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function checkpointDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "tg-lib-ckpt-"));
  dirs.push(dir);
  return dir;
}

const writeWeights = (text: string) => async (dir: string): Promise<void> => {
  await writeFile(path.join(dir, "weights.bin"), text);
  mkdirSync(path.join(dir, "optimizer"));
  await writeFile(path.join(dir, "optimizer", "state.json"), JSON.stringify({ text }));
};

/** Every entry of the checkpoint dir, hidden ones included. */
const entries = (dir: string): string[] => readdirSync(dir).sort();

describe("saveCheckpoint: complete or invisible", () => {
  it("writes the files, the marker last, and renames into place", async () => {
    const dir = checkpointDir();
    const saved = await saveCheckpoint(dir, "step-1", writeWeights("one"), { keep: 3 });
    expect(saved).toEqual({ name: "step-1", dir: path.join(dir, "step-1") });
    expect(entries(dir)).toEqual(["step-1"]);
    expect(readdirSync(saved.dir).sort()).toEqual([COMMIT_MARKER, "optimizer", "weights.bin"]);
    expect(readFileSync(path.join(saved.dir, "weights.bin"), "utf8")).toBe("one");
    expect(await latestCheckpoint(dir)).toEqual(saved);
  });

  it("a writer that throws leaves no directory behind, hidden or not, and the previous checkpoint intact", async () => {
    const dir = checkpointDir();
    await saveCheckpoint(dir, "step-1", writeWeights("one"), { keep: 3 });
    const failing = async (staging: string): Promise<void> => {
      await writeFile(path.join(staging, "weights.bin"), "half of two");
      throw new Error("disk full while writing step 2");
    };
    await expect(saveCheckpoint(dir, "step-2", failing, { keep: 3 })).rejects.toThrow("disk full while writing step 2");
    expect(entries(dir)).toEqual(["step-1"]);
    // The same name as an existing checkpoint: the old one stays as it was.
    await expect(saveCheckpoint(dir, "step-1", failing, { keep: 3 })).rejects.toThrow("disk full");
    expect(entries(dir)).toEqual(["step-1"]);
    expect(readFileSync(path.join(dir, "step-1", "weights.bin"), "utf8")).toBe("one");
    expect(existsSync(path.join(dir, "step-1", COMMIT_MARKER))).toBe(true);
    expect((await latestCheckpoint(dir))?.name).toBe("step-1");
  });

  it("a staged save whose marker is written is still not a checkpoint for packaging or resume", async () => {
    const dir = checkpointDir();
    await saveCheckpoint(dir, "step-1", writeWeights("one"), { keep: 3 });
    // The worst moment to be killed: marker written, rename not yet done (beforeCommit runs there).
    let stagedWithMarker = "";
    await expect(
      saveCheckpoint(dir, "step-2", writeWeights("two"), {
        keep: 3,
        beforeCommit: () => {
          const [staged] = readdirSync(path.join(dir, STAGING_DIR));
          stagedWithMarker = path.join(dir, STAGING_DIR, staged as string);
          expect(existsSync(path.join(stagedWithMarker, COMMIT_MARKER))).toBe(true);
          // What SIGKILL at this point would leave on disk:
          cpSync(stagedWithMarker, `${stagedWithMarker}.left-by-a-killed-process`, { recursive: true });
          throw new Error("killed");
        },
      }),
    ).rejects.toThrow("killed");
    expect(readdirSync(path.join(dir, STAGING_DIR))).toHaveLength(1);
    const selection = await selectCheckpoint(dir);
    expect(selection.kind === "directory" ? selection.name : selection.kind).toBe("step-1");
    expect((await latestCheckpoint(dir))?.name).toBe("step-1");
  });

  it("replaces a checkpoint of the same name, and keeps only the newest `keep`", async () => {
    const dir = checkpointDir();
    for (const step of [1, 2, 3, 4]) await saveCheckpoint(dir, `step-${step}`, writeWeights(`v${step}`), { keep: 2 });
    expect(entries(dir)).toEqual(["step-3", "step-4"]);
    await saveCheckpoint(dir, "step-4", writeWeights("v4 again"), { keep: 2 });
    expect(entries(dir)).toEqual(["step-3", "step-4"]);
    expect(readFileSync(path.join(dir, "step-4", "weights.bin"), "utf8")).toBe("v4 again");
    expect((await latestCheckpoint(dir))?.name).toBe("step-4");
    // Checkpoints trainguard did not commit are never pruned.
    mkdirSync(path.join(dir, "someone-elses"));
    writeFileSync(path.join(dir, "someone-elses", ".metadata"), "");
    await saveCheckpoint(dir, "step-5", writeWeights("v5"), { keep: 1 });
    expect(entries(dir)).toEqual(["someone-elses", "step-5"]);
  });

  it("refuses names that are not a plain directory name", async () => {
    const dir = checkpointDir();
    for (const name of ["", "../up", "a/b", ".hidden", "x".repeat(200)]) {
      await expect(saveCheckpoint(dir, name, writeWeights("x"), { keep: 1 })).rejects.toThrow(/checkpoint name/);
    }
    expect(entries(dir)).toEqual([]);
  });

  it("removeStaleStaging clears what a killed process left, not what a live one is writing", async () => {
    const dir = checkpointDir();
    const staging = path.join(dir, STAGING_DIR);
    mkdirSync(path.join(staging, "step-9.999999999.abcd.partial"), { recursive: true });
    mkdirSync(path.join(staging, `step-8.${process.ppid}.abcd.partial`));
    mkdirSync(path.join(staging, `step-7.${process.pid}.abcd.replaced`));
    const removed = await removeStaleStaging(dir);
    expect(removed.sort()).toEqual([`step-7.${process.pid}.abcd.replaced`, "step-9.999999999.abcd.partial"]);
    expect(readdirSync(staging)).toEqual([`step-8.${process.ppid}.abcd.partial`]);
  });
});

describe("CheckpointKeeper (ctx.saveCheckpoint)", () => {
  it("runs saves one at a time, in call order", async () => {
    const dir = checkpointDir();
    const keeper = new CheckpointKeeper(dir, 5, undefined);
    const order: string[] = [];
    const slow = (name: string, ms: number) => async (staging: string): Promise<void> => {
      order.push(`start ${name}`);
      await new Promise((resolve) => setTimeout(resolve, ms));
      await writeFile(path.join(staging, "w"), name);
      order.push(`end ${name}`);
    };
    await Promise.all([keeper.save("a", slow("a", 80)), keeper.save("b", slow("b", 10)), keeper.save("a", slow("a2", 10))]);
    expect(order).toEqual(["start a", "end a", "start b", "end b", "start a2", "end a2"]);
    expect(readFileSync(path.join(dir, "a", "w"), "utf8")).toBe("a2");
  });

  it("once frozen (the stop path is packaging), commits nothing and prunes nothing", async () => {
    const dir = checkpointDir();
    const keeper = new CheckpointKeeper(dir, 1, undefined);
    await keeper.save("step-1", writeWeights("one"));
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const inFlight = keeper.save("step-2", async (staging) => {
      await gate;
      await writeWeights("two")(staging);
    });
    keeper.freeze("the checkpoint deadline passed");
    release();
    await expect(inFlight).rejects.toBeInstanceOf(CheckpointsFrozen);
    await expect(keeper.save("step-3", writeWeights("three"))).rejects.toThrow(/step-3 was not committed: the checkpoint deadline passed/);
    expect(entries(dir)).toEqual(["step-1"]);
  });
});
