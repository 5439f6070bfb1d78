// Algorithms for the stop-path benchmarks (run by trainguard, under its supervision).
//
//   node algo.mjs stop [MARKER]     waits; on SIGTERM writes MARKER (if given: the final save's
//                                   commit marker, the checkpoint's data being already on disk)
//                                   and exits 0 at once.
//   node algo.mjs wait-sync STATUS  exits 0 once trainguard's status file says the checkpoint
//                                   sync has nothing left to upload (lag 0 with a newest remote).
import { closeSync, fsyncSync, openSync, readFileSync, writeSync } from "node:fs";

const [mode, arg] = process.argv.slice(2);
if (mode === "stop") {
  process.on("SIGTERM", () => {
    if (arg) {
      const fd = openSync(arg, "w");
      writeSync(fd, `${JSON.stringify({ savedAt: new Date().toISOString() })}\n`);
      fsyncSync(fd);
      closeSync(fd);
    }
    process.exit(0);
  });
  setInterval(() => undefined, 1 << 30);
} else if (mode === "wait-sync") {
  process.on("SIGTERM", () => process.exit(0));
  const timer = setInterval(() => {
    try {
      const lag = JSON.parse(readFileSync(arg, "utf8")).checkpointSync?.lag;
      if (lag && lag.checkpoints === 0 && lag.newestRemote) {
        clearInterval(timer);
        process.exit(0);
      }
    } catch {
      // not written yet
    }
  }, 500);
} else {
  process.stderr.write("usage: algo.mjs stop [MARKER] | wait-sync STATUS\n");
  process.exit(2);
}
