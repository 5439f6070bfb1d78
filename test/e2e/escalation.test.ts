import { expect, it } from "vitest";
import { STOPPED_WHILE_TRAINING, expectEventOrder, expectTransitions } from "../helpers/assertions.js";
import { LANGUAGES, algorithm, describeE2E, expectedReserveMs } from "../helpers/e2e.js";
import { ms, startJob, type Job } from "../helpers/job.js";
import { hostPidOf, isAlive, processesWithMarker } from "../helpers/procfs.js";
import { sleep } from "../helpers/wait.js";

/** Host pid of the algorithm (the leader trainguard spawned), from the pid in status.json. */
async function algorithmHostPid(job: Job): Promise<number> {
  return job.waitUntil("the algorithm's host pid", () => {
    const nsPid = job.readStatus()?.pid;
    return nsPid ? hostPidOf(job.pid1, nsPid) : undefined;
  });
}

/** Polls every 2 ms until `pid` is dead (gone or a zombie); resolves with the epoch ms it was first seen dead. */
async function deathOf(pid: number, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (isAlive(pid)) {
    if (Date.now() - start > timeoutMs) throw new Error(`pid ${pid} still alive after ${timeoutMs} ms`);
    await sleep(2);
  }
  return Date.now();
}

/** The job's processes other than unshare and trainguard. */
function algorithmProcesses(job: Job): ReturnType<typeof processesWithMarker> {
  return processesWithMarker(job.marker, [job.unsharePid, job.pid1]).filter((p) => p.state !== "Z");
}

describeE2E("escalation: the algorithm ignores SIGTERM", () => {
  const GRACE = 3;
  for (const lang of LANGUAGES) {
    it(`${lang}: SIGKILLed at the checkpoint deadline -> exit 137, Stopped, escalated, trainguard done before the deadline`, async () => {
      const job = startJob({ algorithm: algorithm(lang, "ignore"), grace: GRACE });
      await job.waitReady();
      const algoPid = await algorithmHostPid(job);

      const sentAt = job.signal("SIGTERM");
      const killedAt = await deathOf(algoPid, GRACE * 1000 + 2_000);
      const exit = await job.waitExit();

      const request = job.stopRequest();
      expect(request).toBeDefined();
      if (!request) return;
      const requestedAt = ms(request.requestedAt);
      const deadline = ms(request.deadline);
      const checkpointDeadline = ms(request.checkpointDeadline);
      expect(requestedAt).toBeGreaterThanOrEqual(sentAt - 5);
      expect(deadline - requestedAt).toBe(GRACE * 1000);
      expect(deadline - checkpointDeadline).toBe(expectedReserveMs(GRACE)); // 1.5 s with --grace 3
      // Killed at the checkpoint deadline: not before it, and by the escalation (checked below).
      expect(killedAt).toBeGreaterThanOrEqual(checkpointDeadline - 20);
      // trainguard itself is gone before the deadline.
      expect(exit.at).toBeLessThan(deadline);
      expect(exit.code).toBe(137);
      expect(exit.pid1Signaled).toBe(false);

      const status = job.status();
      expectTransitions(status, STOPPED_WHILE_TRAINING);
      expect(status).toMatchObject({
        escalated: true,
        exitCode: null,
        signal: "SIGKILL",
        trainguardExitCode: 137,
        deadline: request.deadline,
        checkpointDeadline: request.checkpointDeadline,
      });
      expect(ms(status.endedAt)).toBeLessThan(deadline);
      expectEventOrder(job, ["algorithm.start", "stop.requested", "stop.forwarded", "algorithm.escalate", "algorithm.exit", "job.end"]);
      const escalate = job.eventsOf("algorithm.escalate")[0];
      const escalatedAt = ms(escalate?.time as string);
      expect(escalatedAt).toBeGreaterThanOrEqual(checkpointDeadline - 20);
      // Alive until the escalation, dead before trainguard ended: the SIGKILL at the checkpoint
      // deadline is what ended it (the clocks are the same machine's; 5 ms for rounding).
      expect(killedAt).toBeGreaterThanOrEqual(escalatedAt - 5);
      expect(killedAt).toBeLessThanOrEqual(exit.at);
      expect(algorithmProcesses(job)).toEqual([]);
    });
  }
});

describeE2E("process trees: children and grandchildren that ignore SIGTERM", () => {
  it("sh: leader, children and grandchildren (one in its own session) all ignore SIGTERM -> all gone after the job", async () => {
    const job = startJob({ algorithm: algorithm("sh", "forkers"), grace: 3 });
    await job.waitReady();
    const before = algorithmProcesses(job);
    // leader + 2 children + 4 grandchildren + 1 setsid grandchild (+ the leader's idle sleep)
    expect(before.length, JSON.stringify(before)).toBeGreaterThanOrEqual(8);
    const leaderGroup = await algorithmHostPid(job);
    expect(before.some((p) => p.pgid !== leaderGroup), "one process left the algorithm's process group").toBe(true);

    job.signal("SIGTERM");
    const exit = await job.waitExit();
    expect(exit.code).toBe(137);
    expect(job.status()).toMatchObject({ TrainingJobStatus: "Stopped", escalated: true, signal: "SIGKILL" });
    expect(processesWithMarker(job.marker)).toEqual([]);
  });

  it("python: leader exits 0 on SIGTERM, its children and grandchildren ignore it -> Stopped 0 at once, all gone", async () => {
    const GRACE = 10;
    const job = startJob({ algorithm: algorithm("python", "forkers"), grace: GRACE, env: { TG_LEADER: "exit" } });
    await job.waitReady();
    const before = algorithmProcesses(job);
    // leader + 2 children + 4 grandchildren (one of them in its own session)
    expect(before.length, JSON.stringify(before)).toBeGreaterThanOrEqual(7);

    job.signal("SIGTERM");
    const exit = await job.waitExit();
    expect(exit.code).toBe(0);
    // The group members were killed when the leader exited, not at the checkpoint deadline.
    const checkpointDeadline = job.stopRequest()?.checkpointDeadline;
    expect(checkpointDeadline).toBeDefined();
    expect(exit.at).toBeLessThan(ms(checkpointDeadline as string));
    expect(job.eventsOf("algorithm.escalate")).toEqual([]);
    expect(job.status()).toMatchObject({ TrainingJobStatus: "Stopped", escalated: false, exitCode: 0, trainguardExitCode: 0 });
    expect(processesWithMarker(job.marker)).toEqual([]);
  });
});
