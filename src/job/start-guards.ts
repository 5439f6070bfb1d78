import { mkdirSync, rmSync, statSync } from "node:fs";
import { mkdir, stat } from "node:fs/promises";
import path from "node:path";
import { ConfigError, errorMessage, USER_FILE_TIME_LIMIT_MS, withinTimeLimit, type MlPaths } from "../contract/index.js";
import type { Logger } from "../log/index.js";
import { rehearseStopRequest } from "./stop-request.js";

/**
 * The trainguard dir (status.json, stop-request.json) must exist before anything else: an ml-root
 * or output dir that is a regular file, or cannot be written, is refused here with the path named
 * instead of ending PID 1 with a stack trace. Synchronous: nothing else runs yet.
 */
export function prepareTrainguardDir(paths: MlPaths, mlRootSource: string, graceSeconds: number): ConfigError | undefined {
  try {
    mkdirSync(paths.trainguardDir, { recursive: true });
    // A stop file left by an earlier run would tell a polling algorithm to stop at once.
    rmSync(paths.stopRequestFile, { force: true });
    rehearseStopRequest(paths.stopRequestFile, graceSeconds);
    return undefined;
  } catch (err) {
    const file = firstRegularFileSync(paths.trainguardDir);
    if (file === paths.root) return new ConfigError(`${mlRootSource} ${paths.root}`, undefined, "is a regular file, not a directory");
    const why = file === undefined ? errorMessage(err) : `${file} is a regular file, not a directory`;
    return new ConfigError(`${mlRootSource} ${paths.root}`, undefined, `cannot hold trainguard's status files in ${paths.trainguardDir}: ${why}`);
  }
}

/** A directory the job needs, and how the user named it (for the error). */
export interface JobDir {
  readonly dir: string;
  readonly source: string;
}

/**
 * Creates the checkpoint, model and output-data dirs, each bounded in time (a hung mount), each
 * failure a ConfigError naming the option or file field that chose the directory.
 */
export async function prepareJobDirs(dirs: readonly JobDir[], timeLimitMs = USER_FILE_TIME_LIMIT_MS): Promise<void> {
  for (const { dir, source } of dirs) {
    await withinTimeLimit(
      mkdir(dir, { recursive: true }).catch(async (err: NodeJS.ErrnoException) => {
        const fileInTheWay = err.code === "EEXIST" || err.code === "ENOTDIR" ? await firstRegularFile(dir) : undefined;
        const why = fileInTheWay ? `${fileInTheWay} is a regular file, not a directory` : err.message;
        throw new ConfigError(source, undefined, `cannot be used as a directory (${dir}): ${why}`);
      }),
      timeLimitMs,
      () => new ConfigError(source, undefined, `${dir} could not be created within ${timeLimitMs / 1000} s (is it on a network mount that does not answer?)`),
    );
  }
}

function firstRegularFileSync(dir: string): string | undefined {
  for (let current = dir; ; current = path.dirname(current)) {
    let isFile = false;
    try {
      isFile = statSync(current).isFile();
    } catch {
      // ENOENT or ENOTDIR: the file in the way is further up
    }
    if (isFile) return current;
    if (path.dirname(current) === current) return undefined;
  }
}

async function firstRegularFile(dir: string): Promise<string | undefined> {
  for (let current = dir; ; current = path.dirname(current)) {
    const info = await stat(current).catch(() => undefined);
    if (info?.isFile()) return current;
    if (path.dirname(current) === current) return undefined;
  }
}

/** Logs status.json write failures once per distinct cause, not once per change. */
export function statusWriteErrorLogger(log: Logger): (err: unknown) => void {
  let last = "";
  return (err) => {
    const code = (err as NodeJS.ErrnoException).code ?? errorMessage(err);
    if (code === last) return;
    last = code;
    log.error({ event: "status.write-failed", code, err: errorMessage(err) }, "could not write status.json; the job goes on and the next change retries");
  };
}
