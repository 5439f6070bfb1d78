import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { composeFailureReason, FAILURE_REASON_VISIBLE_CHARS, writeFailureFile } from "../../src/job/index.js";

describe("composeFailureReason", () => {
  it("puts what ended the algorithm first and the end of stderr after, within 1024 characters", () => {
    const stderr = `${"noise line\n".repeat(500)}Traceback (most recent call last):\nValueError: loss is NaN\n`;
    const reason = composeFailureReason("Algorithm failed: exit code 1.", stderr);
    expect(reason.length).toBeLessThanOrEqual(FAILURE_REASON_VISIBLE_CHARS);
    expect(reason.startsWith("Algorithm failed: exit code 1.")).toBe(true);
    expect(reason.endsWith("ValueError: loss is NaN")).toBe(true);
  });

  it("is just the headline when stderr was empty", () => {
    expect(composeFailureReason("Algorithm failed: killed by SIGSEGV.", "  \n")).toBe("Algorithm failed: killed by SIGSEGV.");
  });
});

describe("writeFailureFile", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "tg-failure-"));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it("never overwrites a reason the algorithm wrote", async () => {
    const file = path.join(dir, "output", "failure");
    expect(await writeFailureFile(file, "ours")).toBe(true);
    await writeFile(file, "the algorithm's own reason\n");
    expect(await writeFailureFile(file, "ours again")).toBe(false);
    expect(await readFile(file, "utf8")).toBe("the algorithm's own reason\n");
  });
});
