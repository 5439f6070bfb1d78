import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { FORWARDED_SIGNALS, NOT_FORWARDED, STOP_SIGNALS, forwardedSignals } from "../../src/supervisor/signals.js";

/** The signal names of the README row whose first cell starts with `first`, without the SIG prefix. */
function readmeRow(first: string): string[] {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const row = readme.split("\n").find((line) => line.startsWith(`| ${first}`));
  if (!row) throw new Error(`README has no signal table row starting with ${first}`);
  return (row.split("|")[1] ?? "").split(",").map((name) => `SIG${name.trim()}`);
}

describe("which signals are forwarded", () => {
  it("SIGUSR1 is forwarded (a listener keeps Node's inspector shut)", () => {
    expect(FORWARDED_SIGNALS).toContain("SIGUSR1");
  });

  it("no signal is both forwarded and not, and the stop signals are neither", () => {
    for (const signal of FORWARDED_SIGNALS) expect(Object.keys(NOT_FORWARDED)).not.toContain(signal);
    for (const signal of STOP_SIGNALS) {
      expect(FORWARDED_SIGNALS as readonly string[]).not.toContain(signal);
      expect(Object.keys(NOT_FORWARDED)).not.toContain(signal);
    }
  });

  it("SIGPROF is left to V8 when trainguard runs under its profiler", () => {
    expect(forwardedSignals([], "")).toContain("SIGPROF");
    expect(forwardedSignals(["--cpu-prof"], "")).not.toContain("SIGPROF");
    expect(forwardedSignals([], "--max-old-space-size=100 --prof")).not.toContain("SIGPROF");
    expect(forwardedSignals(["--cpu-prof-dir=/tmp"], "")).toContain("SIGPROF");
  });

  it("the README's signal table lists exactly these signals", () => {
    expect([...readmeRow("HUP"), ...readmeRow("PROF")].sort()).toEqual([...FORWARDED_SIGNALS].sort());
    const notCaught = [...readmeRow("PIPE"), ...readmeRow("FPE"), ...readmeRow("TTIN"), ...readmeRow("CHLD"), ...readmeRow("KILL")];
    expect(notCaught.sort()).toEqual(Object.keys(NOT_FORWARDED).sort());
  });
});
