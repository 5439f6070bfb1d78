import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { rehearseStopRequest, writeStopRequest } from "../../src/job/stop-request.js";

const request = {
  signal: "SIGTERM",
  requestedAt: "2026-11-27T12:00:00.000Z",
  deadline: "2026-11-27T12:02:00.000Z",
  checkpointDeadline: "2026-11-27T12:01:50.000Z",
  graceSeconds: 120,
};

describe("stop-request.json", () => {
  const dirs: string[] = [];
  const tempDir = (): string => {
    const dir = mkdtempSync(path.join(tmpdir(), "tg-stopreq-"));
    dirs.push(dir);
    return dir;
  };
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it("is written whole under its final name, with no temporary left beside it", () => {
    const dir = tempDir();
    const file = path.join(dir, "stop-request.json");
    writeStopRequest(file, request);
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual(request);
    expect(readdirSync(dir)).toEqual(["stop-request.json"]);
  });

  it("makes its directory again when something removed it after start-up", () => {
    const dir = tempDir();
    const file = path.join(dir, "gone", "trainguard", "stop-request.json");
    writeStopRequest(file, request);
    expect(JSON.parse(readFileSync(file, "utf8")).deadline).toBe(request.deadline);
  });

  it("the start-up rehearsal leaves nothing a polling algorithm could mistake for a stop", () => {
    const dir = tempDir();
    const file = path.join(dir, "stop-request.json");
    rehearseStopRequest(file, 120);
    expect(readdirSync(dir)).toEqual([]);
  });
});
