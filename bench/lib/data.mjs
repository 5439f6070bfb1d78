// Benchmark data sets, generated once under a data dir on the same disk as the outputs and reused
// across runs (a `.ready-<name>.json` stamp records what was made; a changed recipe regenerates).
//
//   randomFile(i)      1 GiB of incompressible bytes (AES-128-CTR keystream, seed i): like fp32
//                      tensors, which deflate barely shrinks.
//   smallFiles(set)    1,000 files of 1 to 8 KiB (random content, deterministic per set): the
//                      configs, tokenizer pieces and optimizer shards a checkpoint also holds.
//   checkpoint(...)    a complete checkpoint dir <name>/<step>/ made of hard links to the above,
//                      commit marker written last. Hard links cost no disk and no time; every
//                      packer here reads them as ordinary files.
//   logs()             ~512 MiB of realistic training log lines in 4 files (fresh lines from a
//                      seeded PRNG, no repeated blocks, so deflate sees real text).
//
// The default data dir is /var/tmp/trainguard-bench (TRAINGUARD_BENCH_DATA to change it): on the
// same disk as the repository here, and not a tmpfs.
import { createCipheriv, createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { closeSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import path from "node:path";

export const GiB = 2 ** 30;
export const MiB = 2 ** 20;
export const DEFAULT_DATA_DIR = process.env.TRAINGUARD_BENCH_DATA ?? "/var/tmp/trainguard-bench";
export const MARKER = ".trainguard-commit";
export const SMALL_FILES = 1000;

const stampOf = (dir, name) => path.join(dir, `.ready-${name}.json`);

function ready(dir, name, recipe) {
  try {
    return JSON.stringify(JSON.parse(readFileSync(stampOf(dir, name), "utf8")).recipe) === JSON.stringify(recipe);
  } catch {
    return false;
  }
}

function stamp(dir, name, recipe, extra = {}) {
  writeFileSync(stampOf(dir, name), `${JSON.stringify({ recipe, madeAt: new Date().toISOString(), ...extra })}\n`);
}

/** A deterministic keystream: `next(n)` returns n fresh incompressible bytes. */
function keystream(seed) {
  const key = createHash("sha256").update(`trainguard-bench-${seed}`).digest();
  const cipher = createCipheriv("aes-128-ctr", key.subarray(0, 16), key.subarray(16, 32));
  return (n) => cipher.update(Buffer.alloc(n));
}

/** Small seeded PRNG (xorshift32) for sizes and log lines. */
function prng(seed) {
  let s = (seed * 2654435761) >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

function writeFileChunks(file, total, next) {
  const fd = openSync(file, "w");
  try {
    for (let done = 0; done < total; ) {
      const n = Math.min(8 * MiB, total - done);
      writeSync(fd, next(n));
      done += n;
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export class BenchData {
  constructor(dir = DEFAULT_DATA_DIR, progress = () => undefined) {
    this.dir = dir;
    this.progress = progress;
    mkdirSync(dir, { recursive: true });
  }

  /** `<dir>/random/r<i>.bin`: 1 GiB (or `bytes`) of incompressible data. */
  randomFile(i, bytes = GiB) {
    const name = `random-${i}`;
    const file = path.join(this.dir, "random", `r${i}.bin`);
    const recipe = { kind: "aes-128-ctr", seed: i, bytes };
    if (ready(this.dir, name, recipe) && existsSync(file) && statSync(file).size === bytes) return file;
    this.progress(`data: writing ${(bytes / MiB).toFixed(0)} MiB of random data (${file})`);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileChunks(file, bytes, keystream(i));
    stamp(this.dir, name, recipe);
    return file;
  }

  /** `<dir>/small/<set>/aux/dNN/fNNNN.bin`: 1,000 files of 1 to 8 KiB. Returns their relative paths. */
  smallFiles(set) {
    const name = `small-${set}`;
    const root = path.join(this.dir, "small", set);
    const recipe = { kind: "small", set, count: SMALL_FILES, minBytes: 1024, maxBytes: 8192 };
    const rels = Array.from({ length: SMALL_FILES }, (_, k) => `aux/d${String(Math.floor(k / 100)).padStart(2, "0")}/f${String(k).padStart(4, "0")}.bin`);
    if (ready(this.dir, name, recipe)) return { root, rels };
    this.progress(`data: writing ${SMALL_FILES} small files (${root})`);
    rmSync(root, { recursive: true, force: true });
    const rnd = prng(set.split("").reduce((a, c) => a * 31 + c.charCodeAt(0), 7));
    const next = keystream(`small-${set}`);
    for (const rel of rels) {
      const file = path.join(root, rel);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, next(1024 + Math.floor(rnd() * 7169)));
    }
    execFileSync("sync", ["-f", root]);
    stamp(this.dir, name, recipe);
    return { root, rels };
  }

  /**
   * A checkpoint dir `<dir>/ck/<name>/<step>/`: `big` (list of files, linked as model-0000N.bin)
   * plus a small-file set, then the commit marker unless `commit` is false. Returns the parent
   * (what --checkpoint-dir takes) and the step dir.
   */
  checkpoint(name, { step = "step-1", big, small, commit = true, parent }) {
    const ckRoot = parent ?? path.join(this.dir, "ck", name);
    const stepDir = path.join(ckRoot, step);
    const recipe = { kind: "checkpoint", big, small, step, commit };
    const stampName = `ck-${name}-${step}`;
    if (ready(this.dir, stampName, recipe) && existsSync(stepDir) && existsSync(path.join(stepDir, MARKER)) === commit) {
      return { ckRoot, stepDir };
    }
    rmSync(stepDir, { recursive: true, force: true });
    mkdirSync(stepDir, { recursive: true });
    big.forEach((file, k) => linkSync(file, path.join(stepDir, `model-${String(k + 1).padStart(5, "0")}.bin`)));
    if (small) {
      const { root, rels } = this.smallFiles(small);
      for (const rel of rels) {
        mkdirSync(path.dirname(path.join(stepDir, rel)), { recursive: true });
        linkSync(path.join(root, rel), path.join(stepDir, rel));
      }
    }
    if (commit) writeFileSync(path.join(stepDir, MARKER), `${JSON.stringify({ step })}\n`);
    stamp(this.dir, stampName, recipe);
    return { ckRoot, stepDir };
  }

  /** `<dir>/ck/logs/step-1/`: ~512 MiB of log text in 4 files, marker last. */
  logs(totalBytes = 512 * MiB) {
    const name = "logs";
    const ckRoot = path.join(this.dir, "ck", name);
    const stepDir = path.join(ckRoot, "step-1");
    const files = 4;
    const recipe = { kind: "logs", totalBytes, files, version: 2 };
    if (ready(this.dir, name, recipe) && existsSync(path.join(stepDir, MARKER))) return { ckRoot, stepDir };
    this.progress(`data: writing ${(totalBytes / MiB).toFixed(0)} MiB of log lines (${stepDir})`);
    rmSync(ckRoot, { recursive: true, force: true });
    mkdirSync(stepDir, { recursive: true });
    const names = ["rank0-train.log", "rank1-train.log", "dataloader.log", "events.log"];
    for (let f = 0; f < files; f++) {
      const lines = logLines(f + 1, Date.UTC(2026, 10, 20, 8, 0, 0) + f * 1000);
      let carry = "";
      writeFileChunks(path.join(stepDir, names[f]), totalBytes / files, (n) => {
        let out = carry;
        while (out.length < n) out += lines();
        carry = out.slice(n);
        return Buffer.from(out.slice(0, n), "latin1");
      });
    }
    writeFileSync(path.join(stepDir, MARKER), "{}\n");
    stamp(this.dir, name, recipe);
    return { ckRoot, stepDir };
  }

  /** Read every file under the dirs once, so all packers read from the page cache. */
  warm(...dirs) {
    for (const d of dirs) execFileSync("sh", ["-c", 'find "$1" -type f -exec cat {} + > /dev/null', "sh", d]);
  }

  /** A scratch dir for outputs, on the same disk as the data. */
  scratch(name) {
    const d = path.join(this.dir, "out", `${name}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
    mkdirSync(d, { recursive: true });
    return d;
  }

  /** Remove the big generated files (the 1 GiB randoms, checkpoints, logs), keep nothing heavy. */
  removeBig() {
    for (const sub of ["random", "ck", "out", "s3", "small"]) rmSync(path.join(this.dir, sub), { recursive: true, force: true });
    for (const f of ["random-0", "random-1", "random-2", "random-3", "logs"]) rmSync(stampOf(this.dir, f), { force: true });
    try {
      for (const f of execFileSync("ls", ["-A", this.dir], { encoding: "utf8" }).split("\n")) {
        if (f.startsWith(".ready-")) rmSync(path.join(this.dir, f), { force: true });
      }
    } catch {
      // nothing left
    }
  }
}

/**
 * A generator of training-log text: timestamps that advance, a mix of trainer, dataloader,
 * checkpoint, NCCL and warning lines with varying numbers, ids and paths, and an occasional
 * Python traceback. Returns a function that yields the next few KiB of text.
 */
function logLines(seed, t0) {
  const rnd = prng(seed);
  const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
  const hex = (n) => {
    let s = "";
    for (let i = 0; i < n; i++) s += "0123456789abcdef"[Math.floor(rnd() * 16)];
    return s;
  };
  let t = t0;
  let step = Math.floor(rnd() * 1000);
  let loss = 4 + rnd();
  const hosts = ["algo-1", "algo-2", "algo-3", "algo-4"];
  const modules = ["torch.distributed", "transformers.trainer", "accelerate", "datasets", "urllib3.connectionpool", "botocore"];
  const warnings = [
    "Detected call of `lr_scheduler.step()` before `optimizer.step()`",
    "Gradient overflow. Skipping step, loss scaler 0 reducing loss scale to",
    "Token indices sequence length is longer than the specified maximum sequence length for this model",
    "Connection pool is full, discarding connection:",
    "NCCL WARN Call to ibv_reg_mr failed with error",
    "The given NumPy array is not writable, and PyTorch does not support non-writable tensors",
  ];
  return () => {
    let out = "";
    for (let i = 0; i < 32; i++) {
      t += Math.floor(rnd() * 400);
      const ts = new Date(t).toISOString();
      const host = pick(hosts);
      const r = rnd();
      if (r < 0.45) {
        step += 1;
        loss = Math.max(0.05, loss * (0.9995 + rnd() * 0.0009) - 0.0001);
        out += `${ts} ${host} INFO [trainer] epoch=${Math.floor(step / 5000)} step=${step} loss=${loss.toFixed(6)} lr=${(3e-4 * (1 - step / 2e6)).toExponential(4)} grad_norm=${(0.2 + rnd() * 3).toFixed(4)} tokens_per_sec=${Math.floor(90000 + rnd() * 40000)} gpu_mem_gib=${(30 + rnd() * 10).toFixed(2)}\n`;
      } else if (r < 0.75) {
        out += `${ts} ${host} DEBUG [dataloader] worker=${Math.floor(rnd() * 16)} batch=${Math.floor(rnd() * 1e6)} shard=s3://corpus-prod/tokenized/v3/shard-${String(Math.floor(rnd() * 99999)).padStart(5, "0")}.tar fetched ${Math.floor(rnd() * 4096)} samples in ${(rnd() * 80).toFixed(1)} ms (queue ${Math.floor(rnd() * 64)}/64)\n`;
      } else if (r < 0.85) {
        out += `${ts} ${host} INFO [${pick(modules)}] request_id=${hex(8)}-${hex(4)}-${hex(4)}-${hex(12)} rank=${Math.floor(rnd() * 32)} allreduce bucket=${Math.floor(rnd() * 200)} bytes=${Math.floor(rnd() * 2 ** 26)} took ${(rnd() * 12).toFixed(3)} ms\n`;
      } else if (r < 0.93) {
        out += `${ts} ${host} INFO [eval] step=${step} eval_loss=${(loss * (1 + rnd() * 0.05)).toFixed(6)} perplexity=${Math.exp(loss).toFixed(3)} accuracy=${(0.3 + rnd() * 0.6).toFixed(4)} samples=${Math.floor(rnd() * 50000)}\n`;
      } else if (r < 0.995) {
        out += `${ts} ${host} WARNING [${pick(modules)}] ${pick(warnings)} ${Math.floor(rnd() * 65536)}\n`;
      } else {
        out += `${ts} ${host} ERROR [worker] Traceback (most recent call last):\n  File "/opt/ml/code/train.py", line ${Math.floor(rnd() * 900)}, in <module>\n    main()\n  File "/opt/conda/lib/python3.10/site-packages/torch/utils/data/dataloader.py", line ${Math.floor(rnd() * 1400)}, in __next__\n    data = self._next_data()\nRuntimeError: DataLoader worker (pid ${Math.floor(rnd() * 60000)}) is killed by signal: Bus error. request ${hex(16)}\n`;
      }
    }
    return out;
  };
}
