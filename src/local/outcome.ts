import { readFile } from "node:fs/promises";
import { mlPaths, type JobStatusDocument } from "../contract/index.js";

export interface Outcome {
  readonly status: "Completed" | "Failed" | "Stopped";
  readonly failureReason?: string;
}

/** What SageMaker shows of the failure file. */
export const FAILURE_REASON_CHARS = 1024;

/**
 * How the job ended, read from what its container left, as the platform reads it: trainguard's
 * status.json (also after a restart of `serve`, when no exit code is at hand) and the failure
 * file. A job that was asked to stop ends Stopped whatever its process did; a process that ended
 * without saying how (SIGKILLed, crashed before its status file) without a stop is a failure,
 * unless the exit code is known (a container's, from the engine) and says 0: an image without
 * trainguard in it completes as SageMaker completes it.
 */
export async function readOutcome(mlRoot: string, stopRequested: boolean, exitCode?: number): Promise<Outcome> {
  const paths = mlPaths(mlRoot);
  const status = await readFile(paths.statusFile, "utf8").then((t) => JSON.parse(t) as JobStatusDocument, () => undefined);
  // Stopped also when something else than the platform stopped it (a signal while `serve` was down).
  if (stopRequested || status?.TrainingJobStatus === "Stopped") return { status: "Stopped" };
  if (status?.TrainingJobStatus === "Completed" || (status === undefined && exitCode === 0)) return { status: "Completed" };
  const failure = await readFile(paths.failureFile, "utf8").catch(() => "");
  const fallback =
    status === undefined
      ? `AlgorithmError: the job's ${exitCode === undefined ? "process ended" : `container exited with code ${exitCode}`} before trainguard recorded any status`
      : `AlgorithmError: ${status.failureReason ?? `the algorithm ended with ${status.signal ?? `exit code ${status.exitCode ?? "unknown"}`}`}`;
  return { status: "Failed", failureReason: (failure.trim() === "" ? fallback : failure).slice(0, FAILURE_REASON_CHARS) };
}
