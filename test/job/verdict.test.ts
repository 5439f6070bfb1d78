import { describe, expect, it } from "vitest";
import { judge, type VerdictContext } from "../../src/job/verdict.js";

describe("judge: status and exit code from how the algorithm ended", () => {
  it("mirrors the exit code, or 128+N for a signal", () => {
    expect(judge({ kind: "exited", exit: { exitCode: 0, signal: null } }, ctx())).toMatchObject({ status: "Completed", exitCode: 0, failureReason: null });
    expect(judge({ kind: "exited", exit: { exitCode: 5, signal: null } }, ctx({ stderrTail: "boom\n" }))).toMatchObject({ status: "Failed", exitCode: 5 });
    expect(judge({ kind: "exited", exit: { exitCode: null, signal: "SIGSEGV" } }, ctx())).toMatchObject({ status: "Failed", exitCode: 139 });
  });

  it("puts the exit and the stderr tail in a failure reason", () => {
    const verdict = judge({ kind: "exited", exit: { exitCode: 5, signal: null } }, ctx({ stderrTail: "ValueError: bad\n" }));
    expect(verdict.failureReason).toMatch(/^Algorithm failed: exit code 5\.\n.*ValueError: bad$/s);
  });

  it("makes a stopped job Stopped whether it saved, died of the stop signal, or was SIGKILLed at the deadline", () => {
    const stop = { signal: "SIGTERM" as const };
    expect(judge({ kind: "exited", exit: { exitCode: 0, signal: null } }, ctx({ stop }))).toMatchObject({ status: "Stopped", exitCode: 0, failureReason: null });
    expect(judge({ kind: "exited", exit: { exitCode: null, signal: "SIGTERM" } }, ctx({ stop }))).toMatchObject({ status: "Stopped", exitCode: 143, failureReason: null });
    expect(judge({ kind: "exited", exit: { exitCode: 143, signal: null } }, ctx({ stop }))).toMatchObject({ status: "Stopped", exitCode: 143, failureReason: null });
    expect(judge({ kind: "exited", exit: { exitCode: null, signal: "SIGKILL" } }, ctx({ stop, escalated: true }))).toMatchObject({ status: "Stopped", exitCode: 137, failureReason: null });
  });

  it("keeps a crash while stopping as the failure reason of a Stopped job", () => {
    const verdict = judge({ kind: "exited", exit: { exitCode: 3, signal: null } }, ctx({ stop: { signal: "SIGTERM" } }));
    expect(verdict).toMatchObject({ status: "Stopped", exitCode: 3 });
    expect(verdict.failureReason).toMatch(/^Algorithm crashed while stopping: exit code 3/);
  });

  it("names the missing or unexecutable command", () => {
    const notFound = judge({ kind: "spawn-failed", failure: { code: "ENOENT", message: "" } }, ctx({ command: ["nope", "x"] }));
    expect(notFound).toMatchObject({ status: "Failed", exitCode: 127 });
    expect(notFound.failureReason).toContain('command not found: "nope" (from run arguments');
    expect(judge({ kind: "spawn-failed", failure: { code: "EACCES", message: "" } }, ctx())).toMatchObject({ exitCode: 126 });
  });

  it("exits as an unhandled stop signal when stopped before the algorithm started", () => {
    expect(judge({ kind: "not-started" }, ctx({ stop: { signal: "SIGINT" } }))).toMatchObject({ status: "Stopped", exitCode: 130 });
  });

  it("fails with 75 when the resume failed", () => {
    expect(judge({ kind: "resume-failed", problem: "remote unreachable" }, ctx())).toMatchObject({ status: "Failed", exitCode: 75, failureReason: "remote unreachable" });
  });
});

function ctx(overrides: Partial<VerdictContext> = {}): VerdictContext {
  return { stop: undefined, stopSignal: "SIGTERM", escalated: false, command: ["python3", "train.py"], commandSource: "run arguments", stderrTail: "", ...overrides };
}
