/**
 * Whatever a filesystem call does, trainguard exits by its deadline with the right status and code:
 * a FIFO where a config file, a checkpoint file or a file:// remote's object should be, and an
 * output dir that turns read-only or full under it. As PID 1, signalled from outside.
 */
import { execFileSync } from "node:child_process";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, openSync, readFileSync } from "node:fs";
import path from "node:path";
import { expect, it } from "vitest";
import { disposeCase, runCase } from "../helpers/bad-input.js";
import { FIXTURES, describeE2E } from "../helpers/e2e.js";
import type { JobStatusDocument } from "../../src/contract/index.js";
import { ENTRY, startJob, type Job } from "../helpers/job.js";
import { waitFor, withTimeout } from "../helpers/wait.js";
import { scratchDir, verifyCli } from "../helpers/stop-path.js";

const GRACE = 5;
const hostile = (env: Record<string, string>, options: string[] = []) =>
  startJob({ algorithm: ["sh", path.join(FIXTURES, "hostile-fs.sh")], grace: GRACE, env, options });

async function stopAndWait(job: Job): Promise<{ sentAt: number; code: number | null; at: number }> {
  await job.waitReady();
  await job.waitUntil("status Training", () => job.readStatus()?.SecondaryStatus === "Training" || job.eventNames().includes("algorithm.start"));
  const sentAt = job.signal("SIGTERM");
  const exit = await job.waitExit();
  return { sentAt, code: exit.code, at: exit.at };
}

function endEvent(job: Job): { status: unknown; exitCode: unknown } {
  const end = job.eventsOf("job.end")[0];
  if (!end) throw new Error(`no job.end\n${job.describe()}`);
  return { status: end.status, exitCode: end.exitCode };
}

describeE2E("the deadline holds whatever a filesystem call does", () => {
  it("a FIFO as hyperparameters.json: refused at once as PID 1 (exit 2, file named), long before --grace", async () => {
    const r = await runCase({
      pid1: true,
      argv: ["run", "--ml-root", "{ml}", "--grace", "3", "--", "sh", "-c", "echo started > {base}/started"],
      setup: (d) => execFileSync("mkfifo", [path.join(d.ml, "input", "config", "hyperparameters.json")]),
    });
    try {
      expect(r.code).toBe(2);
      expect(r.durationMs).toBeLessThan(3_000);
      expect(r.failure?.split("\n")[0]).toMatch(/hyperparameters\.json: must be a regular file, but it is a FIFO/);
      expect(r.status?.TrainingJobStatus).toBe("Failed");
      expect(r.started).toBe(false);
    } finally {
      disposeCase(r);
    }
  });

  it("a FIFO inside the checkpoint being packaged: Stopped before --grace, exit 0, the model packaged without it", async () => {
    // With a checkpoint remote too: the background sync must not get stuck on the FIFO either.
    const job = hostile({ TG_FIFO: "1" }, ["--checkpoint-uri", `file://${scratchDir("fifo-sync")}`]);
    const { sentAt, code, at } = await stopAndWait(job);
    expect(at - sentAt).toBeLessThan(GRACE * 1000);
    expect(code, job.describe()).toBe(0);
    expect(job.status().TrainingJobStatus).toBe("Stopped");
    expect(verifyCli(job.mlPath("model", "model.tar.gz")).code).toBe(0);
  });

  it("file:///proc/x as --output and --checkpoint-uri (calls that never return): Stopped before --grace, exit 0, the local archive written", async () => {
    const job = hostile({}, ["--output", "file:///proc/x", "--checkpoint-uri", "file:///proc/x"]);
    const { sentAt, code, at } = await stopAndWait(job);
    expect(at - sentAt).toBeLessThan(GRACE * 1000);
    expect(code, job.describe()).toBe(0);
    expect(endEvent(job)).toEqual({ status: "Stopped", exitCode: 0 });
    expect(job.status().artifact?.uploadedTo).toBeNull();
    expect(verifyCli(job.mlPath("model", "model.tar.gz")).code).toBe(0);
  });

  it("file:///proc/x as --output when the algorithm fails on its own (no stop): the upload is bounded by --grace, exit 1, the local archive written", async () => {
    const job = startJob({ algorithm: ["sh", "-c", 'mkdir -p "$SM_CHECKPOINT_DIR/step-1" && head -c 100000 /dev/urandom > "$SM_CHECKPOINT_DIR/step-1/m.bin" && touch "$SM_CHECKPOINT_DIR/step-1/.trainguard-commit" && exit 1'], grace: 3, options: ["--output", "file:///proc/x"] });
    const exit = await job.waitExit(20_000);
    const algorithmExit = Date.parse(job.eventsOf("algorithm.exit")[0]?.time ?? "");
    expect(exit.at - algorithmExit).toBeLessThan(3_000 + 1_000);
    expect(exit.code, job.describe()).toBe(1);
    expect(job.status().TrainingJobStatus).toBe("Failed");
    expect(job.status().failureReason).toMatch(/^Algorithm failed: exit code 1\.\nUploading the model failed/);
    expect(verifyCli(job.mlPath("model", "model.tar.gz")).code).toBe(0);
  });

  it("the output dir turns read-only during training: no crash, Stopped before --grace with exit 0, the model packaged", async () => {
    const job = hostile({ TG_BEFORE: "readonly" });
    const { sentAt, code, at } = await stopAndWait(job);
    expect(at - sentAt).toBeLessThan(GRACE * 1000);
    expect(code, job.describe()).toBe(0);
    expect(endEvent(job)).toEqual({ status: "Stopped", exitCode: 0 });
    expect(job.eventNames()).toContain("status.write-failed");
    // The last status written before the output dir turned read-only, whole.
    expect(job.status().TrainingJobStatus).toBe("InProgress");
    expect(verifyCli(job.mlPath("model", "model.tar.gz")).code).toBe(0);
  });

  it("the output dir turns read-only during the stop path: no crash, exit 0 before --grace, the model packaged", async () => {
    const job = hostile({ TG_ON_TERM: "readonly" });
    const { sentAt, code, at } = await stopAndWait(job);
    expect(at - sentAt).toBeLessThan(GRACE * 1000);
    expect(code, job.describe()).toBe(0);
    expect(endEvent(job)).toEqual({ status: "Stopped", exitCode: 0 });
    expect(job.eventNames()).toContain("status.write-failed");
    expect(["InProgress", "Stopping"]).toContain(job.status().TrainingJobStatus);
    expect(verifyCli(job.mlPath("model", "model.tar.gz")).code).toBe(0);
  });

  // Not in a PID namespace: the small tmpfs is mounted from here, before the start, and a mount
  // made inside the job's private mount namespace would hide its files from this test.
  it("a full status dir (64 KiB tmpfs): writes fail and are retried at the next change; once space is back, status.json ends Stopped", async () => {
    const base = scratchDir("full");
    const ml = path.join(base, "ml");
    const statusDir = path.join(ml, "output", "trainguard");
    mkdirSync(statusDir, { recursive: true });
    mkdirSync(path.join(base, "t"));
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", statusDir]);
    try {
      const stderrFile = path.join(base, "stderr");
      const child = spawn(process.execPath, [ENTRY, "run", "--ml-root", ml, "--grace", String(GRACE), "--", "sh", path.join(FIXTURES, "hostile-fs.sh")], {
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", TG_TEST_DIR: path.join(base, "t"), TG_BEFORE: "full", TG_ON_TERM: "free" },
        stdio: ["ignore", "ignore", openSync(stderrFile, "w")],
      });
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
      await waitFor("ready", () => existsSync(path.join(base, "t", "ready")), { timeoutMs: 20_000 });
      await new Promise((resolve) => setTimeout(resolve, 200));
      const sentAt = Date.now();
      child.kill("SIGTERM");
      const code = await withTimeout("trainguard to exit", exited, GRACE * 1000 + 5_000);
      expect(Date.now() - sentAt).toBeLessThan(GRACE * 1000);
      expect(code, readFileSync(stderrFile, "utf8").slice(-3000)).toBe(0);
      const stderr = readFileSync(stderrFile, "utf8");
      expect(stderr).toMatch(/"event":"status\.write-failed","code":"ENOSPC"/);
      expect((JSON.parse(readFileSync(path.join(statusDir, "status.json"), "utf8")) as JobStatusDocument).TrainingJobStatus).toBe("Stopped");
      expect(verifyCli(path.join(ml, "model", "model.tar.gz")).code).toBe(0);
    } finally {
      execFileSync("umount", [statusDir]);
    }
  });
});
