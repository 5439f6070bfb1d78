import type { ProgressInfo } from "../artifacts/index.js";
import type { Logger } from "../log/index.js";

/**
 * Progress for people and machines: a bar redrawn in place on a terminal, otherwise a log line
 * at most every few seconds (packaging reports four times a second).
 */
export function progressReporter(log: Logger, deadline: number | undefined): { report: (p: ProgressInfo) => void; done: () => void } {
  const tty = process.stderr.isTTY === true;
  let lastLog = 0;
  let drewBar = false;
  const report = (p: ProgressInfo): void => {
    const fraction = p.totalBytes > 0 ? Math.min(1, p.bytes / p.totalBytes) : 1;
    const deadlineLeftMs = deadline === undefined ? undefined : deadline - Date.now();
    if (tty) {
      const width = 30;
      const filled = Math.round(fraction * width);
      const left = deadlineLeftMs === undefined ? "" : `, ${(deadlineLeftMs / 1000).toFixed(1)} s to deadline`;
      process.stderr.write(`\r[${"#".repeat(filled)}${" ".repeat(width - filled)}] ${(fraction * 100).toFixed(0)}% ${mib(p.bytes)}/${mib(p.totalBytes)} MiB ${mib(p.rateBytesPerSec)} MiB/s${left}   `);
      drewBar = true;
      return;
    }
    const now = Date.now();
    if (now - lastLog < 2_000 && fraction < 1) return;
    lastLog = now;
    log.info({ event: "package.progress", bytes: p.bytes, totalBytes: p.totalBytes, rateBytesPerSec: Math.round(p.rateBytesPerSec), msLeft: p.msLeft, deadlineLeftMs }, `packaging ${(fraction * 100).toFixed(0)}%`);
  };
  return {
    report,
    done: () => {
      if (drewBar) process.stderr.write("\n");
    },
  };
}

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}
