import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { filesBeingWritten } from "../../src/artifacts/index.js";
import { freezeGroup } from "../../src/supervisor/freeze.js";

const dir = mkdtempSync(path.join(tmpdir(), "tg-freeze-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * open(O_TRUNC) of a big file empties it first and shows no descriptor in /proc until it returns
 * (tens of ms for 160 MB here). Killing the writer in that window leaves an empty file nothing
 * else can tell from a finished one; stopping the group first lets the open complete.
 */
describe("freezeGroup: stop the writer's group, then scan", () => {
  it("a writer caught with its file emptied by the truncating open is always seen writing it once frozen", async () => {
    const file = path.join(dir, "model.pt");
    const script = "import sys\nblock = b'x' * (16 << 20)\nwhile True:\n    with open(sys.argv[1], 'wb') as f:\n        for _ in range(10): f.write(block)\n";
    const writer = spawn("/usr/bin/python3", ["-c", script, file], { detached: true, stdio: "ignore" });
    const pid = writer.pid as number;
    try {
      let caught = 0;
      const deadline = Date.now() + 40_000;
      while (caught < 5 && Date.now() < deadline) {
        let size = -1;
        try {
          size = statSync(file).size;
        } catch {
          // not created yet
        }
        if (size !== 0) continue;
        expect(await freezeGroup(pid, 2_000)).toBe(true);
        const writing = await filesBeingWritten(dir);
        expect([...writing.keys()], `caught #${caught + 1} with the file empty`).toEqual(["model.pt"]);
        caught++;
        process.kill(-pid, "SIGCONT");
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(caught).toBe(5);
    } finally {
      process.kill(-pid, "SIGKILL");
    }
  }, 60_000);
});
