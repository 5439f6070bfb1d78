import { closeSync, fstatSync, openSync, renameSync, writeSync } from "node:fs";
import type { Readable } from "node:stream";

/** A host's log file is rotated once it would pass this: the file and one previous generation (`.1`) are kept. */
export const DEFAULT_LOG_MAX_BYTES = 8 * 1024 * 1024;
/** A line longer than this is written as several records, each but the last marked as a fragment. */
export const MAX_RECORD_BYTES = 64 * 1024;

/**
 * One record per line of the algorithm's output, as it arrives:
 *   `<ISO time> <host> <stdout|stderr>| <the line's bytes, unchanged>\n`
 * A line cut short (longer than MAX_RECORD_BYTES, or unfinished when the stream ended) is written
 * with `+` in place of `|`: its record's final newline is not the algorithm's. So the output is
 * the concatenation of the records' bytes, with the newline after a `+` record dropped.
 */
export class HostLogWriter {
  private fd: number;
  private size: number;

  constructor(
    private readonly file: string,
    private readonly host: string,
    private readonly maxBytes: number,
  ) {
    this.fd = openSync(file, "a", 0o644);
    this.size = fstatSync(this.fd).size;
  }

  /** Splits `stream` into records; resolves when it ended. */
  async follow(stream: Readable, name: "stdout" | "stderr"): Promise<void> {
    let pending: Buffer = Buffer.alloc(0);
    for await (const chunk of stream) {
      pending = pending.length === 0 ? (chunk as Buffer) : Buffer.concat([pending, chunk as Buffer]);
      for (;;) {
        const nl = pending.subarray(0, MAX_RECORD_BYTES + 1).indexOf(0x0a);
        if (nl !== -1) {
          this.record(name, pending.subarray(0, nl), "|");
          pending = pending.subarray(nl + 1);
        } else if (pending.length > MAX_RECORD_BYTES) {
          this.record(name, pending.subarray(0, MAX_RECORD_BYTES), "+");
          pending = pending.subarray(MAX_RECORD_BYTES);
        } else break;
      }
    }
    if (pending.length > 0) this.record(name, pending, "+");
  }

  private record(stream: string, bytes: Buffer, mark: "|" | "+"): void {
    const line = Buffer.concat([Buffer.from(`${new Date().toISOString()} ${this.host} ${stream}${mark} `), bytes, Buffer.from("\n")]);
    if (this.size > 0 && this.size + line.length > this.maxBytes) this.rotate();
    writeSync(this.fd, line);
    this.size += line.length;
  }

  private rotate(): void {
    closeSync(this.fd);
    renameSync(this.file, `${this.file}.1`);
    this.fd = openSync(this.file, "a", 0o644);
    this.size = 0;
  }

  close(): void {
    closeSync(this.fd);
  }
}
