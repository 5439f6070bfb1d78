import { createRequire } from "node:module";

type Koffi = typeof import("koffi");
type Library = ReturnType<Koffi["load"]>;

let libc: Library | undefined;

/**
 * libc through koffi (FFI: `_exit`, `waitpid`, inotify), loaded once, synchronously. koffi's own
 * loader (its index.js) also loads its build tool, which requires https, crypto and zlib: about
 * half of koffi's cost at start-up, for nothing trainguard calls. Where the npm package ships the
 * prebuilt module trainguard runs on (linux x64, glibc), that module is required directly; its
 * exports are the functions the loader wraps. Anywhere else, or if it does not load (musl), koffi's
 * loader finds the right one.
 */
export function loadLibc(): Library {
  if (libc) return libc;
  const require = createRequire(import.meta.url);
  let koffi: Koffi | undefined;
  if (process.platform === "linux" && process.arch === "x64") {
    try {
      koffi = require("koffi/build/koffi/linux_x64/koffi.node") as Koffi;
    } catch {
      // koffi's loader below
    }
  }
  koffi ??= require("koffi") as Koffi;
  libc = koffi.load("libc.so.6");
  return libc;
}
