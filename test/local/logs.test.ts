import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { CreateTrainingJobCommand, StopTrainingJobCommand, type SageMakerClient } from "@aws-sdk/client-sagemaker";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HostLogWriter, MAX_RECORD_BYTES } from "../../src/local/host-log.js";
import { ENTRY } from "../helpers/job.js";
import { waitFor } from "../helpers/wait.js";
import { algorithmImage, jobRequest, sageMaker, startServe, uniqueName, waitForJob, type Serve } from "./helpers.js";

const RECORD = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (algo-\d+) (stdout|stderr)([|+]) /;

/** The bytes one host wrote to one stream, rebuilt from its records: a "+" record's newline is not the algorithm's. */
function rebuild(records: Buffer, host: string, stream: string): Buffer {
  const out: Buffer[] = [];
  let start = 0;
  while (start < records.length) {
    const end = records.indexOf(0x0a, start);
    const rec = records.subarray(start, end + 1);
    start = end + 1;
    const m = RECORD.exec(rec.subarray(0, 64).toString("latin1"));
    if (m === null) throw new Error(`not a record: ${rec.toString()}`);
    if (m[2] !== host || m[3] !== stream) continue;
    const body = rec.subarray(m[0].length);
    out.push(m[4] === "+" ? body.subarray(0, -1) : body);
  }
  return Buffer.concat(out);
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "tg-hostlog-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("a host's log writer", () => {
  it("keeps the algorithm's bytes unchanged: lines split across chunks, binary bytes, a line longer than a record, an unfinished last line", async () => {
    const file = path.join(dir, "bytes.log");
    const writer = new HostLogWriter(file, "algo-3", 64 * 1024 * 1024);
    const [out, err] = [new PassThrough(), new PassThrough()];
    const done = Promise.all([writer.follow(out, "stdout"), writer.follow(err, "stderr")]);
    const stdout = Buffer.concat([Buffer.from("first li"), Buffer.from("ne\nsecond\r\n\n"), Buffer.from([0xff, 0x00, 0xc3, 0x0a]), Buffer.alloc(MAX_RECORD_BYTES * 2 + 10, 0x61), Buffer.from("\nend without newline")]);
    for (let i = 0; i < stdout.length; i += 777) out.write(stdout.subarray(i, i + 777));
    err.write("oops\n");
    out.end();
    err.end();
    await done;
    writer.close();
    const records = await readFile(file);
    expect(rebuild(records, "algo-3", "stdout").equals(stdout)).toBe(true);
    expect(rebuild(records, "algo-3", "stderr").toString()).toBe("oops\n");
    expect(records.toString("latin1")).toMatch(/ algo-3 stdout\| first line\n/);
  });

  it("rotates past its size bound, keeping the file and one previous generation, the newest records last", async () => {
    const file = path.join(dir, "rotate.log");
    const writer = new HostLogWriter(file, "algo-1", 4096);
    const out = new PassThrough();
    const done = writer.follow(out, "stdout");
    for (let i = 1; i <= 500; i += 1) out.write(`line ${i}\n`);
    out.end();
    await done;
    writer.close();
    expect((await stat(file)).size).toBeLessThanOrEqual(4096);
    expect((await stat(`${file}.1`)).size).toBeLessThanOrEqual(4096);
    const kept = rebuild(Buffer.concat([await readFile(`${file}.1`), await readFile(file)]), "algo-1", "stdout").toString().trim().split("\n");
    expect(kept.at(-1)).toBe("line 500");
    const numbers = kept.map((l) => Number(l.slice(5)));
    expect(numbers).toEqual(numbers.map((_, i) => (numbers[0] as number) + i));
  });
});

describe("trainguard local logs", () => {
  let serve: Serve;
  let sm: SageMakerClient;
  let image: string;
  beforeAll(async () => {
    serve = await startServe({ stopTimeout: 10 });
    sm = sageMaker(serve);
    image = await algorithmImage();
  });
  afterAll(async () => {
    sm?.destroy();
    await serve?.stop();
  });

  const logs = (name: string, ...extra: string[]) => {
    const child = spawn(process.execPath, [ENTRY, "local", "logs", name, "--data", serve.dataDir, ...extra], { stdio: ["ignore", "pipe", "pipe"] });
    const chunks: Buffer[] = [];
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => chunks.push(d));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
    return { output: () => Buffer.concat(chunks), stderr: () => stderr, exited, child };
  };
  const twoHosts = (name: string, mode: string, hps: Record<string, string>) =>
    jobRequest(name, image, mode, { ResourceConfig: { InstanceType: "ml.m5.large", InstanceCount: 2, VolumeSizeInGB: 1 }, HyperParameters: hps });

  it("after the job: the lines of both hosts, each host's stdout and stderr byte for byte and in order", async () => {
    const name = uniqueName("logs-after");
    await sm.send(new CreateTrainingJobCommand(twoHosts(name, "chatty", { lines: "200" })));
    expect(await waitForJob(sm, name)).toMatchObject({ TrainingJobStatus: "Completed" });
    // The writers end when their pipes do, just after the hosts.
    const run = await waitFor("both hosts' last lines", async () => {
      const r = logs(name);
      expect(await r.exited).toBe(0);
      const out = r.output();
      return ["algo-1", "algo-2"].every((h) => rebuild(out, h, "stdout").toString().endsWith("no newline at the end")) ? out : undefined;
    }, { timeoutMs: 10_000, intervalMs: 100 });
    for (const host of ["algo-1", "algo-2"]) {
      const lines = Array.from({ length: 200 }, (_, i) => i + 1);
      expect(rebuild(run, host, "stdout").toString()).toBe(`${lines.map((i) => `${host} out ${i}\n`).join("")}no newline at the end`);
      // stderr also carries trainguard's own log (JSON lines), as a container's does.
      const algoErr = rebuild(run, host, "stderr").toString().split("\n").filter((l) => !l.startsWith("{"));
      expect(algoErr.join("\n")).toBe(lines.map((i) => `${host} err ${i}\n`).join(""));
    }
  });

  it("while the job runs, and --follow until it ends: each host's lines in order, the stop's lines included", async () => {
    const name = uniqueName("logs-live");
    await sm.send(new CreateTrainingJobCommand(twoHosts(name, "train", { step_ms: "100" })));
    await waitForJob(sm, name, (d) => d.SecondaryStatus === "Training");
    const follow = logs(name, "--follow");
    const saved = (out: Buffer, host: string) => [...rebuild(out, host, "stdout").toString().matchAll(/algo: saved step-(\d+) \((\w+ ?\w*)\)/g)].map((m) => ({ step: Number(m[1]), label: m[2] }));
    await waitFor("two saves of each host in --follow", () => ["algo-1", "algo-2"].every((h) => saved(follow.output(), h).length >= 2), { timeoutMs: 30_000, intervalMs: 50 });
    const snapshot = logs(name);
    expect(await snapshot.exited).toBe(0);
    for (const host of ["algo-1", "algo-2"]) expect(saved(snapshot.output(), host).length).toBeGreaterThanOrEqual(2);

    await sm.send(new StopTrainingJobCommand({ TrainingJobName: name }));
    expect(await waitForJob(sm, name)).toMatchObject({ TrainingJobStatus: "Stopped" });
    // --follow ends by itself once the job has ended.
    expect(await Promise.race([follow.exited, new Promise((r) => setTimeout(() => r("still running"), 15_000))])).toBe(0);
    for (const host of ["algo-1", "algo-2"]) {
      const steps = saved(follow.output(), host);
      expect(steps.map((s) => s.step)).toEqual(steps.map((_, i) => i + 1));
      expect(steps.at(-1)?.label).toBe("on stop");
    }
  });

  it("refuses a job that does not exist, naming it", async () => {
    const r = logs("no-such-job");
    expect(await r.exited).toBe(2);
    expect(r.stderr()).toContain(`no job "no-such-job" in ${serve.dataDir}`);
  });
});
