/**
 * Recycles fixed-size buffers. Fresh 1 MiB allocations are mmapped and page-faulted on every
 * use, which measured as the main cost of packaging uncompressed data (770 MB/s against
 * 5.7 GB/s for reused buffers). Only code that knows no one else still holds a buffer may
 * release it; a buffer never released is simply collected.
 */
export class BufferPool {
  private readonly free: Buffer[] = [];
  private readonly mine = new WeakSet<Buffer>();

  constructor(
    readonly size: number,
    private readonly keep: number,
  ) {}

  acquire(): Buffer {
    const buf = this.free.pop() ?? Buffer.allocUnsafe(this.size);
    this.mine.add(buf);
    return buf;
  }

  /** Ignores buffers that did not come from this pool (tar headers, subarrays). */
  release(buf: Uint8Array): void {
    if (!Buffer.isBuffer(buf) || !this.mine.has(buf)) return;
    this.mine.delete(buf);
    if (this.free.length < this.keep) this.free.push(buf);
  }

  /**
   * Take back a buffer that was moved to another thread and back: the memory is the pool's, but
   * it returns as a new ArrayBuffer, so only its size can be checked.
   */
  adopt(memory: ArrayBuffer): void {
    if (memory.byteLength === this.size && this.free.length < this.keep) this.free.push(Buffer.from(memory));
  }
}
