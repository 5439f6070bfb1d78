import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { zombieChildren } from "../../src/supervisor/index.js";

describe("zombieChildren", () => {
  it("finds the zombies of a parent that never waits, from /proc", async () => {
    // `sleep 0` exits at once; its parent execs into `sleep 3`, which never reaps it.
    const parent = spawn("sh", ["-c", "sleep 0 & sleep 0 & exec sleep 3"], { stdio: "ignore" });
    try {
      let zombies: number[] = [];
      for (let i = 0; i < 100 && zombies.length < 2; i += 1) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        zombies = zombieChildren(parent.pid as number);
      }
      expect(zombies).toHaveLength(2);
      expect(zombieChildren(process.pid)).not.toContain(parent.pid);
    } finally {
      parent.kill("SIGKILL");
    }
  });
});
