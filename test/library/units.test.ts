// Small parts of the library: the metric line and its regex, the failure reason of a thrown
// error, the options (object over environment over defaults), and the stop file poller.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/contract/index.js";
import { FAILURE_REASON_VISIBLE_CHARS } from "../../src/job/index.js";
import { formatMetric, metricRegex } from "../../src/library/metric.js";
import { trainErrorReason } from "../../src/library/failure-reason.js";
import { resolveOptions } from "../../src/library/options.js";
import { STOP_FILE_POLL_MS, StopListener } from "../../src/library/stop-listener.js";
import { waitFor } from "../helpers/wait.js";

describe("metric lines", () => {
  it("prints METRIC name=value[ step=N], and metricRegex captures exactly the value", () => {
    expect(formatMetric("train:loss", 0.0314, 3)).toBe("METRIC train:loss=0.0314 step=3");
    expect(formatMetric("validation:accuracy", 1)).toBe("METRIC validation:accuracy=1");
    const values = [0.0314, 12, -3.5, 1e-7, 1.5e21, 123456789.123];
    for (const value of values) {
      const line = `some prefix ${formatMetric("val.loss", value, 7)}`;
      const match = line.match(new RegExp(metricRegex("val.loss")));
      expect(match?.[1], line).toBeDefined();
      expect(Number(match?.[1])).toBe(value);
    }
    // The dot is escaped: another metric's line does not match.
    expect("METRIC valXloss=1".match(new RegExp(metricRegex("val.loss")))).toBeNull();
    for (const value of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      expect(formatMetric("loss", value).match(new RegExp(metricRegex("loss"))), String(value)).toBeNull();
    }
  });

  it("refuses names that would break the line, and steps that are not whole numbers", () => {
    expect(() => formatMetric("train loss", 1)).toThrow(/metric name/);
    expect(() => formatMetric("a=b", 1)).toThrow(/metric name/);
    expect(() => formatMetric("", 1)).toThrow(/metric name/);
    expect(() => formatMetric("loss", 1, 1.5)).toThrow(/step/);
    expect(() => formatMetric("loss", 1, -1)).toThrow(/step/);
  });
});

describe("failure reason of a thrown error", () => {
  it("message first (all its lines), then the stack frames", () => {
    const reason = trainErrorReason(new Error("loss diverged\nat step 3"));
    const lines = reason.split("\n");
    expect(lines[0]).toBe("loss diverged");
    expect(lines[1]).toBe("at step 3");
    expect(lines[2]).toMatch(/^\s+at /);
    expect(reason).toContain("units.test.ts");
  });

  it("names error types other than Error; strings and other values are reasons too", () => {
    expect(trainErrorReason(new TypeError("x is undefined")).split("\n")[0]).toBe("TypeError: x is undefined");
    expect(trainErrorReason(new ConfigError("hyperparameters.json", "lr", "must be a number")).split("\n")[0]).toBe('hyperparameters.json: field "lr": must be a number');
    expect(trainErrorReason("out of memory")).toBe("out of memory");
    expect(trainErrorReason({ code: 3 })).toBe('{"code":3}');
    expect(trainErrorReason(new Error(""))).toMatch(/^Error \(no message\)/);
  });

  it("fits what SageMaker shows, trailing newline included, keeping the head", () => {
    const reason = trainErrorReason(new Error(`${"x".repeat(2000)}\nsecond line`));
    expect(reason.length).toBeLessThanOrEqual(FAILURE_REASON_VISIBLE_CHARS - 1);
    expect(reason.startsWith("xxxx")).toBe(true);
    expect(reason.endsWith("...")).toBe(true);
  });
});

describe("runTraining options", () => {
  it("the options object wins over TRAINGUARD_* variables, which win over the CLI's defaults", () => {
    const env = { TRAINGUARD_GRACE: "30", TRAINGUARD_KEEP: "5", TRAINGUARD_COMPRESSION: "fast" };
    const resolved = resolveOptions({ grace: 60, mlRoot: "/tmp/ml" }, env);
    expect(resolved).toMatchObject({ graceSeconds: 60, keep: 5, compression: "fast", mlRoot: "/tmp/ml", modelLayout: "archive", onComplete: "keep" });
    expect(resolveOptions({}, {})).toMatchObject({ graceSeconds: 120, keep: 3, compression: "auto", stopSignal: "SIGTERM" });
  });

  it("a bad value is a ConfigError naming the option, or the variable it came from", () => {
    expect(() => resolveOptions({ grace: -1 }, {})).toThrow(/^runTraining option grace: must be a number of seconds/);
    expect(() => resolveOptions({ keep: 0 }, {})).toThrow(/^runTraining option keep:/);
    expect(() => resolveOptions({ compression: "zip" as never }, {})).toThrow(/^runTraining option compression: must be one of/);
    expect(() => resolveOptions({}, { TRAINGUARD_GRACE: "soon" })).toThrow(/^TRAINGUARD_GRACE: /);
    expect(() => resolveOptions({ mlRoot: 3 as never }, {})).toThrow(/^runTraining option mlRoot: must be a string/);
  });
});

describe("StopListener", () => {
  it(`sees the stop file within a poll period (${STOP_FILE_POLL_MS} ms) and reports the first stop once`, async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "tg-lib-stopfile-"));
    const file = path.join(dir, "stop-request.json");
    const listener = new StopListener([], file);
    try {
      const seen: string[] = [];
      listener.onStop((notice) => seen.push(notice.source));
      await new Promise((resolve) => setTimeout(resolve, STOP_FILE_POLL_MS * 2));
      expect(seen).toEqual([]);
      const writtenAt = Date.now();
      writeFileSync(file, "{}");
      await waitFor("the stop to be noticed", () => seen.length > 0, { timeoutMs: STOP_FILE_POLL_MS * 5 });
      expect(seen).toEqual(["stop-file"]);
      const requested = listener.requested;
      expect(requested, "the listener records the stop it reported").toBeDefined();
      expect(requested?.at).toBeGreaterThanOrEqual(writtenAt);
      expect((requested?.at ?? Number.NaN) - writtenAt).toBeLessThanOrEqual(STOP_FILE_POLL_MS + 100);
      // A handler registered after the stop still hears of it, once.
      const late: string[] = [];
      listener.onStop((notice) => late.push(notice.source));
      expect(late).toEqual(["stop-file"]);
    } finally {
      listener.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
