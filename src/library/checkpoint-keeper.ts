import { latestCheckpoint, saveCheckpoint, type SavedCheckpoint } from "./checkpoints.js";

/** A save attempted after the stop path chose what to package. */
export class CheckpointsFrozen extends Error {
  override readonly name = "CheckpointsFrozen";
}

/**
 * The context's checkpoints: saves run one at a time (two saves of the same name must not race
 * on the rename), and once the stop path starts packaging without the training function
 * (in-process, checkpoint deadline passed) no new checkpoint is committed and none is pruned, so
 * the one being packaged cannot be rotated away under it.
 */
export class CheckpointKeeper {
  private chain: Promise<unknown> = Promise.resolve();
  private frozenBecause: string | undefined;

  constructor(
    readonly dir: string,
    private readonly keep: number,
    private readonly markers: readonly string[] | undefined,
    private readonly onSaved: (saved: SavedCheckpoint) => void = () => undefined,
  ) {}

  save(name: string, writer: (dir: string) => Promise<void>): Promise<SavedCheckpoint> {
    const run = async (): Promise<SavedCheckpoint> => {
      this.refuseIfFrozen(name);
      const saved = await saveCheckpoint(this.dir, name, writer, {
        keep: this.keep,
        beforeCommit: () => this.refuseIfFrozen(name),
        mayPrune: () => this.frozenBecause === undefined,
      });
      this.onSaved(saved);
      return saved;
    };
    const result = this.chain.then(run, run);
    this.chain = result.catch(() => undefined);
    return result;
  }

  latest(): Promise<SavedCheckpoint | null> {
    return latestCheckpoint(this.dir, this.markers);
  }

  get frozen(): boolean {
    return this.frozenBecause !== undefined;
  }

  freeze(reason: string): void {
    this.frozenBecause ??= reason;
  }

  private refuseIfFrozen(name: string): void {
    if (this.frozenBecause !== undefined) throw new CheckpointsFrozen(`checkpoint ${name} was not committed: ${this.frozenBecause}`);
  }
}
