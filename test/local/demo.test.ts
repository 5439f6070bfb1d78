import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { ENTRY } from "../helpers/job.js";

describe("npm run demo (trainguard demo)", () => {
  it("creates a job through the SDK, stops it after its second checkpoint, and verifies the model it left", async () => {
    // The demo keeps its work dir for the user to look at: here it goes to a directory removed after.
    const tmp = await mkdtemp(path.join(tmpdir(), "tg-local-demo-"));
    const { stdout } = await promisify(execFile)(process.execPath, [ENTRY, "demo"], { timeout: 60_000, env: { ...process.env, TMPDIR: tmp } }).finally(() => rm(tmp, { recursive: true, force: true }));
    expect(stdout).toMatch(/second checkpoint saved .* StopTrainingJob/);
    expect(stdout).toMatch(/DescribeTrainingJob: Stopping \(Stopping\)[\s\S]*DescribeTrainingJob: Stopped \(Stopped\)/);
    expect(stdout).toMatch(/verify: OK .*model\.tar\.gz/);
    expect(stdout.trim().split("\n").at(-1)).toBe("demo: StopTrainingJob stopped the job, and it still left a valid model");
  });
});
