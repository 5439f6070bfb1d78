import { constants } from "node:fs";
import { copyFile, lstat, mkdir, rename, rm, statfs } from "node:fs/promises";
import path from "node:path";
import type { IntactCopy } from "../artifacts/index.js";
import type { Logger } from "../log/index.js";

import type { IntactBudget } from "../options/index.js";
import { errorMessage } from "../contract/index.js";

/**
 * Keeps the last complete version of each top-level file of a flat checkpoint dir. `torch.save`
 * over model.pt destroys the previous version the moment it reopens the file, so a writer killed
 * mid-save would otherwise leave nothing whole. After every finished write the file is copied
 * aside in the background (one copy at a time, a reflink where the filesystem has them), and the
 * copy is kept only if the file did not change while it was read and its format checks whole.
 */
export class IntactCopies {
  private readonly copies = new Map<string, IntactCopy>();
  /** Names waiting for a copy, with the generation their finished write left. */
  private readonly pending = new Map<string, number>();
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  private warnedBudget = false;

  constructor(
    private readonly checkpointDir: string,
    private readonly copiesDir: string,
    private readonly budget: Exclude<IntactBudget, "off">,
    private readonly generation: (name: string) => number,
    private readonly log: Logger,
  ) {}

  /** Removes copies left by an earlier run: they belong to files this run may never write. */
  async reset(): Promise<void> {
    await rm(this.copiesDir, { recursive: true, force: true });
    await mkdir(this.copiesDir, { recursive: true });
  }

  /** A write of `name` finished, leaving it at `generation`: copy that version when the copies before it are done. */
  finished(name: string, generation: number): void {
    if (this.stopped) return;
    const queued = this.pending.has(name);
    this.pending.set(name, generation);
    if (queued) return;
    this.running = this.running.then(() => {
      const wanted = this.pending.get(name) as number;
      this.pending.delete(name);
      return this.keep(name, wanted).catch((err: unknown) => {
        this.log.warn({ event: "intact.error", path: name, err: errorMessage(err) }, "could not keep an intact copy");
      });
    });
  }

  /** No more copies (packaging is about to read the disk); the ones made stay usable. */
  stop(): ReadonlyMap<string, IntactCopy> {
    this.stopped = true;
    return this.copies;
  }

  bytes(): number {
    let total = 0;
    for (const c of this.copies.values()) total += c.size;
    return total;
  }

  private async keep(name: string, before: number): Promise<void> {
    // Rewritten since that write finished: the version to keep is already gone.
    if (this.stopped || this.generation(name) !== before) return;
    const src = path.join(this.checkpointDir, name);
    const st = await lstat(src);
    if (!st.isFile()) return;
    if (!(await this.fits(name, st.size))) return;
    // artifacts/ is loaded on first use, not at start-up.
    const { checkIntegrity } = await import("../artifacts/index.js");
    if ((await checkIntegrity(src)).kind === "torn") return;
    const dest = path.join(this.copiesDir, name);
    const tmp = path.join(this.copiesDir, `.tmp-${name}`);
    const started = Date.now();
    await copyFile(src, tmp, constants.COPYFILE_FICLONE);
    const after = await lstat(src).catch(() => undefined);
    if (this.stopped || this.generation(name) !== before || !after || after.size !== st.size || after.mtimeMs !== st.mtimeMs) {
      // Rewritten while it was copied: the copy may mix two versions. The previous copy stays.
      await rm(tmp, { force: true });
      return;
    }
    await rename(tmp, dest);
    this.copies.set(name, { abs: dest, size: st.size, mtimeMs: st.mtimeMs, mode: st.mode & 0o7777 });
    this.log.debug({ event: "intact.kept", path: name, bytes: st.size, ms: Date.now() - started }, "kept an intact copy");
  }

  private async fits(name: string, size: number): Promise<boolean> {
    let others = 0;
    for (const [n, c] of this.copies) if (n !== name) others += c.size;
    let limit: number;
    if (this.budget === "auto") {
      const fs = await statfs(this.copiesDir);
      // Free space after this copy replaces the previous one, shared half and half with everything else.
      limit = ((fs.bavail * fs.bsize + (this.copies.get(name)?.size ?? 0)) / 2) + others;
    } else limit = this.budget;
    if (others + size <= limit) return true;
    if (!this.warnedBudget) {
      this.warnedBudget = true;
      this.log.warn({ event: "intact.budget", path: name, bytes: size, budget: Math.round(limit) }, "no intact copy kept: over the disk budget (--keep-intact)");
    }
    return false;
  }
}
