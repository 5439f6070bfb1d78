import path from "node:path";
import { EXIT_CONFIG_ERROR } from "../contract/index.js";
import { followJob, jobRecords, readJobRecord } from "../local/index.js";

export const LOGS_USAGE = `trainguard local logs NAME [--data DIR] [--follow]
  The output of every host of job NAME, one line each: "<time> <host> <stdout|stderr>| <line>"
  ("+" instead of "|": the line goes on in the next record of that host). Hosts' lines are merged
  by time, each host's in its own order. --follow prints new lines as they come until the job ends.`;

/** `trainguard local logs`: read from the data dir directly, so it works with or without `serve` running. */
export async function runLocalLogs(args: readonly string[]): Promise<number> {
  let name: string | undefined;
  let dataDir = path.resolve(".trainguard-local");
  let follow = false;
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] as string;
    if (arg === "--follow" || arg === "-f") follow = true;
    else if (arg === "--data" && args[i + 1] !== undefined) dataDir = path.resolve(args[(i += 1)] as string);
    else if (!arg.startsWith("-") && name === undefined) name = arg;
    else return usage(`unexpected argument ${JSON.stringify(arg)}`);
  }
  if (name === undefined) return usage("NAME is missing");
  const job = await readJobRecord(dataDir, name);
  if (job === undefined) return usage(`no job ${JSON.stringify(name)} in ${dataDir}`);
  const write = (b: Buffer) => void process.stdout.write(b);
  if (follow) await followJob(dataDir, name, write);
  else for (const rec of await jobRecords(dataDir, job)) write(rec);
  return 0;
}

function usage(problem: string): number {
  process.stderr.write(`trainguard: local logs: ${problem}\n\n${LOGS_USAGE}\n`);
  return EXIT_CONFIG_ERROR;
}
