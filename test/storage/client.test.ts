import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { S3Client } from "@aws-sdk/client-s3";
import { ConfigError } from "../../src/contract/index.js";
import { createS3Client } from "../../src/storage/index.js";
import { payloadSigningIsRedundant } from "../../src/storage/client.js";
import { ENTRY } from "../helpers/job.js";

const made: S3Client[] = [];
afterEach(() => made.splice(0).forEach((c) => c.destroy()));

function client(...args: Parameters<typeof createS3Client>): S3Client {
  const c = createS3Client(...args);
  made.push(c);
  return c;
}

async function endpointOf(c: S3Client): Promise<string | undefined> {
  const endpoint = await c.config.endpoint?.();
  return endpoint === undefined ? undefined : `${endpoint.protocol}//${endpoint.hostname}${endpoint.port === undefined ? "" : `:${endpoint.port}`}`;
}

describe("createS3Client", () => {
  it("uses AWS defaults without an endpoint: us-east-1, virtual-hosted style, SDK checksums", async () => {
    const c = client({ env: {} });
    expect(await c.config.region()).toBe("us-east-1");
    expect(c.config.forcePathStyle).toBe(false);
    expect(await endpointOf(c)).toBeUndefined();
    expect(await c.config.maxAttempts()).toBe(3);
    expect((await c.config.retryStrategy()) as { mode?: string }).toMatchObject({ mode: "standard" });
    expect(await c.config.requestChecksumCalculation()).toBe("WHEN_SUPPORTED");
  });

  it("takes the region from AWS_REGION, then AWS_DEFAULT_REGION; an explicit one wins", async () => {
    expect(await client({ env: { AWS_REGION: "eu-west-1", AWS_DEFAULT_REGION: "us-west-2" } }).config.region()).toBe("eu-west-1");
    expect(await client({ env: { AWS_DEFAULT_REGION: "us-west-2" } }).config.region()).toBe("us-west-2");
    expect(await client({ region: "ap-south-1", env: { AWS_REGION: "eu-west-1" } }).config.region()).toBe("ap-south-1");
  });

  it("takes the endpoint from the option, then AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL, and sets path style and WHEN_REQUIRED checksums", async () => {
    const env = { AWS_ENDPOINT_URL_S3: "http://127.0.0.1:9001", AWS_ENDPOINT_URL: "http://127.0.0.1:9002" };
    expect(await endpointOf(client({ endpoint: "http://127.0.0.1:9000", env }))).toBe("http://127.0.0.1:9000");
    expect(await endpointOf(client({ env }))).toBe("http://127.0.0.1:9001");
    const generic = client({ env: { AWS_ENDPOINT_URL: "http://127.0.0.1:9002" } });
    expect(await endpointOf(generic)).toBe("http://127.0.0.1:9002");
    expect(generic.config.forcePathStyle).toBe(true);
    expect(await generic.config.requestChecksumCalculation()).toBe("WHEN_REQUIRED");
    expect(await generic.config.responseChecksumValidation()).toBe("WHEN_REQUIRED");
  });

  it("uses keys from the given env", async () => {
    const c = client({ env: { AWS_ACCESS_KEY_ID: "AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY: "secret", AWS_SESSION_TOKEN: "token" } });
    const credentials = await c.config.credentials();
    expect(credentials).toMatchObject({ accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret", sessionToken: "token" });
  });

  it.each([
    ["AWS_ENDPOINT_URL_S3", "not a url", /not a valid URL/],
    ["AWS_ENDPOINT_URL_S3", "ftp://host", /http:\/\/ or https:\/\//],
    ["AWS_ENDPOINT_URL", "http://user:hunter2@host:9000", /must not carry credentials/],
  ])("refuses %s=%s with a ConfigError that does not echo it", (name, value, problem) => {
    let error: unknown;
    try {
      createS3Client({ env: { [name]: value } });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).source).toBe(name);
    expect((error as ConfigError).message).toMatch(problem);
    expect((error as ConfigError).message).not.toContain(value);
  });
});

describe("payloadSigningIsRedundant", () => {
  it("is true where TLS or loopback already protects the bytes, false for plain http to another host", () => {
    expect(payloadSigningIsRedundant(undefined)).toBe(true);
    expect(payloadSigningIsRedundant("https://minio.example.com:9000")).toBe(true);
    expect(payloadSigningIsRedundant("http://127.0.0.1:4568")).toBe(true);
    expect(payloadSigningIsRedundant("http://127.8.9.10")).toBe(true);
    expect(payloadSigningIsRedundant("http://localhost:9000")).toBe(true);
    expect(payloadSigningIsRedundant("http://[::1]:9000")).toBe(true);
    expect(payloadSigningIsRedundant("http://minio.internal:9000")).toBe(false);
    expect(payloadSigningIsRedundant("http://10.0.0.5:9000")).toBe(false);
    expect(payloadSigningIsRedundant("http://127.0.0.1.nip.io")).toBe(false);
  });
});


describe("the AWS SDK's notice about the Node versions its future releases need", () => {
  const NOTICE = /NodeVersionSupportWarning/;
  const nodeMajor = Number(process.versions.node.split(".")[0]);

  it("is printed by a client constructed bare on this Node (when older than 22), so the check below can see it", () => {
    if (nodeMajor >= 22) {
      // The SDK has nothing to say on Node 22 and newer: no notice to suppress.
      expect(nodeMajor).toBeGreaterThanOrEqual(22);
      return;
    }
    const script = 'const { S3Client } = require("@aws-sdk/client-s3"); new S3Client({ region: "us-east-1" });';
    const result = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", env: { PATH: process.env.PATH ?? "" } });
    expect(result.stderr).toMatch(NOTICE);
  });

  it("is not in the log of a job whose --output is on S3, and the algorithm's environment does not carry its switch", () => {
    const mlRoot = mkdtempSync(path.join(tmpdir(), "tg-sdk-notice-"));
    try {
      const result = spawnSync(
        process.execPath,
        [ENTRY, "run", "--ml-root", mlRoot, "--grace", "5", "--output", "s3://bucket/prefix", "--s3-endpoint", "http://127.0.0.1:9", "--", "sh", "-c", 'echo "switch=${AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED-unset}"'],
        { encoding: "utf8", env: { PATH: process.env.PATH ?? "", AWS_ACCESS_KEY_ID: "a", AWS_SECRET_ACCESS_KEY: "b", AWS_REGION: "us-east-1" }, timeout: 30_000 },
      );
      expect(result.status, result.stderr).toBe(0);
      expect(result.stdout).toContain("switch=unset");
      expect(result.stderr).not.toMatch(NOTICE);
    } finally {
      rmSync(mlRoot, { recursive: true, force: true });
    }
  });
});
