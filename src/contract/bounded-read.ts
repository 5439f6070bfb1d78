import { constants } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { ConfigError, errorMessage } from "./errors.js";

/** A config file that takes longer than this to open and read is on a mount that does not answer. */
export const USER_FILE_TIME_LIMIT_MS = 10_000;
/** SageMaker's config files are kilobytes; anything this large is not one of them. */
export const USER_FILE_MAX_BYTES = 64 * 1024 * 1024;

/**
 * Reads a file the user controls, bounded in time: opened non-blocking (a FIFO would otherwise
 * block the open until a writer appears), refused unless it is a regular file, and given up with a
 * ConfigError when the open or read does not finish in time (a hung NFS/EFS/FUSE mount). A call
 * that never returns keeps one threadpool thread; trainguard exits through `_exit` for that reason.
 * Resolves undefined when the file does not exist.
 */
export async function readUserFile(file: string, timeLimitMs = USER_FILE_TIME_LIMIT_MS): Promise<Buffer | undefined> {
  let handle: FileHandle | undefined;
  const work = (async (): Promise<Buffer | undefined> => {
    try {
      handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return undefined;
      throw new ConfigError(file, undefined, `cannot be read: ${code === "ENOTDIR" ? "a parent of it is a regular file, not a directory" : errorMessage(err)}`);
    }
    const info = await handle.stat();
    if (!info.isFile()) throw new ConfigError(file, undefined, `must be a regular file, but it is ${fileKind(info)}`);
    if (info.size > USER_FILE_MAX_BYTES) throw new ConfigError(file, undefined, `is ${info.size} bytes; a configuration file may have at most ${USER_FILE_MAX_BYTES}`);
    return handle.readFile();
  })();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new ConfigError(file, undefined, `could not be read within ${timeLimitMs / 1000} s (is it on a network mount that does not answer?)`)),
      timeLimitMs,
    );
  });
  work.catch(() => undefined);
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
    // Closed only once the read is over: closing under a read still in flight would free its fd.
    void work.finally(() => handle?.close().catch(() => undefined)).catch(() => undefined);
  }
}

export function fileKind(info: { isDirectory(): boolean; isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean }): string {
  if (info.isDirectory()) return "a directory";
  if (info.isFIFO()) return "a FIFO (named pipe)";
  if (info.isSocket()) return "a socket";
  if (info.isCharacterDevice()) return "a character device";
  if (info.isBlockDevice()) return "a block device";
  return "not a regular file";
}

/**
 * Any promise bounded in time: `what` is what the ConfigError names. The work itself runs on
 * (a stuck filesystem call cannot be cancelled); only the waiting ends.
 */
export async function withinTimeLimit<T>(work: Promise<T>, timeLimitMs: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  work.catch(() => undefined);
  try {
    return await Promise.race([work, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(onTimeout()), timeLimitMs)))]);
  } finally {
    clearTimeout(timer);
  }
}
