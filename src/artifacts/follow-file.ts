import { open, type FileHandle } from "node:fs/promises";
import { Readable } from "node:stream";

/** What stageFile tells about the file it writes, for a reader that follows it. */
export interface StageObserver {
  /** The temporary file exists and is empty; called before the first write. Never throws. */
  opened(tmpPath: string): Promise<void>;
  /** `total` bytes are written (in the page cache, not yet fsynced). */
  wrote(total: number): void;
  /** The write failed or was aborted: the file will be removed. */
  failed(err: Error): void;
}

const CHUNK = 1 << 20;

/**
 * A reader of a file while stageFile writes it: the archive's upload reads the archive file, not
 * a copy of the stream, so the local write never waits for the upload (the two share nothing but
 * the page cache) and memory stays one chunk. It reads only what the writer reported written,
 * waits when it has caught up, ends only once its owner says the file is complete and committed
 * (complete()), and fails when the write or the commit failed: its consumer never sees a partial
 * archive end normally, and never ends before the local archive exists. It opens the
 * file before the first byte is written, so the commit's rename does not take it away.
 */
export class FileFollower implements StageObserver {
  readonly stream: Readable;
  private fh: FileHandle | undefined;
  private written = 0;
  private position = 0;
  private state: "writing" | "ended" | Error = "writing";
  private wake: (() => void) | undefined;
  private pumping = false;

  constructor() {
    this.stream = new Readable({
      highWaterMark: CHUNK,
      read: () => void this.pump(),
      destroy: (err, callback) => {
        this.wakeUp();
        const fh = this.fh;
        this.fh = undefined;
        if (!fh) return callback(err);
        fh.close().then(
          () => callback(err),
          () => callback(err),
        );
      },
    });
  }

  async opened(tmpPath: string): Promise<void> {
    try {
      const fh = await open(tmpPath, "r");
      if (this.stream.destroyed) await fh.close();
      else this.fh = fh;
    } catch (err) {
      this.stream.destroy(new Error(`cannot read ${tmpPath} while it is written: ${err instanceof Error ? err.message : String(err)}`));
    }
    this.wakeUp();
  }

  wrote(total: number): void {
    this.written = total;
    this.wakeUp();
  }

  /** The file is complete at `total` bytes and committed: the stream may end. */
  complete(total: number): void {
    this.written = total;
    this.state = "ended";
    this.wakeUp();
  }

  failed(err: Error): void {
    if (this.state === "writing") this.state = err;
    this.wakeUp();
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Reads on while the consumer wants more; one loop at a time, woken by the writer. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (;;) {
        if (this.stream.destroyed) return;
        if (this.state instanceof Error) {
          this.stream.destroy(new Error(`the archive being read was not completed: ${this.state.message}`));
          return;
        }
        const fh = this.fh;
        if (fh && this.position < this.written) {
          const want = Math.min(CHUNK, this.written - this.position);
          const buf = Buffer.allocUnsafe(want);
          const { bytesRead } = await fh.read(buf, 0, want, this.position);
          if (bytesRead === 0) throw new Error(`the archive ended at ${this.position} bytes although ${this.written} were written`);
          this.position += bytesRead;
          if (!this.stream.push(bytesRead === want ? buf : buf.subarray(0, bytesRead))) return;
          continue;
        }
        if (fh && this.state === "ended") {
          this.stream.push(null);
          return;
        }
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
      }
    } catch (err) {
      this.stream.destroy(err instanceof Error ? err : new Error(String(err)));
    } finally {
      this.pumping = false;
    }
  }
}
