import { mkdir } from "node:fs/promises";
import path from "node:path";
import { ConfigError, EXIT_CONFIG_ERROR } from "../contract/index.js";
import { createLogger } from "../log/index.js";
import { parsePort, parseServeFlags } from "./serve-flags.js";
import { EMBEDDED_S3_CREDENTIALS, startEmbeddedS3 } from "../local/index.js";

export const S3_USAGE = `trainguard s3 serve [--port P] [--dir D] [--bucket NAME]...
  An S3-compatible server (s3rver) on 127.0.0.1 for local jobs and tests. Objects are kept in D
  (default ./.trainguard-s3); buckets are created at start. Stops on SIGINT or SIGTERM.`;

/** `trainguard s3 serve`: runs until a stop signal. */
export async function runS3(args: readonly string[], waitForStop: () => Promise<unknown>): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== "serve") {
    process.stderr.write(`trainguard: unknown s3 command ${JSON.stringify(sub ?? "")}\n\n${S3_USAGE}\n`);
    return EXIT_CONFIG_ERROR;
  }
  let port = 9000;
  let dir = path.resolve(".trainguard-s3");
  const buckets: string[] = [];
  try {
    parseServeFlags(rest, "s3 serve", {
      "--port": (v) => (port = parsePort(v)),
      "--dir": (v) => (dir = path.resolve(v)),
      "--bucket": (v) => buckets.push(v),
    });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`trainguard: ${err.message}\n\n${S3_USAGE}\n`);
    return EXIT_CONFIG_ERROR;
  }
  const log = await createLogger();
  await mkdir(dir, { recursive: true });
  const server = await startEmbeddedS3({ dir, port, buckets, log });
  log.info({ event: "s3.serve", endpoint: server.endpoint, dir, buckets }, `S3 on ${server.endpoint}`);
  process.stdout.write(
    `S3 endpoint ${server.endpoint}, objects in ${dir}\n` +
      `  export AWS_ENDPOINT_URL_S3=${server.endpoint} AWS_ACCESS_KEY_ID=${EMBEDDED_S3_CREDENTIALS.accessKeyId} AWS_SECRET_ACCESS_KEY=${EMBEDDED_S3_CREDENTIALS.secretAccessKey} AWS_REGION=us-east-1\n`,
  );
  await waitForStop();
  await server.close();
  log.info({ event: "s3.stopped" }, "S3 server stopped");
  return 0;
}
