import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/log/index.js";
import { WriteGuard } from "../../src/supervisor/write-guard.js";

const root = mkdtempSync(path.join(tmpdir(), "tg-write-guard-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function until(what: string, probe: () => boolean, timeoutMs = 20_000): Promise<void> {
  const start = Date.now();
  while (!probe()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Writes model.pt whole (1 MiB) and closes it, waits for "go", then rewrites half of it and hangs. */
const WRITER = `
import os, sys, time
d, go = sys.argv[1], sys.argv[2]
with open(os.path.join(d, "model.pt"), "wb") as f:
    f.write(b"v1" * (512 << 10))
while not os.path.exists(go):
    time.sleep(0.01)
with open(os.path.join(d, "model.pt"), "wb") as f:
    f.write(b"v2" * (128 << 10))
    f.flush()
    open(go + ".half", "w").close()
    time.sleep(3600)
`;

describe("WriteGuard: writes that did not finish, whatever ended the writer", () => {
  it("a writer killed by a signal mid-rewrite: model.pt is unfinished, and its first version was kept intact", async () => {
    const dir = path.join(root, "ck");
    mkdirSync(dir);
    const log = await createLogger({ level: "silent" });
    const guard = await WriteGuard.start(dir, path.join(root, "intact"), "auto", log);
    const go = path.join(root, "go");
    const writer = spawn("/usr/bin/python3", ["-c", WRITER, dir, go], { stdio: "ignore" });
    const exited = new Promise<number>((resolve) => writer.once("exit", () => resolve(Date.now())));
    try {
      const kept = path.join(root, "intact", "model.pt");
      await until("the intact copy", () => existsSync(kept) && statSync(kept).size === 1 << 20);
      mkdirSync(go);
      await until("the half rewrite", () => existsSync(`${go}.half`));
      guard.stopForwarded(Date.now());
      writer.kill("SIGTERM");
      const seenAt = await exited;
      const verdict = guard.guard({ exitCode: null, signal: "SIGTERM" }, seenAt);
      expect([...(verdict.unfinished ?? new Map()).keys()]).toEqual(["model.pt"]);
      expect(verdict.intactCopies?.get("model.pt")).toMatchObject({ abs: kept, size: 1 << 20 });
    } finally {
      writer.kill("SIGKILL");
      guard.close();
    }
  });

  it("a writer that exited 0 with the file still open (the kernel closed it): nothing is unfinished", async () => {
    const dir = path.join(root, "ck2");
    mkdirSync(dir);
    const log = await createLogger({ level: "silent" });
    const guard = await WriteGuard.start(dir, path.join(root, "intact2"), "off", log);
    const script = "import os, sys\nf = open(sys.argv[1], 'wb')\nf.write(b'x' * 4096)\nf.flush()\nos._exit(0)";
    const writer = spawn("/usr/bin/python3", ["-c", script, path.join(dir, "model.pt")], { stdio: "ignore" });
    const seenAt = await new Promise<number>((resolve) => writer.once("exit", () => resolve(Date.now())));
    guard.groupKilled();
    const verdict = guard.guard({ exitCode: 0, signal: null }, seenAt);
    expect([...(verdict.unfinished ?? new Map()).keys()]).toEqual([]);
    expect(verdict.intactCopies).toBeUndefined();
    expect(existsSync(path.join(root, "intact2"))).toBe(false);
  });
});
