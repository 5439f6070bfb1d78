// Packaging speed and memory: trainguard's packageCheckpoint in every compression mode against
// `tar -cf - | pigz -1` and plain `tar -cf -`, on text-like data (compresses to ~45%) and on
// random data (does not compress, like fp32 tensors), both from page cache, interleaved runs.
// Goal: auto on compressible data within 1.5x of tar|pigz -1; peak RSS under 150 MB.
//
// Standalone: node bench/artifacts/packaging.mjs [--gib=N] [--runs=N] [--modes=auto,fast,...]
// Or as a bench/run.mjs module (exports meta and run(ctx)).
import { execFileSync, spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, "..", "..");
const CHILD = path.join(HERE, "package-child.mjs");

export const meta = { name: "packaging", aliases: ["artifacts", "pack"], title: "Packaging a checkpoint: speed and peak RSS" };

function textBlock(seed) {
  const words = ["loss", "step", "epoch", "weight", "gradient", "tensor", "layer", "norm", "adam", "batch", "token", "model", "warmup", "decay"];
  let s = seed;
  const rnd = () => (s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  let out = "";
  while (out.length < 1 << 20) out += `${Math.floor(rnd() * 1e6)} ${words[Math.floor(rnd() * words.length)]}=${rnd().toFixed(5)} ${words[Math.floor(rnd() * words.length)]} ${words[Math.floor(rnd() * words.length)]}\n`;
  return Buffer.from(out).subarray(0, 1 << 20);
}

/** `gib` GiB in 4 files of a checkpoint dir, plus the commit marker. */
function makeCheckpoint(root, kind, gib) {
  const dir = path.join(root, kind, "step-1");
  mkdirSync(dir, { recursive: true });
  const blocks = kind === "text" ? Array.from({ length: 16 }, (_, i) => textBlock(i + 1)) : undefined;
  const perFileMiB = (gib * 1024) / 4;
  for (let f = 0; f < 4; f++) {
    const fd = openSync(path.join(dir, `part-${f}.bin`), "w");
    for (let i = 0; i < perFileMiB; i++) {
      // Deflate sees 32 KiB back: cycling 16 distinct 1 MiB blocks compresses like fresh text.
      writeSync(fd, blocks ? blocks[(i * 7 + f) % 16] : execRandom());
    }
    closeSync(fd);
  }
  writeSync(openSync(path.join(dir, ".trainguard-commit"), "w"), "{}\n");
  execFileSync("sh", ["-c", `cat '${dir}'/* > /dev/null`]); // into page cache, like a checkpoint just written
  return path.dirname(dir);
}

let randomPool;
function execRandom() {
  randomPool ??= execFileSync("head", ["-c", String(64 << 20), "/dev/urandom"], { maxBuffer: 128 << 20 });
  const at = Math.floor(Math.random() * ((64 << 20) - (1 << 20)));
  // Fresh random offsets into a 64 MiB random pool: incompressible, and cheap to produce.
  return randomPool.subarray(at, at + (1 << 20));
}

function timeShell(script) {
  const t = process.hrtime.bigint();
  execFileSync("sh", ["-c", script], { stdio: ["ignore", "ignore", "inherit"] });
  return { seconds: Number(process.hrtime.bigint() - t) / 1e9 };
}

function runTrainguard(ck, modelDir, mode) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, REPO, ck, modelDir, mode], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`packaging ${mode} exited ${code}`))));
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export async function run(ctx) {
  const gib = Number(ctx.options.gib ?? 1);
  const runs = Number(ctx.options.runs ?? 2);
  const modes = ctx.options.modes ?? ["auto", "gzip", "fast", "stored", "none"];
  const havePigz = (() => {
    try {
      execFileSync("pigz", ["--version"], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  })();
  if (!existsSync(path.join(REPO, "dist", "artifacts", "index.js"))) throw new Error("build first: npx tsc -p tsconfig.json");
  const results = [];
  const rows = [];
  for (const kind of ["text", "random"]) {
    const data = ctx.tempDir(`data-${kind}`);
    ctx.progress?.(`packaging: writing ${gib} GiB of ${kind} data`);
    const ck = makeCheckpoint(data, kind, gib);
    const src = path.join(ck, "step-1");
    const variants = [
      ...modes.map((m) => ({ id: `trainguard ${m}`, go: async (out) => runTrainguard(ck, out, m) })),
      ...(havePigz ? [{ id: "tar | pigz -1", go: async (out) => timeShell(`tar -cf - -C '${src}' . | pigz -1 > '${out}/p.tar.gz'`) }] : []),
      { id: "tar (no compression)", go: async (out) => timeShell(`tar -cf '${out}/p.tar' -C '${src}' .`) },
    ];
    const samples = new Map(variants.map((v) => [v.id, []]));
    for (let r = 0; r < runs; r++) {
      for (const v of variants) {
        ctx.progress?.(`packaging: ${kind} run ${r + 1}/${runs}: ${v.id}`);
        const out = ctx.tempDir("out");
        samples.get(v.id).push({ ...(await v.go(out)), loadavg1m: loadavg()[0] });
        rmSync(out, { recursive: true, force: true });
      }
    }
    const pigzMedian = havePigz ? median(samples.get("tar | pigz -1").map((s) => s.seconds)) : NaN;
    for (const v of variants) {
      const s = samples.get(v.id);
      const sec = median(s.map((x) => x.seconds));
      const row = {
        data: kind,
        variant: v.id,
        level: s[0].compression ? `${s[0].compression}${s[0].gzipLevel !== undefined ? ` (${s[0].gzipLevel})` : ""}` : "-",
        medianSeconds: Number(sec.toFixed(2)),
        mibPerSec: Number(((gib * 1024) / sec).toFixed(1)),
        vsPigz: Number((sec / pigzMedian).toFixed(2)),
        ratio: s[0].bytes ? Number((s[0].bytes / (gib * 2 ** 30)).toFixed(3)) : undefined,
        maxRssMB: s[0].maxRssMB ? Number(Math.max(...s.map((x) => x.maxRssMB)).toFixed(1)) : undefined,
        cpuSeconds: s[0].cpuSeconds ? Number(median(s.map((x) => x.cpuSeconds)).toFixed(2)) : undefined,
      };
      rows.push(row);
      results.push({ ...row, samples: s });
    }
    rmSync(data, { recursive: true, force: true });
  }
  ctx.progressDone?.();
  const columns = ["data", "variant", "level", "medianSeconds", "mibPerSec", "vsPigz", "ratio", "maxRssMB", "cpuSeconds"];
  return {
    params: { gib, runs, modes, pigz: havePigz },
    results,
    table: { columns, rows: rows.map((r) => columns.map((c) => (r[c] === undefined ? "-" : String(r[c])))) },
    notes: ["auto without a deadline = level 1 for compressible data, stored (level 0) when a sample compresses worse than 0.9"],
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const options = {};
  for (const arg of process.argv.slice(2)) {
    const m = /^--([a-z]+)=(.*)$/.exec(arg);
    if (!m) throw new Error(`usage: packaging.mjs [--gib=N] [--runs=N] [--modes=a,b]`);
    options[m[1]] = m[1] === "modes" ? m[2].split(",") : m[2];
  }
  const scratch = mkdtempSync(path.join(tmpdir(), "tg-bench-pack-"));
  const ctx = {
    options,
    tempDir: (p) => mkdtempSync(path.join(scratch, `${p}-`)),
    progress: (m) => process.stderr.write(`${m}\n`),
    progressDone: () => undefined,
  };
  try {
    const out = await run(ctx);
    console.log(`| ${out.table.columns.join(" | ")} |\n|${out.table.columns.map(() => "---").join("|")}|`);
    for (const row of out.table.rows) console.log(`| ${row.join(" | ")} |`);
    console.log(JSON.stringify({ params: out.params, loadavg: loadavg() }));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
