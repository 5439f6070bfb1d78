// One packaging run in its own process, so its peak RSS is its own: prints one JSON line.
import path from "node:path";
import { pathToFileURL } from "node:url";

const [, , repo, checkpointDir, modelDir, compression] = process.argv;
const lib = await import(pathToFileURL(path.join(repo, "dist", "artifacts", "index.js")).href);
const started = process.hrtime.bigint();
const selection = await lib.selectCheckpoint(checkpointDir);
if (selection.kind === "none") throw new Error(selection.reason);
const result = await lib.packageCheckpoint(selection, { modelDir, jobName: "bench", reason: "Stopped", compression, layout: "archive" });
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const cpu = process.cpuUsage();
console.log(
  JSON.stringify({
    seconds,
    bytes: result.bytes,
    compression: result.compression,
    gzipLevel: result.gzipLevel,
    maxRssMB: process.resourceUsage().maxRSS / 1024,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
  }),
);
