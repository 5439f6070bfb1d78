import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { algorithmImage, startServe, uniqueName, type Serve } from "./helpers.js";

// Debian's Python with Debian's boto3 (python3-boto3, installed by .ci/run), by full path: the
// python3 first on PATH on some machines is another one.
const PYTHON = "/usr/bin/python3";
let serve: Serve;

beforeAll(async () => {
  serve = await startServe({ stopTimeout: 10 });
});
afterAll(async () => {
  await serve?.stop();
});

describe("boto3", () => {
  it("creates, stops (HTTP 200), waits for Stopped, and gets the seed's errors with their codes and statuses", async () => {
    const name = uniqueName("boto3");
    const env = { PATH: "/usr/bin:/bin", HOME: serve.dataDir, AWS_ACCESS_KEY_ID: serve.env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: serve.env.AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION: serve.env.AWS_DEFAULT_REGION };
    const script = fileURLToPath(new URL("./fixtures/boto3-stop.py", import.meta.url));
    const { stdout } = await promisify(execFile)(PYTHON, [script, serve.endpoint, await algorithmImage(), name], { env, timeout: 60_000 });
    const seen = JSON.parse(stdout) as Record<string, unknown>;
    expect(seen).toMatchObject({ stopStatus: 200, status: "Stopped", model: `s3://sagemaker-local/jobs/${name}/output/model.tar.gz` });
    expect(seen.transitions).toEqual(["Starting", "Training", "Stopping", "Uploading", "Stopped"]);
    expect(seen.errors).toEqual({
      unknown: ["ResourceNotFound", 400, expect.any(String)],
      long: ["ValidationException", 400, `1 validation error detected: Value '${"a".repeat(64)}' at 'trainingJobName' failed to satisfy constraint: Member must have length less than or equal to 63`],
      pattern: ["ValidationException", 400, "1 validation error detected: Value 'bad_name' at 'trainingJobName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9])*"],
    });
  });
});
