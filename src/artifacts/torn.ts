import { open, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { errorMessage } from "../contract/index.js";
import { forEachLimited } from "./limit.js";
import type { PackEntry, SkippedEntry } from "./types.js";

/**
 * What a file's own structure says about whether its writer finished it. Only formats whose end
 * can be checked from a few bytes are judged; everything else is "unknown", never "intact".
 */
export type Integrity = { readonly kind: "intact" } | { readonly kind: "torn"; readonly reason: string } | { readonly kind: "unknown" };

/** torch.save (zip since 1.6), Lightning and Hugging Face .bin files are ZIPs; so are .npz and .keras. */
const ZIP_LIKE = new Set([".pt", ".pth", ".bin", ".ckpt"]);
const ZIP_ONLY = new Set([".npz", ".keras", ".zip"]);
const PICKLE = new Set([".pkl", ".pickle"]);

const EOCD_SIGNATURE = 0x06054b50;
const EOCD_BYTES = 22;
/** The end record may be followed by a comment of at most 65,535 bytes. */
const ZIP_TAIL_BYTES = EOCD_BYTES + 0xffff;
const ZIP64_MARKER = 0xffffffff;
/** safetensors refuses headers above 100 MB itself. */
const SAFETENSORS_MAX_HEADER = 100_000_000;
const PICKLE_STOP = 0x2e;

/** Random access to a file's bytes, or to the parts of them that were kept (undefined: not available). */
export interface ByteSource {
  readonly size: number;
  read(position: number, length: number): Promise<Buffer | undefined>;
}

/** Whether a format is judged from the name alone: the caller need not read anything otherwise. */
export function judgedFormat(name: string): boolean {
  const ext = path.extname(name).toLowerCase();
  return ZIP_LIKE.has(ext) || ZIP_ONLY.has(ext) || PICKLE.has(ext) || ext === ".safetensors";
}

/** Whether the format of `file` (told by its name, confirmed by its first bytes) is complete. */
export async function checkIntegrity(file: string): Promise<Integrity> {
  if (!judgedFormat(file)) return { kind: "unknown" };
  let fh: FileHandle;
  try {
    fh = await open(file, "r");
  } catch (err) {
    return { kind: "torn", reason: `cannot be read: ${errorMessage(err)}` };
  }
  try {
    const size = (await fh.stat()).size;
    return await checkBytes(file, { size, read: (position, length) => readAt(fh, position, length) });
  } finally {
    await fh.close();
  }
}

/** The same judgement over a ByteSource (verify keeps a file's first and last bytes while it streams). */
export async function checkBytes(name: string, src: ByteSource): Promise<Integrity> {
  const ext = path.extname(name).toLowerCase();
  if (!judgedFormat(name)) return { kind: "unknown" };
  const { size } = src;
  // .bin is also a generic extension: only its ZIP (Hugging Face's pytorch_model.bin) is judged.
  if (size === 0) return ext === ".bin" ? { kind: "unknown" } : { kind: "torn", reason: "empty (0 bytes): its writer had only just truncated it" };
  const head = await src.read(0, Math.min(8, size));
  if (!head) return { kind: "unknown" };
  if (ext === ".safetensors") return await checkSafetensors(src, head);
  if (PICKLE.has(ext)) return await checkPickle(src);
  const isZip = head.length >= 4 && head.readUInt32LE(0) === 0x04034b50;
  // .pt/.bin written with the legacy (pre-zip) serializer: not judged.
  if (!isZip && ZIP_LIKE.has(ext)) return { kind: "unknown" };
  if (!isZip) return { kind: "torn", reason: "does not start with a ZIP local file header" };
  return await checkZip(src);
}

/** Bytes a ByteSource must keep from the end of a file for checkBytes. */
export const TAIL_BYTES_NEEDED = ZIP_TAIL_BYTES;

async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buf, 0, length, position);
  return buf.subarray(0, bytesRead);
}

/** A ZIP is written front to back and ends with its central directory and end record: no end record, no whole file. */
async function checkZip(src: ByteSource): Promise<Integrity> {
  const { size } = src;
  const tailStart = Math.max(0, size - ZIP_TAIL_BYTES);
  const tail = await src.read(tailStart, size - tailStart);
  if (!tail) return { kind: "unknown" };
  for (let i = tail.length - EOCD_BYTES; i >= 0; i--) {
    if (tail.readUInt32LE(i) !== EOCD_SIGNATURE) continue;
    const commentLength = tail.readUInt16LE(i + 20);
    if (i + EOCD_BYTES + commentLength !== tail.length) continue;
    const cdSize = tail.readUInt32LE(i + 12);
    const cdOffset = tail.readUInt32LE(i + 16);
    const eocdAt = tailStart + i;
    if (cdOffset !== ZIP64_MARKER && cdSize !== ZIP64_MARKER && cdOffset + cdSize > eocdAt) {
      return { kind: "torn", reason: `ZIP end record points past itself (central directory ${cdOffset}+${cdSize}, end record at ${eocdAt})` };
    }
    return { kind: "intact" };
  }
  return { kind: "torn", reason: `no ZIP end-of-central-directory record in its last bytes (${size} bytes): the write was cut off` };
}

/** safetensors: 8-byte header length, a JSON header, then exactly the tensor bytes the header lists. */
async function checkSafetensors(src: ByteSource, head: Buffer): Promise<Integrity> {
  const { size } = src;
  if (head.length < 8) return { kind: "torn", reason: `${size} bytes: shorter than the safetensors header length` };
  const headerLength = Number(head.readBigUInt64LE(0));
  if (headerLength > SAFETENSORS_MAX_HEADER || 8 + headerLength > size) {
    return { kind: "torn", reason: `safetensors header of ${headerLength} bytes does not fit in ${size} bytes` };
  }
  const text = await src.read(8, headerLength);
  if (!text) return { kind: "unknown" };
  let header: Record<string, { data_offsets?: [number, number] }>;
  try {
    header = JSON.parse(text.toString("utf8")) as typeof header;
  } catch (err) {
    return { kind: "torn", reason: `safetensors header is not JSON: ${errorMessage(err)}` };
  }
  let end = 0;
  for (const [name, info] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const last = info?.data_offsets?.[1];
    if (typeof last === "number" && last > end) end = last;
  }
  const expected = 8 + headerLength + end;
  if (expected !== size) return { kind: "torn", reason: `safetensors header describes ${expected} bytes, the file has ${size}` };
  return { kind: "intact" };
}

/** Every pickle ends with the STOP opcode. */
async function checkPickle(src: ByteSource): Promise<Integrity> {
  const last = await src.read(src.size - 1, 1);
  if (!last) return { kind: "unknown" };
  if (last[0] !== PICKLE_STOP) return { kind: "torn", reason: "pickle does not end with its STOP opcode: the write was cut off" };
  return { kind: "intact" };
}

/** The files among `entries` whose format shows the write was cut off, in name order. */
export async function tornFiles(entries: readonly PackEntry[]): Promise<SkippedEntry[]> {
  const torn: SkippedEntry[] = [];
  await forEachLimited(
    entries.filter((e) => e.type === "file"),
    8,
    async (e) => {
      const integrity = await checkIntegrity(e.abs);
      if (integrity.kind === "torn") torn.push({ path: e.path, reason: integrity.reason });
    },
  );
  return torn.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

const HEAD_BYTES_KEPT = 1 << 20;

/** Keeps a stream's first and last bytes, enough for checkBytes, without holding the rest. */
export class EdgeBytes implements ByteSource {
  private head: Buffer[] = [];
  private headLength = 0;
  private tail: Buffer[] = [];
  private tailLength = 0;
  size = 0;

  push(chunk: Buffer): void {
    this.size += chunk.length;
    if (this.headLength < HEAD_BYTES_KEPT) {
      const part = chunk.subarray(0, HEAD_BYTES_KEPT - this.headLength);
      this.head.push(part);
      this.headLength += part.length;
    }
    this.tail.push(chunk);
    this.tailLength += chunk.length;
    while (this.tail.length > 1 && this.tailLength - (this.tail[0] as Buffer).length >= TAIL_BYTES_NEEDED) {
      this.tailLength -= (this.tail.shift() as Buffer).length;
    }
  }

  async read(position: number, length: number): Promise<Buffer | undefined> {
    if (position + length <= this.headLength) return Buffer.concat(this.head).subarray(position, position + length);
    const tailStart = this.size - this.tailLength;
    if (position >= tailStart) return Buffer.concat(this.tail).subarray(position - tailStart, position - tailStart + length);
    return undefined;
  }
}
