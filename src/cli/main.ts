import { readFileSync, statSync } from "node:fs";
import { ConfigError, EXIT_CONFIG_ERROR, EXIT_INTERNAL_ERROR, resolveMlRoot } from "../contract/index.js";
import { hardExit, recordRefusedStart } from "../job/index.js";
import { createLogger } from "../log/index.js";
import { installLastResortHandlers, optionsHelp, parseRunArgs, parseTrainCommand, supervise, type SignalInbox } from "../supervisor/index.js";

export const USAGE = `trainguard: a PID-1 entrypoint that makes a stopped training job still produce a valid model

Usage:
  trainguard run [options] [--] <command> [args...]   supervise <command> through SIGTERM and the stop budget
  trainguard train [options]                          SageMaker's verb: runs TRAINGUARD_COMMAND (JSON argv array)
  trainguard demo                                     create a job on trainguard local, StopTrainingJob it, verify the model it left
  trainguard verify <model.tar.gz|model.tar>            check every file against the archive's manifest (0 ok, 1 mismatch, 2 unreadable)
  trainguard s3 serve [--port P] [--dir D] [--bucket B] an S3-compatible server on 127.0.0.1 for local jobs
  trainguard local serve [--port P] [--data DIR] [--stop-timeout S] ...
                                                      the SageMaker training API on 127.0.0.1 (StopTrainingJob included)
  trainguard local logs NAME [--data DIR] [--follow]   every host's output of a local job, with host and time
  trainguard help | --help                            this text
  trainguard version | --version

Options of run and train:
${optionsHelp()}

Exit codes: the algorithm's own exit code, or 128+N when signal N ended it; 2 for invalid
configuration or options (the algorithm is not started); 126 command not executable; 127 command
not found; 70 internal error. Details: README.md.`;

export async function main(args: readonly string[], inbox: SignalInbox): Promise<number> {
  const [verb, ...rest] = args;
  switch (verb) {
    case "run":
      return runVerb(rest, inbox, "run arguments", (remaining) => remaining);
    case "train":
      return runVerb(rest, inbox, "TRAINGUARD_COMMAND", (remaining) => {
        if (remaining.length > 0) throw new ConfigError("train", undefined, `takes no command arguments (got ${JSON.stringify(remaining)}); name the algorithm in TRAINGUARD_COMMAND`);
        return parseTrainCommand(process.env);
      });
    case "s3": {
      const { runS3 } = await import("./s3.js");
      return runS3(rest, () => new Promise((resolve) => inbox.attach((received) => received.signal === "SIGINT" || received.signal === "SIGTERM" ? resolve(received) : undefined)));
    }
    case "local": {
      const { runLocal } = await import("./local.js");
      return runLocal(rest, () => new Promise((resolve) => inbox.attach((received) => received.signal === "SIGINT" || received.signal === "SIGTERM" ? resolve(received) : undefined)));
    }
    case "verify": {
      inbox.close();
      const { runVerify } = await import("./verify.js");
      return runVerify(rest);
    }
    case "demo": {
      inbox.close();
      const { runDemo } = await import("./demo/index.js");
      return runDemo();
    }
    case "version":
    case "--version":
      inbox.close();
      process.stdout.write(`${packageVersion()}\n`);
      return 0;
    case undefined:
    case "help":
    case "--help":
    case "-h":
      inbox.close();
      process.stdout.write(`${USAGE}\n`);
      return verb === undefined ? EXIT_CONFIG_ERROR : 0;
    default:
      inbox.close();
      process.stderr.write(`trainguard: unknown command ${JSON.stringify(verb)}\n\n${USAGE}\n`);
      // SageMaker shows the failure file: a mistyped verb in the image's CMD must say so there too.
      await recordUnknownVerb(verb);
      return EXIT_CONFIG_ERROR;
  }
}

async function runVerb(
  args: readonly string[],
  inbox: SignalInbox,
  commandSource: string,
  commandOf: (remaining: string[]) => string[],
): Promise<number> {
  let parsed: ReturnType<typeof parseRunArgs>;
  let command: string[];
  try {
    parsed = parseRunArgs(args, process.env);
    command = commandOf(parsed.rest);
    if (command.length === 0) throw new ConfigError("run", undefined, "needs a command: trainguard run [options] -- <command> [args...]");
    if (command[0] === "") throw new ConfigError(commandSource, "argument 0", "the command name is empty");
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return refuse(err, args);
  }
  const { options, sources } = parsed;
  const log = await createLogger({ level: options.logLevel });
  installLastResortHandlers(log);
  let exitCode: number;
  try {
    exitCode = await superviseWith(options, sources, command, commandSource, inbox, log);
  } catch (err) {
    log.error({ event: "internal.error", err }, "internal error of trainguard");
    exitCode = EXIT_INTERNAL_ERROR;
  }
  // Not process.exit: it waits for the threadpool, which a FIFO or a hung mount can hold for ever.
  hardExit(exitCode);
}

function superviseWith(
  options: ReturnType<typeof parseRunArgs>["options"],
  sources: ReturnType<typeof parseRunArgs>["sources"],
  command: string[],
  commandSource: string,
  inbox: SignalInbox,
  log: Awaited<ReturnType<typeof createLogger>>,
): Promise<number> {
  return supervise({
    optionSources: sources,
    command,
    commandSource,
    mlRoot: resolveMlRoot(options.mlRoot, process.env),
    graceSeconds: options.graceSeconds,
    stopSignal: options.stopSignal,
    checkpointDir: options.checkpointDir,
    jobName: options.jobName,
    env: process.env,
    log,
    inbox,
    compression: options.compression,
    modelLayout: options.modelLayout,
    onComplete: options.onComplete,
    ...(options.commitMarkers ? { commitMarkers: options.commitMarkers } : {}),
    keepIntact: options.keepIntact,
    ...(options.output ? { output: options.output } : {}),
    ...(options.checkpointUri ? { checkpointUri: options.checkpointUri } : {}),
    keep: options.keep,
    ...(options.s3Endpoint ? { s3Endpoint: options.s3Endpoint } : {}),
  });
}

/** Bad options: say which and why, leave the failure file where the platform looks, start nothing. */
async function refuse(err: ConfigError, args: readonly string[]): Promise<number> {
  process.stderr.write(`trainguard: ${err.message}\nRun "trainguard help" for the options.\n`);
  // The ml-root as the real parser reads it (`--ml-root=a=b`, TRAINGUARD_ML_ROOT, never a flag after the command).
  const mlRootOption = parseRunArgs(args, process.env, "lenient").options.mlRoot;
  try {
    await recordRefusedStart(resolveMlRoot(mlRootOption, process.env), `trainguard: invalid options: ${err.message}\nThe algorithm was not started.`, args);
  } catch {
    // No writable ml-root (a developer machine without /opt/ml): stderr already says it all.
  }
  return EXIT_CONFIG_ERROR;
}

/** Only into an ml-root that exists: a mistyped verb on a developer machine must not create /opt/ml. */
async function recordUnknownVerb(verb: string): Promise<void> {
  const mlRoot = resolveMlRoot(process.env.TRAINGUARD_ML_ROOT || undefined, process.env);
  try {
    if (!statSync(mlRoot).isDirectory()) return;
    await recordRefusedStart(mlRoot, `trainguard: unknown command ${JSON.stringify(verb)}; the algorithm was not started. Known commands: run, train, verify, s3, demo, help, version.`, [verb]);
  } catch {
    // No usable ml-root: stderr already says it all.
  }
}

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}
