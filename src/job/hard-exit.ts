import { loadLibc } from "./libc.js";

type ExitFn = (code: number) => void;

/**
 * libc's `_exit(2)`, loaded on first use (koffi costs tens of milliseconds at start-up). `require`
 * reads and dlopens synchronously, on this thread: unlike `import()`, it needs no threadpool
 * thread, which at exit time may all be stuck.
 */
function loadLibcExit(): ExitFn | undefined {
  if (process.platform !== "linux") return undefined;
  try {
    return loadLibc().func("void _exit(int)") as ExitFn;
  } catch {
    return undefined;
  }
}

/**
 * Ends the process now with `code`, whatever the threadpool is doing. `process.exit()` first joins
 * libuv's threadpool, so one thread blocked in open() or read() on a FIFO or a hung NFS/EFS/FUSE
 * mount keeps it alive for ever; a PID 1 cannot SIGKILL itself either. `_exit` runs no exit
 * handlers: trainguard's logs and status writes on this path are synchronous, so nothing is lost.
 */
export function hardExit(code: number): never {
  const libcExit = loadLibcExit();
  if (libcExit) libcExit(code);
  process.exit(code);
}
