// One packaging run in its own process, so its memory is its own (the parent samples
// /proc/<pid>/status while it runs). Prints one JSON line on stdout after a "READY" line.
//
//   node package-child.mjs '{"ckRoot":..., "modelDir":..., "compression":"auto", "deadlineInMs":120000}'
//
// `seconds` covers selectCheckpoint + packageCheckpoint (walk, compression sampling, archive,
// fsync, rename): what trainguard's stop path spends on packaging. Node's own start-up (~0.3 s
// here) is outside it and reported apart as `startupSeconds`.
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const args = JSON.parse(process.argv[2]);
const startupSeconds = process.uptime();
const lib = await import(pathToFileURL(path.join(REPO, "dist", "artifacts", "index.js")).href);

function status() {
  const out = {};
  for (const line of readFileSync("/proc/self/status", "utf8").split("\n")) {
    const m = /^(VmHWM|VmRSS|RssAnon|RssFile):\s+(\d+) kB$/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

const before = status();
const t0 = process.hrtime.bigint();
const cpu0 = process.cpuUsage();
const selection = await lib.selectCheckpoint(args.ckRoot);
if (selection.kind === "none") throw new Error(selection.reason);
const result = await lib.packageCheckpoint(selection, {
  modelDir: args.modelDir,
  jobName: "bench",
  reason: "Stopped",
  compression: args.compression,
  layout: "archive",
  ...(args.deadlineInMs ? { deadline: Date.now() + args.deadlineInMs } : {}),
});
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
const cpu = process.cpuUsage(cpu0);
const after = status();
const inputBytes = selection.files.reduce((n, f) => n + (f.type === "file" ? f.size : 0), 0);
console.log(
  JSON.stringify({
    seconds,
    startupSeconds,
    inputBytes,
    files: result.files,
    bytes: result.bytes,
    compression: result.compression,
    gzipLevel: result.gzipLevel,
    warnings: result.warnings,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    vmHWMkB: after.VmHWM,
    vmRSSkBBefore: before.VmRSS,
    rssAnonkB: after.RssAnon,
  }),
);
