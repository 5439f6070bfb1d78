import { readdir } from "node:fs/promises";
import { pidAlive } from "./stat.js";

/**
 * Entries of `dir` that a process left behind and that process no longer runs (it was killed mid
 * write): `ownerOf` reads the pid a name carries. Names that carry none count as left over only
 * with `unknownIsLeftover`; our own pid only with `ownIsLeftover` (a fresh start that has not
 * written any yet). A missing `dir` has none.
 */
export async function leftByGoneProcesses(
  dir: string,
  ownerOf: (name: string) => number | undefined,
  opts: { readonly ownIsLeftover: boolean; readonly unknownIsLeftover: boolean },
): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.filter((name) => {
    const pid = ownerOf(name);
    if (pid === undefined) return opts.unknownIsLeftover;
    return pid === process.pid ? opts.ownIsLeftover : !pidAlive(pid);
  });
}
