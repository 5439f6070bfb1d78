import { Socket } from "node:net";
import { DEFAULT_LOG_MAX_BYTES, HostLogWriter } from "./host-log.js";

/**
 * The log writer of one host, run by the platform as its own detached process so that a job's
 * output is still recorded while `serve` restarts: the host's stdout arrives on fd 0, its stderr
 * on fd 3. Arguments: <log file> <host> [max bytes]. Ends when both have ended.
 */
const [file, host, max] = process.argv.slice(2);
if (file === undefined || host === undefined) {
  process.stderr.write("usage: host-log-main <log file> <host> [max bytes]\n");
  process.exit(2);
}
// It belongs to no terminal and no process group of the job: signals meant for them are not for it.
for (const signal of ["SIGINT", "SIGHUP", "SIGTERM", "SIGPIPE"] as const) process.on(signal, () => undefined);
const writer = new HostLogWriter(file, host, max === undefined ? DEFAULT_LOG_MAX_BYTES : Number(max));
const stdout = new Socket({ fd: 0, readable: true, writable: false });
const stderr = new Socket({ fd: 3, readable: true, writable: false });
Promise.all([writer.follow(stdout, "stdout"), writer.follow(stderr, "stderr")])
  .then(() => writer.close())
  .catch((err: unknown) => {
    process.exitCode = 1;
    process.stderr.write(`host-log: ${String(err)}\n`);
  });
