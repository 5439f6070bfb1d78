/**
 * Where the failure file of refused options goes: the ml-root as the real option parser reads it,
 * replacing (and keeping aside) an earlier run's reason.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { disposeCase, runCase } from "../helpers/bad-input.js";

describe("the failure file of refused options", () => {
  it("replaces an earlier run's failure file, keeping it as failure.previous; status.json says the new reason", async () => {
    const r = await runCase({
      argv: ["run", "--ml-root", "{ml}", "--grace", "abc", "--", "true"],
      setup: (d) => {
        mkdirSync(path.join(d.ml, "output"), { recursive: true });
        writeFileSync(path.join(d.ml, "output", "failure"), "old\n");
      },
    });
    try {
      expect(r.code).toBe(2);
      expect(r.failure?.split("\n")[0]).toBe('trainguard: invalid options: --grace: must be a number of seconds above 0 and at most 604800, got "abc"');
      expect(readFileSync(path.join(r.dirs.ml, "output", "failure.previous"), "utf8")).toBe("old\n");
      expect(r.status?.failureReason).toBe(r.failure?.trimEnd());
    } finally {
      disposeCase(r);
    }
  });

  it("goes to --ml-root=<dir> even when the dir's name holds '='", async () => {
    const r = await runCase({ argv: ["run", "--ml-root={base}/ml=x", "--grace", "abc", "--", "true"] });
    try {
      expect(r.code).toBe(2);
      expect(readFileSync(path.join(r.dirs.base, "ml=x", "output", "failure"), "utf8")).toMatch(/^trainguard: invalid options: --grace/);
      expect(existsSync(path.join(r.dirs.base, "ml", "output"))).toBe(false);
    } finally {
      disposeCase(r);
    }
  });

  it("goes to TRAINGUARD_ML_ROOT, not to an --ml-root flag that belongs to the algorithm (after the command)", async () => {
    const r = await runCase({
      argv: ["run", "--grace", "abc", "train.sh", "--ml-root", "{base}/other"],
      env: { TRAINGUARD_ML_ROOT: "{ml}" },
    });
    try {
      expect(r.code).toBe(2);
      expect(r.failure).toMatch(/^trainguard: invalid options: --grace/);
      expect(existsSync(path.join(r.dirs.base, "other"))).toBe(false);
    } finally {
      disposeCase(r);
    }
  });
});
