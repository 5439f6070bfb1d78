/**
 * Bad input keeps trainguard's promise: a documented exit code, a failure file whose first line
 * names the file (or option) and field, status.json Failed, the algorithm not started, and the
 * model of an earlier run byte-identical. Cases run directly (fast); those marked pid1 also run as
 * PID 1 of a PID namespace, where a crash or a hang would end a real container.
 */
import { describe, expect, it } from "vitest";
import { disposeCase, runCase, type RunResult } from "../helpers/bad-input.js";
import { e2eSupport } from "../helpers/e2e.js";
import { CASES, type BadCase } from "./cases.js";

const STACK_TRACE = /^\s+at .+:\d+:\d+\)?$/m;

function check(c: BadCase, r: RunResult): void {
  const context = `${c.name}\nexit ${r.code} signal ${r.signal}\nfailure: ${r.failure}\nstderr tail: ${r.stderr.slice(-1500)}`;
  expect(r.code, context).toBe(c.exit);
  expect(r.stderr, `no stack trace: ${context}`).not.toMatch(STACK_TRACE);
  expect(r.started, `the algorithm must not start: ${context}`).toBe(false);
  expect(r.modelAfter?.equals(r.modelBefore), `the earlier model must be byte-identical: ${context}`).toBe(true);
  expect(r.modelDirAfter, context).toEqual(["model.tar.gz"]);
  if (c.first === null) {
    expect(r.failure, context).toBeUndefined();
  } else {
    expect(r.failure, context).toBeDefined();
    const first = (r.failure ?? "").split("\n")[0] ?? "";
    expect(first, context).toMatch(c.first);
    expect(r.failure, "no invisible U+FEFF in the reason").not.toContain("\ufeff");
  }
  if (c.stderr) expect(r.stderr, context).toMatch(c.stderr);
  if (c.status === null) {
    expect(r.status, context).toBeUndefined();
  } else {
    expect(r.status?.TrainingJobStatus, context).toBe("Failed");
    expect(r.status?.trainguardExitCode, context).toBe(c.exit);
    expect(r.status?.failureReason, context).toBe((r.failure ?? "").trimEnd());
  }
}

describe("bad input: exit code, failure file, status.json, algorithm not started, earlier model kept", () => {
  it("has at least 80 cases", () => {
    expect(CASES.length).toBeGreaterThanOrEqual(80);
    expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
  });

  describe.concurrent("directly", () => {
    for (const c of CASES) {
      it(c.name, async () => {
        const r = await runCase(c);
        try {
          check(c, r);
        } finally {
          disposeCase(r);
        }
      });
    }
  });

  describe.skipIf(!e2eSupport.ok).concurrent(e2eSupport.ok ? "as PID 1" : `as PID 1 [skipped: ${e2eSupport.reason}]`, () => {
    for (const c of CASES.filter((x) => x.pid1)) {
      it(c.name, async () => {
        const r = await runCase({ ...c, pid1: true });
        try {
          check(c, r);
        } finally {
          disposeCase(r);
        }
      });
    }
  });
});
