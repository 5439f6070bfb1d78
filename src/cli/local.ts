import path from "node:path";
import { ConfigError, EXIT_CONFIG_ERROR } from "../contract/index.js";
import { createLogger } from "../log/index.js";
import { parseEndpoint, parseGrace } from "../options/index.js";
import { LOGS_USAGE, runLocalLogs } from "./local-logs.js";
import { parsePort, parseServeFlags } from "./serve-flags.js";
import { DEFAULT_BUCKET, DEFAULT_LOG_MAX_BYTES, DEFAULT_STOP_TIMEOUT_SECONDS, startLocalPlatform } from "../local/index.js";

export const LOCAL_USAGE = `trainguard local serve [--port P] [--data DIR] [--s3-endpoint URL] [--bucket NAME]... [--stop-timeout S] [--log-max-bytes B]
  The SageMaker training API (CreateTrainingJob, DescribeTrainingJob, ListTrainingJobs,
  StopTrainingJob) on 127.0.0.1:P (default 0: a free port), for the AWS CLI, boto3 and the AWS SDKs.
  Jobs run TrainingImage file:///abs/executable under trainguard, and are kept in DIR (default
  ./.trainguard-local; a new serve on the same DIR follows running jobs again). Without
  --s3-endpoint it starts the embedded S3 with the buckets named (default ${DEFAULT_BUCKET}).
  --stop-timeout: seconds from SIGTERM to SIGKILL on stop (default ${DEFAULT_STOP_TIMEOUT_SECONDS}).
  --log-max-bytes: each host's log (DIR/jobs/NAME/algo-K.log) is rotated to .1 past this size
  (default ${DEFAULT_LOG_MAX_BYTES}; at most twice that is kept per host).
  Prints the client environment as one "export ..." line on stdout, then "# console: URL": the
  console's page on the same port, with this start's token (Stop needs it); stops on SIGINT or SIGTERM.`;

/** `trainguard local serve`: runs until a stop signal; the jobs it started run on. */
export async function runLocal(args: readonly string[], waitForStop: () => Promise<unknown>): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === "logs") return runLocalLogs(rest);
  if (sub !== "serve") {
    process.stderr.write(`trainguard: unknown local command ${JSON.stringify(sub ?? "")}\n\n${LOCAL_USAGE}\n\n${LOGS_USAGE}\n`);
    return EXIT_CONFIG_ERROR;
  }
  let port = 0;
  let dataDir = path.resolve(".trainguard-local");
  let s3Endpoint: string | undefined;
  let stopTimeoutSeconds = DEFAULT_STOP_TIMEOUT_SECONDS;
  let logMaxBytes = DEFAULT_LOG_MAX_BYTES;
  const buckets: string[] = [];
  try {
    parseServeFlags(rest, "local serve", {
      "--port": (v) => (port = parsePort(v)),
      "--data": (v) => (dataDir = path.resolve(v)),
      // The jobs get the endpoint as their --s3-endpoint and the timeout as their --grace: the same checks.
      "--s3-endpoint": (v) => (s3Endpoint = parseEndpoint(v, "--s3-endpoint")),
      "--bucket": (v) => buckets.push(v),
      "--log-max-bytes": (v) => {
        logMaxBytes = Number(v);
        if (!Number.isInteger(logMaxBytes) || logMaxBytes < 4096) throw new ConfigError("--log-max-bytes", undefined, `must be a whole number of bytes, at least 4096, got ${JSON.stringify(v)}`);
      },
      "--stop-timeout": (v) => (stopTimeoutSeconds = parseGrace(v, "--stop-timeout")),
    });
    if (s3Endpoint !== undefined && buckets.length > 0) throw new ConfigError("--bucket", undefined, "creates buckets in the embedded S3, which --s3-endpoint replaces");
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`trainguard: ${err.message}\n\n${LOCAL_USAGE}\n`);
    return EXIT_CONFIG_ERROR;
  }
  const log = await createLogger();
  const platform = await startLocalPlatform({
    dataDir,
    port,
    stopTimeoutSeconds,
    logMaxBytes,
    ...(s3Endpoint !== undefined ? { s3Endpoint } : buckets.length > 0 ? { buckets } : {}),
    ...(s3Endpoint !== undefined && process.env.AWS_ACCESS_KEY_ID && process.env.AWS_SECRET_ACCESS_KEY
      ? { credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY } }
      : {}),
    log,
  });
  log.info({ event: "local.serve", endpoint: platform.endpoint, s3: platform.s3Endpoint, dataDir, isolation: platform.isolation.kind }, `SageMaker API on ${platform.endpoint}`);
  process.stdout.write(`${platform.exportLine}\n`);
  process.stdout.write(`# console: ${platform.consoleUrl}\n`);
  await waitForStop();
  await platform.close();
  log.info({ event: "local.stopped" }, "trainguard local stopped; running jobs go on");
  return 0;
}
