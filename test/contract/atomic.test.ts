import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { writeFileAtomic, writeFileAtomicSync } from "../../src/contract/index.js";

const dirs: string[] = [];
const tempDir = (): string => {
  const dir = mkdtempSync(path.join(tmpdir(), "tg-atomic-"));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe.each([
  ["writeFileAtomic", (file: string, data: string, durable: boolean) => writeFileAtomic(file, data, durable)],
  ["writeFileAtomicSync", async (file: string, data: string, durable: boolean) => writeFileAtomicSync(file, data, { durable })],
] as const)("%s", (_name, write) => {
  it.each([false, true])("replaces the file whole and leaves no temporary beside it (durable: %s)", async (durable) => {
    const dir = tempDir();
    const file = path.join(dir, "status.json");
    await write(file, "old\n", durable);
    await write(file, "new\n", durable);
    expect(readFileSync(file, "utf8")).toBe("new\n");
    expect(readdirSync(dir)).toEqual(["status.json"]);
  });

  it("fails on a missing directory without leaving anything", async () => {
    const dir = tempDir();
    await expect(write(path.join(dir, "gone", "status.json"), "x", false)).rejects.toMatchObject({ code: "ENOENT" });
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe("writeFileAtomicSync createDir", () => {
  it("makes a missing directory and writes the file", () => {
    const file = path.join(tempDir(), "a", "b", "stop-request.json");
    writeFileAtomicSync(file, "{}\n", { createDir: true });
    expect(readFileSync(file, "utf8")).toBe("{}\n");
    expect(readdirSync(path.dirname(file))).toEqual(["stop-request.json"]);
  });
});
