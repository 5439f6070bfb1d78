import { readFileSync } from "node:fs";
import path from "node:path";
import { commitMarkersWith, removeStaleStaging } from "./checkpoints.js";
import { CheckpointKeeper } from "./checkpoint-keeper.js";
import { createContext } from "./context.js";
import { trainErrorReason } from "./failure-reason.js";
import { jobInfoFromSupervisor } from "./job-info.js";
import type { ResolvedOptions } from "./options.js";
import type { TrainFunction, TrainingResult } from "./result.js";
import type { StopListener, StopNotice } from "./stop-listener.js";
import { StopState } from "./stop-state.js";
import { EXIT_TRAIN_FAILED, resolveMlRoot } from "../contract/index.js";
import type { Logger } from "../log/index.js";
import { checkpointReserveMs, writeFailureFile, writeFailureFileSync, type StopRequest } from "../job/index.js";

/**
 * Under `trainguard run`/`train` (TRAINGUARD_STOP_FILE set): the supervisor owns status,
 * packaging, upload and the deadline's SIGKILL. runTraining only cooperates: the stop request
 * becomes `ctx.signal` and the stop file's checkpoint deadline `ctx.deadline`; a return exits 0,
 * a throw writes the failure file (ours is more precise than the supervisor's, and it never
 * overwrites one) and exits 1.
 */
export async function runSupervised(train: TrainFunction, options: ResolvedOptions, listener: StopListener, log: Logger, env: NodeJS.ProcessEnv): Promise<TrainingResult> {
  const stopFile = env.TRAINGUARD_STOP_FILE as string;
  const stop = new StopState();
  listener.onStop((notice) => {
    const checkpointDeadline = readCheckpointDeadline(stopFile) ?? fallbackDeadline(notice, env);
    stop.request(notice.source, checkpointDeadline);
    log.info({ event: "library.stop", source: notice.source, checkpointDeadline: new Date(checkpointDeadline).toISOString() }, "stop requested: ctx.signal aborted");
  });
  // The stop file usually comes first, the signal a moment later: both are expected.
  listener.onRepeatedStop((notice) => log.debug({ event: "library.stop-repeated", source: notice.source }, "stop already requested"));

  const job = await jobInfoFromSupervisor(env, resolveMlRoot(options.mlRoot, env));
  const failureFile = path.join(job.dirs.output, "failure");
  const onUncaught = (error: unknown): void => writeFailureFileSync(failureFile, trainErrorReason(error));
  process.on("uncaughtExceptionMonitor", onUncaught);
  try {
    await removeStaleStaging(job.dirs.checkpoints);
    const markers = commitMarkersWith(options.commitMarkers);
    const checkpoints = new CheckpointKeeper(job.dirs.checkpoints, options.keep, markers);
    const ctx = createContext(job, stop, checkpoints, log.child({ scope: "train" }), true);
    log.info({ event: "library.start", mode: "supervised", jobName: job.jobName, resumeFrom: env.TRAINGUARD_RESUME_FROM || null }, "training function starting under trainguard");
    try {
      await train(ctx);
    } catch (error) {
      const reason = trainErrorReason(error);
      await writeFailureFile(failureFile, reason).catch((err: unknown) => log.error({ event: "library.failure-file", err }, "could not write the failure file"));
      log.error({ event: "library.end", status: "Failed", exitCode: EXIT_TRAIN_FAILED }, reason.split("\n")[0]);
      return { status: "Failed", exitCode: EXIT_TRAIN_FAILED };
    }
    const status = stop.deadline ? "Stopped" : "Completed";
    log.info({ event: "library.end", status, exitCode: 0 }, `training function returned (${status})`);
    return { status, exitCode: 0 };
  } finally {
    process.off("uncaughtExceptionMonitor", onUncaught);
  }
}

/** The supervisor writes the file before it signals, so it is there by the time SIGTERM is. */
function readCheckpointDeadline(stopFile: string): number | undefined {
  try {
    const request = JSON.parse(readFileSync(stopFile, "utf8")) as Partial<StopRequest>;
    const at = Date.parse(request.checkpointDeadline ?? "");
    return Number.isFinite(at) ? at : undefined;
  } catch {
    return undefined;
  }
}

/** A stop signal sent to us directly, not through the supervisor: assume its budget from now. */
function fallbackDeadline(notice: StopNotice, env: NodeJS.ProcessEnv): number {
  const graceSeconds = Number(env.TRAINGUARD_GRACE_SECONDS);
  const graceMs = Number.isFinite(graceSeconds) && graceSeconds > 0 ? graceSeconds * 1000 : 120_000;
  return notice.at + graceMs - checkpointReserveMs(0, graceMs);
}
