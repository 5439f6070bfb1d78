import type { StopReason } from "../artifacts/index.js";
import {
  EXIT_COMMAND_NOT_EXECUTABLE,
  EXIT_COMMAND_NOT_FOUND,
  EXIT_INTERNAL_ERROR,
  EXIT_RESUME_FAILED,
  EXIT_TRAIN_FAILED,
  exitCodeForSignal,
} from "../contract/index.js";
import { composeFailureReason } from "./failure.js";
import type { AlgorithmExit, Outcome } from "./outcome.js";

export interface Verdict {
  readonly status: "Stopped" | "Completed" | "Failed";
  /** What the artifact's manifest records. */
  readonly reason: StopReason;
  readonly exitCode: number;
  readonly fields: { exitCode?: number | null; signal?: string | null };
  readonly failureReason: string | null;
  readonly message?: string;
}

export interface VerdictContext {
  /** Present when a stop was requested before the algorithm ended. */
  readonly stop: { readonly signal: NodeJS.Signals } | undefined;
  readonly stopSignal: NodeJS.Signals;
  /** Training still ran at the checkpoint deadline: the algorithm was SIGKILLed, the function abandoned. */
  readonly escalated: boolean;
  readonly command: readonly string[];
  readonly commandSource: string;
  readonly stderrTail: string;
}

/**
 * The job's status, exit code and failure reason from how the algorithm ended. Exit codes mirror
 * the algorithm (128+N for signal N); a stop makes the job Stopped, and a crash while stopping is
 * kept as the failure reason rather than turning the job Failed.
 */
export function judge(outcome: Outcome, context: VerdictContext): Verdict {
  const { stop } = context;
  switch (outcome.kind) {
    case "not-started":
      // Nothing ran, nothing failed: exit as an unhandled stop signal would have.
      return { status: "Stopped", reason: "Stopped", exitCode: exitCodeForSignal(stop?.signal ?? "SIGTERM"), fields: {}, failureReason: null, message: "stopped before the algorithm started" };
    case "resume-failed":
      return { status: "Failed", reason: "Failed", exitCode: EXIT_RESUME_FAILED, fields: {}, failureReason: outcome.problem };
    case "spawn-failed": {
      const { failure } = outcome;
      const notFound = failure.code === "ENOENT";
      const notExecutable = failure.code === "EACCES";
      const exitCode = notFound ? EXIT_COMMAND_NOT_FOUND : notExecutable ? EXIT_COMMAND_NOT_EXECUTABLE : EXIT_INTERNAL_ERROR;
      const what = notFound ? "command not found" : notExecutable ? "command is not executable (permission denied)" : failure.message;
      const failureReason = `trainguard: cannot start the algorithm: ${what}: ${JSON.stringify(context.command[0])} (from ${context.commandSource}; full command ${JSON.stringify(context.command)}).`;
      return { status: "Failed", reason: "Failed", exitCode, fields: {}, failureReason };
    }
    case "exited": {
      const { exitCode, signal } = outcome.exit;
      const code = exitCode ?? exitCodeForSignal(signal ?? "SIGKILL");
      const fields = { exitCode, signal };
      if (stop) {
        const endedByStop =
          code === 0 ||
          signal === context.stopSignal ||
          code === exitCodeForSignal(context.stopSignal) ||
          (context.escalated && signal === "SIGKILL");
        if (endedByStop) {
          const message = context.escalated ? "algorithm did not exit by the checkpoint deadline and was killed" : undefined;
          return { status: "Stopped", reason: "Stopped", exitCode: code, fields, failureReason: null, ...(message ? { message } : {}) };
        }
        // It crashed while saving: the job is still Stopped, but the crash is what a user must see.
        const failureReason = composeFailureReason(`Algorithm crashed while stopping: ${describeExit(outcome.exit)}.`, context.stderrTail);
        return { status: "Stopped", reason: "Stopped", exitCode: code, fields, failureReason, message: "algorithm crashed while stopping" };
      }
      if (code === 0) return { status: "Completed", reason: "Completed", exitCode: 0, fields, failureReason: null };
      const failureReason = composeFailureReason(`Algorithm failed: ${describeExit(outcome.exit)}.`, context.stderrTail);
      return { status: "Failed", reason: "Failed", exitCode: code, fields, failureReason };
    }
    case "returned":
      return stop ? { status: "Stopped", reason: "Stopped", exitCode: 0, fields: {}, failureReason: null } : { status: "Completed", reason: "Completed", exitCode: 0, fields: {}, failureReason: null };
    case "threw":
      // As for a process: a crash while saving leaves the job Stopped, with the crash as reason.
      return stop
        ? { status: "Stopped", reason: "Stopped", exitCode: EXIT_TRAIN_FAILED, fields: {}, failureReason: outcome.failureReason, message: "training function failed while stopping" }
        : { status: "Failed", reason: "Failed", exitCode: EXIT_TRAIN_FAILED, fields: {}, failureReason: outcome.failureReason };
    case "overdue":
      // What an unhandled stop signal would have exited with.
      return { status: "Stopped", reason: "Stopped", exitCode: exitCodeForSignal(stop?.signal ?? "SIGTERM"), fields: {}, failureReason: null, message: "training function did not return by the checkpoint deadline" };
  }
}

function describeExit(exit: AlgorithmExit): string {
  return exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.exitCode}`;
}
