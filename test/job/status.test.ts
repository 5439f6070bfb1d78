import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { StatusFile, type JobStatusDocument } from "../../src/job/index.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "tg-status-"));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const read = async (file: string) => JSON.parse(await readFile(file, "utf8")) as JobStatusDocument;

describe("StatusFile", () => {
  it("records each lifecycle step once, with timestamps, and the newest write wins", async () => {
    const file = path.join(dir, "output", "trainguard", "status.json");
    const status = new StatusFile(file, { jobName: "job-1", command: ["train"] });
    void status.transition("InProgress", "Training");
    void status.transition("Stopping", "Stopping");
    void status.transition("Stopping", "Stopping");
    void status.update({ exitCode: 0 });
    await status.transition("Stopped", "Stopped", "done");
    const doc = await read(file);
    expect(doc.TrainingJobName).toBe("job-1");
    expect(doc.TrainingJobStatus).toBe("Stopped");
    expect(doc.exitCode).toBe(0);
    expect(doc.transitions.map((t) => t.secondaryStatus)).toEqual(["Starting", "Training", "Stopping", "Stopped"]);
    expect(doc.transitions.every((t) => !Number.isNaN(Date.parse(t.at)))).toBe(true);
    expect(await readdir(path.dirname(file))).toEqual(["status.json"]);
  });

  it("writes synchronously for a forced exit", async () => {
    const file = path.join(dir, "status.json");
    const status = new StatusFile(file, { jobName: null, command: [] });
    status.transitionSync("Stopped", "Stopped", "deadline", { trainguardExitCode: 137 });
    const doc = await read(file);
    expect(doc.TrainingJobStatus).toBe("Stopped");
    expect(doc.trainguardExitCode).toBe(137);
  });
});

describe("StatusFile when the output dir cannot be written", () => {
  it("reports each failed write, never rejects, and the next change writes the whole document again", async () => {
    const { writeFile, unlink } = await import("node:fs/promises");
    const blocker = path.join(dir, "output");
    await writeFile(blocker, "a regular file where the output dir belongs");
    const errors: string[] = [];
    const file = path.join(blocker, "trainguard", "status.json");
    const status = new StatusFile(file, { jobName: "j", command: ["x"], onWriteError: (err) => errors.push((err as NodeJS.ErrnoException).code ?? "?") });
    await expect(status.transition("InProgress", "Training")).resolves.toBeUndefined();
    expect(() => status.transitionSync("Stopping", "Stopping", "stop", {})).not.toThrow();
    expect(errors).toEqual(["ENOTDIR", "ENOTDIR"]);
    await unlink(blocker);
    await status.transition("Stopped", "Stopped");
    const written = JSON.parse(await readFile(file, "utf8")) as JobStatusDocument;
    expect(written.transitions.map((t) => t.secondaryStatus)).toEqual(["Starting", "Training", "Stopping", "Stopped"]);
  });
});
