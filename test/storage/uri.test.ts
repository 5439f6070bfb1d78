import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/contract/index.js";
import { joinKey, keyUri, parseStorageUri, safeRelativeKey } from "../../src/storage/index.js";

function configError(uri: string): ConfigError {
  try {
    parseStorageUri(uri, "--output");
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`${uri} was accepted`);
}

describe("parseStorageUri", () => {
  it("reads s3://bucket/prefix, dropping trailing slashes", () => {
    expect(parseStorageUri("s3://my-bucket/jobs/run-1/", "--output")).toEqual({
      kind: "s3",
      bucket: "my-bucket",
      prefix: "jobs/run-1",
      uri: "s3://my-bucket/jobs/run-1",
    });
    expect(parseStorageUri("s3://my.bucket.1", "--output")).toEqual({ kind: "s3", bucket: "my.bucket.1", prefix: "", uri: "s3://my.bucket.1" });
    expect(parseStorageUri("S3://abc/", "--output")).toMatchObject({ bucket: "abc", prefix: "" });
  });

  it("reads file:///abs/dir and normalises it", () => {
    expect(parseStorageUri("file:///tmp/out/../models/", "--output")).toEqual({ kind: "file", dir: "/tmp/models", prefix: "", uri: "file:///tmp/models" });
    expect(parseStorageUri("file://localhost/srv/a%20b", "--output")).toMatchObject({ kind: "file", dir: "/srv/a b" });
  });

  it.each([
    ["/abs/path", /not a storage URI/],
    ["models", /not a storage URI/],
    ["https://example.com/x", /not a storage URI/],
    ["gs://bucket/x", /not a storage URI/],
    ["s3:/bucket", /starts with s3:\/\//],
    ["s3://", /bucket name is missing/],
    ["s3:///prefix", /bucket name is missing/],
    ["s3://ab/x", /3 to 63 characters/],
    ["s3://My-Bucket/x", /lowercase letters/],
    ["s3://bucket_name", /lowercase letters/],
    ["s3://-bucket", /starting and ending/],
    ["s3://a..b", /two adjacent dots/],
    ["s3://192.168.1.10", /IP address/],
    ["s3://xn--bucket", /reserved "xn--"/],
    ["s3://bucket-s3alias", /reserved "-s3alias"/],
    [`s3://${"a".repeat(64)}`, /3 to 63 characters/],
    ["s3://bucket/a//b", /empty segments/],
    ["s3://bucket/a/../b", /"\.\." segment/],
    ["file://relative/dir", /three slashes.*"relative" was read as a host/],
    ["file:///tmp/x?y=1", /no query or fragment/],
    ["file:///tmp/x#frag", /no query or fragment/],
  ])("refuses %s, naming the option", (uri, problem) => {
    const error = configError(uri);
    expect(error.source).toBe("--output");
    expect(error.message).toMatch(/^--output: /);
    expect(error.problem).toMatch(problem);
  });
});

describe("joinKey and keyUri", () => {
  const s3 = parseStorageUri("s3://bucket/base", "x");
  const file = parseStorageUri("file:///data/out", "x");

  it("joins parts under the prefix", () => {
    expect(joinKey(s3, "job-1", "output", "model.tar.gz")).toBe("base/job-1/output/model.tar.gz");
    expect(joinKey(s3, "job-1/output")).toBe("base/job-1/output");
    expect(joinKey(file, "job-1", "output", "model.tar.gz")).toBe("job-1/output/model.tar.gz");
    expect(keyUri(s3, "base/k")).toBe("s3://bucket/base/k");
    expect(keyUri(file, "job/a b")).toBe("file:///data/out/job/a%20b");
  });

  it("refuses empty, . and .. segments", () => {
    expect(() => joinKey(s3, "a", "..", "b")).toThrow(/"\.\." segment/);
    expect(() => joinKey(s3, "a//b")).toThrow(/empty segments/);
    expect(() => joinKey(file, "/etc/passwd")).toThrow(/must not start with \//);
    expect(() => joinKey(file)).toThrow(/is empty/);
  });
});

describe("safeRelativeKey", () => {
  it("gives the path under the prefix", () => {
    expect(safeRelativeKey("ckpt", "ckpt/step-10/model.pt")).toBe("step-10/model.pt");
    expect(safeRelativeKey("ckpt/", "ckpt/a")).toBe("a");
    expect(safeRelativeKey("", "a/b")).toBe("a/b");
  });

  it.each([
    ["ckpt", "ckpt/../etc/passwd", /"\.\." segment/],
    ["ckpt", "ckpt/a/../../b", /"\.\." segment/],
    ["ckpt", "ckpt/./a", /"\." segment/],
    ["", "/etc/passwd", /must not start with \//],
    ["ckpt", "ckpt//etc/passwd", /must not start with \//],
    ["ckpt", "ckpt/a//b", /empty segments/],
    ["ckpt", "ckpt/a/", /empty segments/],
    ["ckpt", "ckpt/", /names the prefix itself/],
    ["ckpt", "ckptx/a", /not under prefix/],
    ["ckpt", "other/a", /not under prefix/],
    ["", "a\0b", /NUL/],
  ])("with prefix %j refuses %j", (prefix, key, problem) => {
    expect(() => safeRelativeKey(prefix, key)).toThrow(problem);
  });
});
