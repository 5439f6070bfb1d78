/**
 * runTraining with modelLayout files and an output (here from TRAINGUARD_* variables, the same
 * option table as the CLI's): the in-process job places the files and uploads the archive made
 * from them straight to the output, as the supervisor does.
 */
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { verifyArchive } from "../../src/artifacts/index.js";
import { FIXTURES, readStatus, runNode, scratch } from "./helpers.js";

describe("in-process: modelLayout files with an output", () => {
  it("the function's checkpoint is placed in the model dir and its archive lands in the output, verified; no local archive", async () => {
    const root = scratch({ learning_rate: "0.5" });
    const out = path.join(root.base, "out");
    const run = runNode(path.join(FIXTURES, "throws.mjs"), root, { TRAINGUARD_MODEL_LAYOUT: "files", TRAINGUARD_OUTPUT: pathToFileURL(out).href });
    const exit = await run.waitExit();
    expect(exit.code, run.describe()).toBe(1);
    const status = readStatus(root.mlRoot);
    const modelDir = path.join(root.mlRoot, "model");
    const object = path.join(out, status.TrainingJobName ?? "", "output", "model.tar.gz");
    expect(status.artifact).toMatchObject({ path: modelDir, layout: "files", checkpoint: "step-000001", uploadedTo: pathToFileURL(object).href });
    expect(readdirSync(modelDir).sort()).toEqual([".trainguard-commit", "trainguard-manifest.json", "weights.bin"]);
    const report = await verifyArchive(object);
    expect(report.problems).toEqual([]);
    expect(report.manifest).toMatchObject({ checkpoint: "step-000001", reason: "Failed", layout: "archive" });
    expect(existsSync(`${object}.manifest.json`)).toBe(true);
  });
});
