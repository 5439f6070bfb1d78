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
  /**
   * The file's bytes as a stream, which can also read straight into a consumer's buffer (`fill`:
   * no chunk allocated and copied, which the upload's parts use). One of the two ways, not both.
   */
  readonly stream: Readable & { fill(into: Uint8Array, offset: number, length: number): Promise<number> };
  private fh: FileHandle | undefined;
  private written = 0;
  private position = 0;
  private state: "writing" | "ended" | Error = "writing";
  private wake: (() => void) | undefined;
  private pumping = false;

  /** `afterCommit`: read nothing until the file is complete and committed (then read it at once). */
  constructor(private readonly opts: { readonly afterCommit?: boolean } = {}) {
    const stream = new Readable({
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
    this.stream = Object.assign(stream, { fill: (into: Uint8Array, offset: number, length: number) => this.fill(into, offset, length) });
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

  /** Up to `length` bytes read into `into` at `offset` once written; 0 at the end of the committed file. */
  private async fill(into: Uint8Array, offset: number, length: number): Promise<number> {
    for (;;) {
      const fh = this.available();
      if (fh && this.position < this.written && (this.state === "ended" || !this.opts.afterCommit)) {
        const want = Math.min(length, this.written - this.position);
        const { bytesRead } = await fh.read(into, offset, want, this.position);
        if (bytesRead === 0) throw new Error(`the archive ended at ${this.position} bytes although ${this.written} were written`);
        this.position += bytesRead;
        return bytesRead;
      }
      if (fh && this.state === "ended") return 0;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  /** The open file, once there is one; throws once the stream is destroyed or the write failed. */
  private available(): FileHandle | undefined {
    if (this.stream.destroyed) throw new Error("the archive's reader was closed");
    if (this.state instanceof Error) {
      const err = new Error(`the archive being read was not completed: ${this.state.message}`);
      this.stream.destroy(err);
      throw err;
    }
    return this.fh;
  }

  /** Reads on while the consumer wants more; one loop at a time, woken by the writer. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (;;) {
        const buf = Buffer.allocUnsafe(CHUNK);
        const n = await this.fill(buf, 0, CHUNK);
        if (n === 0) {
          this.stream.push(null);
          return;
        }
        if (!this.stream.push(n === CHUNK ? buf : buf.subarray(0, n))) return;
      }
    } catch (err) {
      this.stream.destroy(err instanceof Error ? err : new Error(String(err)));
    } finally {
      this.pumping = false;
    }
  }
}
