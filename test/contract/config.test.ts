import { mkdtemp, mkdir, writeFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConfigError, mlPaths, readJobConfig, type MlPaths } from "../../src/contract/index.js";

let root: string;
let paths: MlPaths;

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), "tg-contract-"));
  paths = mlPaths(root);
  await mkdir(paths.inputConfigDir, { recursive: true });
});
afterEach(() => rm(root, { recursive: true, force: true }));

const write = (file: string, content: unknown) =>
  writeFile(file, typeof content === "string" ? content : JSON.stringify(content));

async function configError(): Promise<ConfigError> {
  const error = await readJobConfig(paths).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(ConfigError);
  return error as ConfigError;
}

describe("readJobConfig", () => {
  it("gives a single-host job with no channels when no config file exists", async () => {
    const config = await readJobConfig(paths);
    expect(config.resource.currentHost).toBe("algo-1");
    expect(config.resource.hosts).toEqual(["algo-1"]);
    expect(config.channels).toEqual([]);
    expect(config.hyperparameters).toEqual({});
    expect(config.checkpoint).toEqual({ localPath: undefined, s3Uri: undefined });
  });

  it("decodes each hyperparameter as JSON and keeps the raw string when it is not JSON", async () => {
    await write(paths.hyperparameters, { epochs: "10", lr: "0.01", flag: "true", name: "resnet", list: "[1,2]", quoted: '"x"', broken: "{not json" });
    const config = await readJobConfig(paths);
    expect(config.hyperparameters).toEqual({ epochs: 10, lr: 0.01, flag: true, name: "resnet", list: [1, 2], quoted: "x", broken: "{not json" });
    expect(config.rawHyperparameters.epochs).toBe("10");
  });

  it("reads hosts, channels and the checkpoint config", async () => {
    await write(paths.resourceConfig, { current_host: "algo-2", hosts: ["algo-1", "algo-2"], network_interface_name: "eth0" });
    await write(paths.inputDataConfig, { validation: { ContentType: "text/csv" }, train: { TrainingInputMode: "File" } });
    await write(paths.checkpointConfig, { LocalPath: "/opt/ml/checkpoints", S3Uri: "s3://bucket/ckpt" });
    const config = await readJobConfig(paths);
    expect(config.resource).toMatchObject({ currentHost: "algo-2", hosts: ["algo-1", "algo-2"] });
    expect(config.channels.map((c) => [c.name, c.dir])).toEqual([
      ["train", path.join(paths.dataDir, "train")],
      ["validation", path.join(paths.dataDir, "validation")],
    ]);
    expect(config.checkpoint).toEqual({ localPath: "/opt/ml/checkpoints", s3Uri: "s3://bucket/ckpt" });
  });

  const malformed: [string, (p: MlPaths) => string, unknown, string | undefined, RegExp][] = [
    ["hyperparameters that are not JSON", (p) => p.hyperparameters, "{epochs: 3", undefined, /not valid JSON/],
    ["hyperparameters that are an array", (p) => p.hyperparameters, "[1,2]", undefined, /JSON object, found an array/],
    ["a resource config that is null", (p) => p.resourceConfig, "null", undefined, /JSON object, found null/],
    ["a resource config without current_host", (p) => p.resourceConfig, { hosts: ["algo-1"] }, "current_host", /non-empty string/],
    ["hosts that are not a list", (p) => p.resourceConfig, { current_host: "algo-1", hosts: "algo-1" }, "hosts", /non-empty array/],
    ["an empty hosts list", (p) => p.resourceConfig, { current_host: "algo-1", hosts: [] }, "hosts", /non-empty array/],
    ["a current host missing from hosts", (p) => p.resourceConfig, { current_host: "algo-3", hosts: ["algo-1"] }, "current_host", /not one of hosts/],
    ["a host listed twice", (p) => p.resourceConfig, { current_host: "algo-1", hosts: ["algo-1", "algo-1"] }, "hosts", /twice/],
    ["a channel whose config is a string", (p) => p.inputDataConfig, { train: "File" }, "train", /must be a JSON object/],
    ["a channel name with a slash", (p) => p.inputDataConfig, { "../etc": {} }, "../etc", /channel name must match/],
    ["a relative checkpoint LocalPath", (p) => p.checkpointConfig, { LocalPath: "ckpt" }, "LocalPath", /absolute path/],
    ["a checkpoint LocalPath that is a number", (p) => p.checkpointConfig, { LocalPath: 3 }, "LocalPath", /non-empty string/],
    ["a checkpoint S3Uri that is not s3://", (p) => p.checkpointConfig, { S3Uri: "http://x" }, "S3Uri", /s3:\/\/bucket/],
  ];
  for (const [what, fileOf, content, field, problem] of malformed) {
    it(`names the file and field for ${what}`, async () => {
      await write(fileOf(paths), content);
      const err = await configError();
      expect(err.source).toBe(fileOf(paths));
      expect(err.field).toBe(field);
      expect(err.message).toMatch(problem);
      expect(err.message).toContain(path.basename(fileOf(paths)));
    });
  }

  it("reports an unreadable config file (a directory in its place)", async () => {
    await mkdir(paths.hyperparameters);
    const err = await configError();
    expect(err.message).toMatch(/hyperparameters\.json: must be a regular file, but it is a directory/);
  });
});
