import { EXIT_CONFIG_ERROR, mlPaths } from "../contract/index.js";
import { setAsideStaleFailureFile, writeFailureFile } from "./failure.js";
import { StatusFile } from "./status.js";

/**
 * Invalid options stop trainguard before a supervisor exists; the platform still reads the same
 * two files as for any other failure, so they are written here with the same rules.
 */
export async function recordRefusedStart(mlRoot: string, reason: string, command: readonly string[]): Promise<number> {
  const paths = mlPaths(mlRoot);
  // An earlier run's reason would otherwise stand in for this one (kept aside, as by a started job).
  await setAsideStaleFailureFile(paths.failureFile).catch(() => false);
  await writeFailureFile(paths.failureFile, reason);
  const status = new StatusFile(paths.statusFile, { jobName: null, command });
  await status.update({ failureReason: reason, endedAt: new Date().toISOString(), trainguardExitCode: EXIT_CONFIG_ERROR });
  await status.transition("Failed", "Failed", "invalid options: the algorithm was not started");
  await status.flush(true);
  return EXIT_CONFIG_ERROR;
}
