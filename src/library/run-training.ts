import path from "node:path";
import { ConfigError, EXIT_CONFIG_ERROR, EXIT_INTERNAL_ERROR, errorMessage, resolveMlRoot } from "../contract/index.js";
import { recordRefusedStart, writeFailureFile } from "../job/index.js";
import { createLogger } from "../log/index.js";
import { parseStopSignal } from "../options/index.js";
import { keepInspectorShut } from "../supervisor/index.js";
import { runInProcess } from "./function-runner.js";
import { resolveOptions, type ResolvedOptions, type TrainingOptions } from "./options.js";
import type { TrainFunction, TrainingResult } from "./result.js";
import { StopListener } from "./stop-listener.js";
import { runSupervised } from "./supervised.js";

let running = false;

/**
 * Runs `train` as a training job that a stop cannot rob of its model.
 *
 * - Under `trainguard run`/`train` (TRAINGUARD_STOP_FILE in the environment) it cooperates: the
 *   stop request aborts `ctx.signal`, `ctx.deadline` is the supervisor's checkpoint deadline, and
 *   the supervisor packages, uploads and writes status.
 * - Otherwise it is the supervisor too, in this process, with the options of `trainguard run`
 *   (`options`, then TRAINGUARD_* variables): status.json, stop-request.json, the deadline, the
 *   newest complete checkpoint packaged on Stopped and Failed, upload, failure file.
 *
 * Exit codes: 0 when `train` returns (Completed, or Stopped after saving); 1 when it throws (the
 * failure file holds the error); 128+N when stop signal N came and `train` had not returned by
 * the checkpoint deadline (in-process; under `trainguard run` the supervisor SIGKILLs it: 137);
 * 2 for invalid options or configuration; 75 when the resume download failed; 70 for an internal
 * error. The process exits with it unless `options.exit` is false.
 */
export async function runTraining(train: TrainFunction, options: TrainingOptions = {}): Promise<TrainingResult> {
  if (typeof train !== "function") throw new TypeError("runTraining(train, options): train must be a function (ctx) => Promise<void>");
  if (running) throw new Error("runTraining is already running in this process: one training job per process");
  const env = process.env;
  const stopFile = env.TRAINGUARD_STOP_FILE === "" ? undefined : env.TRAINGUARD_STOP_FILE;
  // First, before anything that awaits: as PID 1 a stop signal with no handler yet is dropped, and
  // a SIGUSR1 (Slurm's time-limit warning, or one forwarded by trainguard) must not open Node's inspector.
  keepInspectorShut();
  const listener = new StopListener(stopSignals(stopFile !== undefined, env), stopFile);
  running = true;
  let result: TrainingResult;
  try {
    result = await run(train, options, listener, env, stopFile !== undefined);
  } finally {
    listener.close();
    running = false;
  }
  if (options.exit !== false) process.exit(result.exitCode);
  return result;
}

async function run(train: TrainFunction, options: TrainingOptions, listener: StopListener, env: NodeJS.ProcessEnv, supervised: boolean): Promise<TrainingResult> {
  let resolved: ResolvedOptions;
  try {
    resolved = resolveOptions(options, env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return refuse(err, options, env, supervised);
  }
  const log = await createLogger({ level: resolved.logLevel });
  try {
    if (supervised) return await runSupervised(train, resolved, listener, log, env);
    return await runInProcess(train, resolved, listener, log, env);
  } catch (err) {
    // Only what the modes could not record themselves gets here (an unreadable ml-root, a bug).
    const config = err instanceof ConfigError;
    log.error({ event: "library.error", err }, config ? (err as Error).message : "runTraining failed");
    const reason = config
      ? `trainguard: invalid configuration, the training function was not started.\n${(err as Error).message}`
      : `trainguard: internal error: ${errorMessage(err)}`;
    await writeFailureFile(failureFile(resolved.mlRoot, env), reason).catch(() => undefined);
    return { status: "Failed", exitCode: config ? EXIT_CONFIG_ERROR : EXIT_INTERNAL_ERROR };
  }
}

/** Invalid options: the same two files as for any failure, the training function not started. */
async function refuse(err: ConfigError, options: TrainingOptions, env: NodeJS.ProcessEnv, supervised: boolean): Promise<TrainingResult> {
  if (options.logLevel !== "silent") process.stderr.write(`trainguard: ${err.message}\n`);
  const reason = `trainguard: invalid options, the training function was not started.\n${err.message}`;
  // An empty value is one of the refused options: it must not turn into the current directory.
  const mlRoot = (typeof options.mlRoot === "string" && options.mlRoot !== "" ? options.mlRoot : env.TRAINGUARD_ML_ROOT) || undefined;
  try {
    if (supervised) await writeFailureFile(failureFile(mlRoot, env), reason);
    else await recordRefusedStart(resolveMlRoot(mlRoot, env), reason, process.argv);
  } catch {
    // No writable ml-root (a developer machine without /opt/ml): stderr already says it all.
  }
  return { status: "Failed", exitCode: EXIT_CONFIG_ERROR };
}

function failureFile(mlRoot: string | undefined, env: NodeJS.ProcessEnv): string {
  return env.SM_OUTPUT_DIR ? path.join(env.SM_OUTPUT_DIR, "failure") : path.join(resolveMlRoot(mlRoot, env), "output", "failure");
}

/**
 * SIGTERM (platforms) and SIGINT (a terminal); under the supervisor also the checkpoint request it
 * was told to send (TRAINGUARD_STOP_SIGNAL): a signal whose default action is to terminate would
 * otherwise end the process before it could save.
 */
function stopSignals(supervised: boolean, env: NodeJS.ProcessEnv): NodeJS.Signals[] {
  const signals: NodeJS.Signals[] = ["SIGTERM", "SIGINT"];
  const configured = env.TRAINGUARD_STOP_SIGNAL;
  if (!supervised || configured === undefined || configured === "") return signals;
  try {
    const signal = parseStopSignal(configured, "TRAINGUARD_STOP_SIGNAL");
    if (!signals.includes(signal)) signals.push(signal);
  } catch {
    // The supervisor refuses a bad value before starting us; nothing to add.
  }
  return signals;
}
