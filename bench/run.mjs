#!/usr/bin/env node
// Benchmark entry: `npm run bench [-- <name>... ] [--trials=N] [--settle-ms=N] [--batch=N] [--runs=N] [--rounds=N] [--data-dir=DIR] [--keep-data] [--out=FILE] [--markdown] [--quiet] [--s3-endpoint=URL --s3-bucket=NAME]`
//
// Runs every module in MODULES (or those named), prints one table per module and writes all
// results, with the machine they were measured on, to bench/results/latest.json.
//
// Adding a benchmark: create bench/<something>.mjs exporting
//   meta = { name, aliases?, title }
//   async function run(ctx) -> { params, results, table: { columns, rows }, notes?, ... }
// (ctx: see bench/lib/context.mjs) and add it to MODULES below. Every figure about trainguard
// should come with the same figure for a baseline measured in the same run.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import path from "node:path";
import { BENCH_DIR, BenchError, createContext, machineInfo } from "./lib/context.mjs";
import { BenchData, DEFAULT_DATA_DIR } from "./lib/data.mjs";

const MODULES = [
  "./signal-latency.mjs",
  "./startup.mjs",
  "./startup-window.mjs",
  "./idle-rss.mjs",
  "./dist-size.mjs",
  "./packaging.mjs",
  "./packaging-text.mjs",
  "./packaging-rss.mjs",
  "./stop-path.mjs",
  "./stop-rss.mjs",
  "./stop-sync.mjs",
  "./local-api.mjs",
  "./intact-copy.mjs",
  "./local-hosts.mjs",
  "./local-docker.mjs",
];

function parseArgs(argv) {
  const options = { names: [] };
  for (const arg of argv) {
    const m = /^--([a-z0-9-]+)(?:=(.*))?$/.exec(arg);
    if (!m) {
      options.names.push(arg);
      continue;
    }
    const [, key, value] = m;
    const int = () => {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1) throw new BenchError(`--${key} needs a positive integer`);
      return n;
    };
    switch (key) {
      case "trials": options.trials = int(); break;
      case "settle-ms": options.settleMs = int(); break;
      case "runs": options.runs = int(); break;
      case "batch": options.batch = int(); break;
      case "rounds": options.rounds = int(); break;
      case "data-dir": options.dataDir = value; break;
      case "keep-data": options.keepData = true; break;
      case "out": options.out = value; break;
      case "quiet": options.quiet = true; break;
      case "markdown": options.markdown = true; break;
      case "s3-endpoint":
        if (!/^https?:\/\/[^/]+\/?$/.test(value ?? "")) throw new BenchError("--s3-endpoint needs a URL such as http://host:9000");
        options.s3Endpoint = value;
        break;
      case "s3-bucket":
        if (!value) throw new BenchError("--s3-bucket needs a bucket name");
        options.s3Bucket = value;
        break;
      case "help":
        options.help = true;
        break;
      default:
        throw new BenchError(`unknown option --${key}`);
    }
  }
  return options;
}

/** Total µs some task waited for a CPU (Linux PSI), or undefined without /proc/pressure. */
function cpuPressureTotalUs() {
  try {
    return Number(/^some .*total=(\d+)/m.exec(readFileSync("/proc/pressure/cpu", "utf8"))?.[1]);
  } catch {
    return undefined;
  }
}

/**
 * How busy the machine was while a module ran: load averages and the share of wall time in which
 * some runnable task was kept waiting for a CPU (ours included). Figures from a run with high
 * pressure are noisy; compare trainguard to tini within the run, not across runs.
 */
function noiseMeter() {
  const t0 = Date.now();
  const p0 = cpuPressureTotalUs();
  const load0 = loadavg()[0];
  return () => {
    const p1 = cpuPressureTotalUs();
    const elapsedUs = (Date.now() - t0) * 1000;
    return {
      loadavg1mStart: Number(load0.toFixed(2)),
      loadavg1mEnd: Number(loadavg()[0].toFixed(2)),
      cpuPressureSomePct: p0 !== undefined && p1 !== undefined && elapsedUs > 0 ? Number(((100 * (p1 - p0)) / elapsedUs).toFixed(1)) : undefined,
    };
  };
}

function printMarkdown({ columns, rows }) {
  // Cells may hold shell pipelines: a bare "|" would split the Markdown cell.
  const cell = (c) => String(c).replaceAll("|", "\\|");
  console.log(`| ${columns.map(cell).join(" | ")} |`);
  console.log(`|${columns.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`);
  for (const row of rows) console.log(`| ${row.map(cell).join(" | ")} |`);
}

function printTable({ columns, rows }) {
  const cells = [columns, ...rows].map((row) => row.map(String));
  const widths = columns.map((_, i) => Math.max(...cells.map((row) => row[i].length)));
  const line = (row) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join("  ");
  console.log(line(cells[0]));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const row of cells.slice(1)) console.log(line(row));
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const modules = await Promise.all(MODULES.map((m) => import(m)));
  if (options.help) {
    console.log("usage: npm run bench -- [name...] [--trials=N] [--settle-ms=N] [--batch=N] [--runs=N] [--rounds=N] [--data-dir=DIR] [--keep-data] [--out=FILE] [--markdown] [--quiet] [--s3-endpoint=URL --s3-bucket=NAME]\n");
    for (const m of modules) console.log(`  ${m.meta.name.padEnd(14)} ${m.meta.title}${m.meta.aliases ? ` (also: ${m.meta.aliases.join(", ")})` : ""}`);
    console.log(`
  --trials=N     signal: trials per supervisor (200)
  --settle-ms=N  signal: idle time after a batch is ready, before the first signal (1000)
  --batch=N      signal: supervisors of each kind started together (10)
  --runs=N       startup: runs per command (30)
  --rounds=N     packaging, packaging-text, stop-path, stop-sync: rounds of every variant;
                 startup-window: sweeps of the delay grid (2)
  --data-dir=DIR generated data, outputs and the embedded S3's objects (${DEFAULT_DATA_DIR})
  --keep-data    keep the generated data (GBs) for the next run instead of removing it at the end
  --out=FILE     JSON results (bench/results/latest.json)
  --markdown     print the tables as Markdown (for BENCHMARKS.md)
  --quiet        no progress line
  --s3-endpoint=URL, --s3-bucket=NAME
                 stop-path: upload to this S3 store instead of the embedded one started on this
                 machine (credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION;
                 the bucket must exist). A store on another host is the one that does not take
                 the job's CPU: see BENCHMARKS.md, issue 16`);
    return 0;
  }
  const byName = new Map();
  for (const m of modules) for (const n of [m.meta.name, ...(m.meta.aliases ?? [])]) byName.set(n, m);
  const selected = options.names.length === 0 ? modules : options.names.map((n) => {
    const m = byName.get(n);
    if (!m) throw new BenchError(`unknown benchmark "${n}"; known: ${modules.map((x) => x.meta.name).join(", ")}`);
    return m;
  });

  const ctx = createContext(options);
  process.once("exit", () => ctx.cleanup()); // also when interrupted
  const report = { command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`, machine: machineInfo(ctx.scratch), benchmarks: {} };
  const started = Date.now();
  let failed = false;
  try {
    console.log(`trainguard bench: node ${report.machine.node}, ${report.machine.nproc} cpus, ${report.machine.kernel}, ${report.machine.tini ?? "tini ?"}\n`);
    for (const m of [...new Set(selected)]) {
      console.log(`## ${m.meta.name}: ${m.meta.title}`);
      const t0 = Date.now();
      const noise = noiseMeter();
      try {
        const result = await m.run(ctx);
        const machineNoise = noise();
        report.benchmarks[m.meta.name] = { title: m.meta.title, seconds: Math.round((Date.now() - t0) / 100) / 10, machineNoise, ...result };
        (options.markdown ? printMarkdown : printTable)(result.table);
        for (const note of result.notes ?? []) console.log(`  ${note}`);
        console.log(
          `  ${report.benchmarks[m.meta.name].seconds} s; load average ${machineNoise.loadavg1mStart} -> ${machineNoise.loadavg1mEnd}` +
            (machineNoise.cpuPressureSomePct !== undefined ? `; tasks waiting for a CPU ${machineNoise.cpuPressureSomePct}% of the time` : ""),
        );
      } catch (err) {
        failed = true;
        report.benchmarks[m.meta.name] = { title: m.meta.title, error: String(err?.message ?? err) };
        console.log(`  FAILED: ${err?.message ?? err}`);
      }
      console.log("");
    }
  } finally {
    ctx.cleanup();
    // Data sets are shared by modules of one run; removed once at the end unless --keep-data.
    if (!options.keepData && [...new Set(selected)].some((m) => m.meta.data)) new BenchData(options.dataDir).removeBig();
  }
  report.totalSeconds = Math.round((Date.now() - started) / 100) / 10;
  const out = options.out ?? path.join(BENCH_DIR, "results", "latest.json");
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`${report.totalSeconds} s in all; results written to ${path.relative(process.cwd(), out) || out}`);
  return failed ? 1 : 0;
}

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    process.stderr.write(`\nbench: interrupted by ${signal}\n`);
    process.exit(130); // the exit hook in lib/proc.mjs kills what is still running
  });
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`bench: ${err instanceof BenchError ? err.message : err?.stack ?? err}\n`);
    process.exit(2);
  },
);
