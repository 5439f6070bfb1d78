import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import type { Readable } from "node:stream";
import { selectCheckpoint, type PackableSelection } from "../../src/artifacts/index.js";
import { lstat, mkdir, mkdtemp, readdir, readlink, rm, symlink, utimes, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

export const run = promisify(execFile);
export const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

const created: string[] = [];

export async function tempDir(prefix = "tg-art-"): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  created.push(dir);
  return dir;
}

export async function removeTempDirs(): Promise<void> {
  while (created.length > 0) {
    const dir = created.pop() as string;
    await rm(dir, { recursive: true, force: true });
  }
}

export type Tree = Record<string, string | Buffer | { link: string } | { dir: true }>;

/** Write a tree; `mtime` (epoch s) on the commit marker decides which checkpoint is newest. */
export async function writeTree(root: string, tree: Tree): Promise<void> {
  await mkdir(root, { recursive: true });
  for (const [rel, content] of Object.entries(tree)) {
    const abs = path.join(root, rel);
    await mkdir(path.dirname(abs), { recursive: true });
    if (typeof content === "string" || Buffer.isBuffer(content)) await writeFile(abs, content);
    else if ("link" in content) await symlink(content.link, abs);
    else await mkdir(abs, { recursive: true });
  }
}

export async function commit(dir: string, atSeconds: number, marker = ".trainguard-commit"): Promise<void> {
  const file = path.join(dir, marker);
  await writeFile(file, "{}\n");
  await utimes(file, atSeconds, atSeconds);
}

const textBlocks = new Map<number, Buffer>();

function textBlock(seed: number): Buffer {
  const cached = textBlocks.get(seed);
  if (cached) return cached;
  const words = ["loss", "step", "epoch", "weight", "gradient", "tensor", "layer", "norm", "adam", "batch", "token", "model"];
  let s = seed;
  const rnd = (): number => (s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const parts: string[] = [];
  let n = 0;
  while (n < 1 << 20) {
    const line = `${Math.floor(rnd() * 1e6)} ${words[Math.floor(rnd() * words.length)]}=${rnd().toFixed(4)} ${words[Math.floor(rnd() * words.length)]}\n`;
    parts.push(line);
    n += line.length;
  }
  const block = Buffer.from(parts.join("")).subarray(0, 1 << 20);
  textBlocks.set(seed, block);
  return block;
}

/**
 * Text-like data that deflate shrinks to ~40%, deterministic. Built from a 1 MiB block: deflate
 * sees only 32 KiB back, so repeating it compresses (and costs) like fresh text.
 */
export function textData(bytes: number, seed = 1): Buffer {
  const block = textBlock(seed);
  const out = Buffer.allocUnsafe(bytes);
  for (let at = 0; at < bytes; at += block.length) block.copy(out, at, 0, Math.min(block.length, bytes - at));
  return out;
}

export function randomData(bytes: number): Buffer {
  return randomBytes(bytes);
}

export interface TreeDigest {
  [relPath: string]: string;
}

/** Every entry under root: files by sha256, links by target, directories as "dir". */
export async function digestTree(root: string, ignore: readonly string[] = []): Promise<TreeDigest> {
  const out: TreeDigest = {};
  async function walk(rel: string): Promise<void> {
    const names = await readdir(rel ? path.join(root, rel) : root);
    for (const name of names) {
      const r = rel ? `${rel}/${name}` : name;
      if (ignore.includes(r)) continue;
      const abs = path.join(root, r);
      const st = await lstat(abs);
      if (st.isSymbolicLink()) out[r] = `link:${await readlink(abs)}`;
      else if (st.isDirectory()) {
        out[r] = "dir";
        await walk(r);
      } else if (st.isFile()) out[r] = `sha256:${await sha256File(abs)}`;
      else out[r] = "special";
    }
  }
  await walk("");
  return out;
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** Python's tarfile in stream mode, as SageMaker containers read model.tar.gz. */
export async function extractWithPython(archive: string, dest: string, gz: boolean): Promise<void> {
  await mkdir(dest, { recursive: true });
  await run("python3", ["-c", `import sys, tarfile\nwith tarfile.open(sys.argv[1], "r|gz" if sys.argv[3] == "1" else "r|") as t: t.extractall(sys.argv[2])`, archive, dest, gz ? "1" : "0"]);
}

export async function extractWithGnuTar(archive: string, dest: string, gz: boolean): Promise<void> {
  await mkdir(dest, { recursive: true });
  await run("tar", [gz ? "-xzf" : "-xf", archive, "-C", dest]);
}

/** A python process that holds `file` open for writing until killed; resolves once it has it open. */
export async function holdOpenForWriting(file: string): Promise<ChildProcess> {
  const child = spawn("python3", ["-c", "import sys, time\nf = open(sys.argv[1], 'w')\nf.write('partial')\nf.flush()\nprint('ready', flush=True)\ntime.sleep(120)", file], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`holder exited early (${code})`)));
    child.stdout?.on("data", (d: Buffer) => {
      if (d.toString().includes("ready")) resolve();
    });
  });
  return child;
}

export async function listDir(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

/** The checkpoint selectCheckpoint picks in `ck`; throws when there is none. */
export async function selectPackable(ck: string): Promise<PackableSelection> {
  const sel = await selectCheckpoint(ck);
  if (sel.kind === "none") throw new Error(sel.reason);
  return sel;
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export const sha256 = (b: Buffer): string => createHash("sha256").update(b).digest("hex");
