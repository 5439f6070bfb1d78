/**
 * Why trainguard exits through libc's _exit: a threadpool thread blocked in a filesystem call (here
 * reading a FIFO no one writes, as a hung NFS or FUSE mount would) keeps process.exit from returning.
 */
import { spawnSync } from "node:child_process";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../helpers/job.js";

const dir = mkdtempSync(path.join(tmpdir(), "tg-hard-exit-"));
const fifo = path.join(dir, "fifo");
execFileSync("mkfifo", [fifo]);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runWithStuckRead(exit: string): ReturnType<typeof spawnSync> {
  const hardExit = path.join(REPO_ROOT, "dist", "job", "hard-exit.js");
  const script = `import(${JSON.stringify(hardExit)}).then(({ hardExit }) => { require("fs").promises.readFile(${JSON.stringify(fifo)}); setTimeout(() => ${exit}, 200); });`;
  return spawnSync(process.execPath, ["-e", script], { timeout: 3_000, killSignal: "SIGKILL" });
}

describe.skipIf(process.platform !== "linux")("hardExit", () => {
  it("ends the process with its code while a threadpool thread is stuck reading a FIFO", () => {
    const r = runWithStuckRead("hardExit(3)");
    expect(r.signal).toBeNull();
    expect(r.status).toBe(3);
  });

  it("where process.exit never returns (the reason it exists)", () => {
    const r = runWithStuckRead("process.exit(3)");
    expect(r.signal).toBe("SIGKILL");
  });
});
