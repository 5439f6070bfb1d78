import { expect, it } from "vitest";
import { FAILED_AFTER_TRAINING, expectTransitions } from "../helpers/assertions.js";
import { algorithm, describeE2E, type Language } from "../helpers/e2e.js";
import { startJob } from "../helpers/job.js";
import { hostPidOf, isAlive, namespaceProcesses, zombiesInNamespace } from "../helpers/procfs.js";
import { sleep } from "../helpers/wait.js";

const ORPHANS = 100;

describeE2E("reaping: orphans re-parented to PID 1", () => {
  for (const lang of ["sh", "python"] as const satisfies readonly Language[]) {
    it(`${lang}: ${ORPHANS} orphans exit while the algorithm runs -> no zombie left, and the algorithm's exit code 7 is still reported`, async () => {
      const job = startJob({ algorithm: algorithm(lang, "orphans"), grace: 10, env: { TG_RELEASE_AFTER_SECONDS: "1", TG_EXIT_AFTER_RELEASE_SECONDS: "2" } });
      // Forking is slow on small VMs (Python: ~20 ms per double fork here): allow for it.
      await job.waitForTestFile("orphans-forked", { timeoutMs: 15_000 });
      const nsPid = await job.waitUntil("status.json pid", () => job.readStatus()?.pid);
      const algo = hostPidOf(job.pid1, nsPid);
      expect(algo).toBeDefined();
      if (algo === undefined) return;

      // The scenario happened: the orphans are children of PID 1 now (all blocked, waiting for their release).
      const orphansOfPid1 = () => namespaceProcesses(job.pid1).filter((p) => p.ppid === job.pid1 && p.pid !== algo);
      expect(orphansOfPid1().length).toBe(ORPHANS);

      // They exit together about a second later...
      await job.waitForTestFile("orphans-released", { timeoutMs: 3_000 });
      await job.waitUntil("every orphan to exit", () => orphansOfPid1().every((p) => p.state === "Z"), { timeoutMs: 2_000 });
      // ...and PID 1 reaps them all while the algorithm still runs.
      const zombies = await job.waitUntil("no zombie in the namespace", () => zombiesInNamespace(job.pid1).length === 0 || undefined, {
        timeoutMs: 500,
        intervalMs: 5,
      }).catch((err: Error) => {
        throw new Error(`${zombiesInNamespace(job.pid1).length} zombies remain in the namespace; ${err.message}`);
      });
      expect(zombies).toBe(true);
      expect(isAlive(algo), "the algorithm is still running at the zombie check").toBe(true);
      expect(job.testFile("exiting")).toBeUndefined();
      await sleep(300);
      expect(zombiesInNamespace(job.pid1)).toEqual([]);
      expect(isAlive(algo)).toBe(true);

      const exit = await job.waitExit();
      expect(exit.code).toBe(7);
      const status = job.status();
      expectTransitions(status, FAILED_AFTER_TRAINING);
      expect(status).toMatchObject({ exitCode: 7, signal: null, trainguardExitCode: 7, stopRequestedAt: null });
      expect(status.failureReason).toEqual(expect.stringContaining("exit code 7"));
      expect(job.failureFile()).toEqual(expect.stringContaining("exit code 7"));
      expect(job.eventsOf("algorithm.exit")[0]).toMatchObject({ exitCode: 7, signal: null });
    });
  }
});
