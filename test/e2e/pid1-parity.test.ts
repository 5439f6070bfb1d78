/**
 * trainguard as PID 1 measured the way tini and dumb-init test themselves: exit statuses pass
 * through, death by signal N is 128+N, every forwardable signal sent from outside reaches the
 * algorithm, no signal opens Node's inspector, and the algorithm starts with a clean signal state.
 * The signal table in the README is this file's FORWARDED_SIGNALS and NOT_FORWARDED.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { constants as osConstants, tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FORWARDED_SIGNALS, NOT_FORWARDED } from "../../src/supervisor/signals.js";
import { FIXTURES, PYTHON, describeE2E } from "../helpers/e2e.js";
import { ENTRY, readStatus, startJob } from "../helpers/job.js";
import { listeningTcpPorts } from "../helpers/procfs.js";
import { sleep, waitFor } from "../helpers/wait.js";

const SIGNALS = osConstants.signals as Readonly<Record<string, number>>;
const number = (name: string): number => {
  const n = SIGNALS[name];
  if (n === undefined) throw new Error(`no signal ${name}`);
  return n;
};

const scratch = mkdtempSync(path.join(tmpdir(), "tg-parity-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** One short job as PID 1 of its own namespace: resolves with PID 1's exit code (what unshare exits with). */
function runAsPid1(id: string, algorithm: readonly string[]): Promise<number | null> {
  const mlRoot = path.join(scratch, id);
  mkdirSync(mlRoot, { recursive: true });
  const args = ["--pid", "--fork", "--mount-proc", "--kill-child", process.execPath, ENTRY, "run", "--ml-root", mlRoot, "--log-level", "silent", "--", ...algorithm];
  return new Promise((resolve, reject) => {
    const child = spawn("unshare", args, { stdio: "ignore", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LANG: "C.UTF-8" } });
    child.once("error", reject);
    child.once("exit", (code) => resolve(code));
  });
}

/** Runs `count` tasks, `width` at a time (two cores: more only adds noise). */
async function inBatches<T>(count: number, width: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      for (let i = next++; i < count; i = next++) results[i] = await task(i);
    }),
  );
  return results;
}

function expectNoInspector(pid: number, stderr: string, allowedPorts: readonly number[] = []): void {
  expect(stderr).not.toContain("Debugger listening");
  expect(listeningTcpPorts(pid).filter((port) => !allowedPorts.includes(port))).toEqual([]);
}

describeE2E("PID-1 parity: exit statuses", () => {
  it("every exit status 0-255 of the algorithm is trainguard's exit status", async () => {
    const codes = await inBatches(256, 4, (status) => runAsPid1(`exit-${status}`, ["sh", "-c", `exit ${status}`]));
    expect(codes).toEqual(Array.from({ length: 256 }, (_, status) => status));
    expect(readStatus(path.join(scratch, "exit-0")).TrainingJobStatus).toBe("Completed");
    expect(readStatus(path.join(scratch, "exit-255"))).toMatchObject({ TrainingJobStatus: "Failed", exitCode: 255 });
  }, 240_000);

  // Every signal whose default action ends a process, as Node names them (KILL included).
  const DEADLY = ["SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE", "SIGKILL", "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGIO", "SIGPWR", "SIGSYS"];

  it(`death of the algorithm by each of the ${DEADLY.length} deadly signals exits 128+N, status Failed with the signal named`, async () => {
    const codes = await inBatches(DEADLY.length, 4, (i) => runAsPid1(`death-${DEADLY[i]}`, ["sh", "-c", `ulimit -c 0; kill -${number(DEADLY[i] ?? "")} $$; sleep 5`]));
    expect(Object.fromEntries(DEADLY.map((name, i) => [name, codes[i]]))).toEqual(Object.fromEntries(DEADLY.map((name) => [name, 128 + number(name)])));
    for (const name of DEADLY) expect(readStatus(path.join(scratch, `death-${name}`)), name).toMatchObject({ TrainingJobStatus: "Failed", exitCode: null, signal: name });
  }, 120_000);
});

describeE2E("PID-1 parity: signals", () => {
  it("each forwarded signal sent from outside to PID 1 reaches the algorithm's handler, once, and the job still stops cleanly", async () => {
    const record = Object.fromEntries(FORWARDED_SIGNALS.map((name) => [name, number(name)]));
    const job = startJob({ algorithm: [PYTHON, path.join(FIXTURES, "record-signals.py")], grace: 10, env: { TG_RECORD_SIGNALS: JSON.stringify(record) } });
    await job.waitReady();
    const received = (): string[] => (job.testFile("signals.log") ?? "").split("\n").filter(Boolean);
    for (const [i, name] of FORWARDED_SIGNALS.entries()) {
      job.signal(name);
      await waitFor(`${name} recorded by the algorithm`, () => received().length === i + 1 || undefined, { timeoutMs: 5_000 });
    }
    expect(received()).toEqual([...FORWARDED_SIGNALS]);
    expect(job.eventsOf("signal.forwarded").map((e) => e.signal)).toEqual([...FORWARDED_SIGNALS]);
    expectNoInspector(job.pid1, job.stderr());

    job.signal("SIGTERM");
    const exit = await job.waitExit();
    expect(exit.code).toBe(0);
    expect(job.status().TrainingJobStatus).toBe("Stopped");
    expect(received().at(-1)).toBe("SIGTERM");
  });

  it("the catchable signals that are not forwarded never reach the algorithm and leave PID 1 running", async () => {
    const notForwarded = Object.keys(NOT_FORWARDED).filter((name) => name !== "SIGKILL" && name !== "SIGSTOP" && name !== "SIGCHLD");
    const record = Object.fromEntries([...notForwarded, "SIGUSR2"].map((name) => [name, number(name)]));
    const job = startJob({ algorithm: [PYTHON, path.join(FIXTURES, "record-signals.py")], grace: 10, env: { TG_RECORD_SIGNALS: JSON.stringify(record) } });
    await job.waitReady();
    const received = (): string[] => (job.testFile("signals.log") ?? "").split("\n").filter(Boolean);
    for (const name of notForwarded) job.signal(name as NodeJS.Signals);
    // PID 1 has no handler for any of them, so the kernel drops each at kill(); a forwarded signal
    // sent last shows PID 1 still serving signals after them.
    job.signal("SIGUSR2");
    await waitFor("the SIGUSR2 sent last", () => received().includes("SIGUSR2") || undefined, { timeoutMs: 5_000 });
    expect(job.running(), "PID 1 after the signals it does not forward").toBe(true);
    job.signal("SIGTERM");
    expect((await job.waitExit()).code).toBe(0);
    expect(received()).toEqual(["SIGUSR2", "SIGTERM"]);
  });

  it("SIGUSR1 from outside and from the algorithm inside the namespace opens no inspector in PID 1", async () => {
    const job = startJob({
      algorithm: [PYTHON, path.join(FIXTURES, "record-signals.py"), "usr1-to-pid1"],
      grace: 10,
      env: { TG_RECORD_SIGNALS: JSON.stringify({ SIGUSR1: number("SIGUSR1") }) },
    });
    await job.waitReady();
    // The algorithm's own kill(1, SIGUSR1) comes back to it through the forwarding.
    await waitFor("the algorithm's SIGUSR1 to PID 1, forwarded back", () => job.testFile("signals.log")?.includes("SIGUSR1") || undefined, { timeoutMs: 5_000 });
    job.signal("SIGUSR1");
    await waitFor("the outside SIGUSR1, forwarded", () => (job.testFile("signals.log") ?? "").split("\n").filter((l) => l === "SIGUSR1").length === 2 || undefined, { timeoutMs: 5_000 });
    await sleep(500); // the inspector, if it opened, listens within milliseconds
    expectNoInspector(job.pid1, job.stderr());
    job.signal("SIGTERM");
    expect((await job.waitExit()).code).toBe(0);
  });

  it("the algorithm starts with no blocked, ignored or caught signals", async () => {
    const job = startJob({ algorithm: ["cat", "/proc/self/status"], grace: 10 });
    expect((await job.waitExit()).code).toBe(0);
    const field = (name: string): string | undefined => new RegExp(`^${name}:\\s*([0-9a-f]+)$`, "m").exec(job.stdout())?.[1];
    expect({ SigBlk: field("SigBlk"), SigIgn: field("SigIgn"), SigCgt: field("SigCgt") }).toEqual({ SigBlk: "0".repeat(16), SigIgn: "0".repeat(16), SigCgt: "0".repeat(16) });
  });
});

describe("no inspector on SIGUSR1 outside the supervisor", () => {
  /** Starts a Node process, waits until `ready(pid)`, sends it SIGUSR1 and reports the ports that opened since. */
  async function spawnAndSignal(args: readonly string[], ready: (pid: number) => boolean, env: Record<string, string> = {}): Promise<{ stderr: string; ports: number[]; alive: boolean }> {
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.resume();
    try {
      const pid = child.pid ?? 0;
      await waitFor("the process to be ready", () => ready(pid) || undefined, { timeoutMs: 20_000 });
      const before = listeningTcpPorts(pid);
      child.kill("SIGUSR1");
      await sleep(500);
      const ports = listeningTcpPorts(pid).filter((port) => !before.includes(port));
      return { stderr, ports, alive: child.exitCode === null && child.signalCode === null };
    } finally {
      child.kill("SIGKILL");
    }
  }

  it("`trainguard s3 serve` (a verb without the supervisor) keeps the inspector shut", async () => {
    const dir = path.join(scratch, "s3");
    const child = await spawnAndSignal([ENTRY, "s3", "serve", "--port", "0", "--dir", dir], (pid) => listeningTcpPorts(pid).length > 0);
    expect(child.alive).toBe(true);
    expect(child.ports).toEqual([]);
    expect(child.stderr).not.toContain("Debugger listening");
  });

  it("runTraining in-process keeps the inspector shut", async () => {
    const testDir = path.join(scratch, "library");
    mkdirSync(testDir, { recursive: true });
    const child = await spawnAndSignal([path.join(FIXTURES, "library-idle.mjs")], () => existsSync(path.join(testDir, "ready")), { TG_TEST_DIR: testDir, TG_ML_ROOT: path.join(testDir, "ml") });
    expect(child.alive).toBe(true);
    expect(child.ports).toEqual([]);
    expect(child.stderr).not.toContain("Debugger listening");
  });
});
