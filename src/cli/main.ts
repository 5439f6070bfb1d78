import { readFileSync } from "node:fs";
import { ConfigError, EXIT_CONFIG_ERROR, resolveMlRoot } from "../contract/index.js";
import { createLogger } from "../log/index.js";
import { optionsHelp, parseRunArgs, parseTrainCommand, recordRefusedStart, supervise, type SignalInbox } from "../supervisor/index.js";

export const USAGE = `trainguard: a PID-1 entrypoint that makes a stopped training job still produce a valid model

Usage:
  trainguard run [options] [--] <command> [args...]   supervise <command> through SIGTERM and the stop budget
  trainguard train [options]                          SageMaker's verb: runs TRAINGUARD_COMMAND (JSON argv array)
  trainguard demo                                     run a bundled algorithm, stop it with SIGTERM, show the result
  trainguard verify <model.tar.gz|model.tar>            check every file against the archive's manifest (0 ok, 1 mismatch, 2 unreadable)
  trainguard s3 serve [--port P] [--dir D] [--bucket B] an S3-compatible server on 127.0.0.1 for local jobs
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
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return refuse(err, args);
  }
  const { options } = parsed;
  const log = await createLogger({ level: options.logLevel });
  return supervise({
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
  const mlRootArg = args.findIndex((a) => a === "--ml-root" || a.startsWith("--ml-root="));
  const mlRootOption = mlRootArg === -1 ? process.env.TRAINGUARD_ML_ROOT : args[mlRootArg]?.includes("=") ? args[mlRootArg]?.split("=")[1] : args[mlRootArg + 1];
  try {
    await recordRefusedStart(resolveMlRoot(mlRootOption, process.env), `trainguard: invalid options, the algorithm was not started.\n${err.message}`, args);
  } catch {
    // No writable ml-root (a developer machine without /opt/ml): stderr already says it all.
  }
  return EXIT_CONFIG_ERROR;
}

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}
