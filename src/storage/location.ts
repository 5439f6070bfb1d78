import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { ConfigError, errorMessage } from "../contract/index.js";
import { checkKeySegments } from "./keys.js";

/**
 * Where objects live. Keys handed to an ObjectStore are relative to the store's root: the bucket
 * for S3 (so they include `prefix`), the directory for file:// (prefix is always empty there).
 */
export type StorageLocation =
  | { readonly kind: "s3"; readonly bucket: string; readonly prefix: string; readonly uri: string }
  | { readonly kind: "file"; readonly dir: string; readonly prefix: ""; readonly uri: string };

/**
 * Parse `s3://bucket[/prefix]` or `file:///absolute/dir`. `source` names the option or variable the
 * URI came from, so the ConfigError tells the user what to fix before anything starts.
 */
export function parseStorageUri(uri: string, source: string): StorageLocation {
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(uri)?.[1]?.toLowerCase();
  if (scheme === "s3") return parseS3(uri, source);
  if (scheme === "file") return parseFile(uri, source);
  throw new ConfigError(
    source,
    undefined,
    `${JSON.stringify(uri)} is not a storage URI: use s3://bucket/prefix or file:///absolute/dir`,
  );
}

function parseS3(uri: string, source: string): StorageLocation {
  // Not `new URL`: it lower-cases the host, which would let an invalid bucket name through.
  if (!/^s3:\/\//i.test(uri)) {
    throw new ConfigError(source, undefined, `${JSON.stringify(uri)}: an S3 URI starts with s3:// and then the bucket`);
  }
  const rest = uri.slice("s3://".length);
  const slash = rest.indexOf("/");
  const bucket = slash === -1 ? rest : rest.slice(0, slash);
  const problem = bucketNameProblem(bucket);
  if (problem !== undefined) throw new ConfigError(source, undefined, `${JSON.stringify(uri)}: ${problem}`);
  // Trailing slashes are how people write "a folder"; the prefix itself never ends with one.
  const prefix = slash === -1 ? "" : rest.slice(slash + 1).replace(/\/+$/, "");
  if (prefix !== "") {
    const keyProblem = checkKeySegments(prefix);
    if (keyProblem !== undefined) throw new ConfigError(source, undefined, `${JSON.stringify(uri)}: prefix ${keyProblem}`);
  }
  return { kind: "s3", bucket, prefix, uri: prefix === "" ? `s3://${bucket}` : `s3://${bucket}/${prefix}` };
}

function parseFile(uri: string, source: string): StorageLocation {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new ConfigError(source, undefined, `${JSON.stringify(uri)} is not a valid file URI`);
  }
  if (url.host !== "" && url.host !== "localhost") {
    // file://relative/dir parses with "relative" as the host: the usual mistake, so say so.
    throw new ConfigError(
      source,
      undefined,
      `${JSON.stringify(uri)}: a file URI needs an absolute path, file:///dir (three slashes); "${url.host}" was read as a host`,
    );
  }
  if (url.search !== "" || url.hash !== "") {
    throw new ConfigError(source, undefined, `${JSON.stringify(uri)}: a file URI takes no query or fragment`);
  }
  let dir: string;
  try {
    dir = fileURLToPath(url);
  } catch (err) {
    throw new ConfigError(source, undefined, `${JSON.stringify(uri)}: ${errorMessage(err)}`);
  }
  if (!path.isAbsolute(dir)) throw new ConfigError(source, undefined, `${JSON.stringify(uri)}: the path must be absolute`);
  dir = path.resolve(dir);
  return { kind: "file", dir, prefix: "", uri: pathToFileURL(dir).href };
}

/**
 * The key for `parts` under the location's prefix, e.g. joinKey(loc, job, "output", "model.tar.gz").
 * Parts may contain "/"; empty, "." and ".." segments are refused because they would make the
 * same object reachable under two names (or outside the prefix on a filesystem).
 */
export function joinKey(location: StorageLocation, ...parts: string[]): string {
  const key = [location.prefix, ...parts].filter((p) => p !== "").join("/");
  const problem = key === "" ? "is empty" : checkKeySegments(key);
  if (problem !== undefined) throw new RangeError(`object key ${JSON.stringify(key)} ${problem}`);
  return key;
}

/** The URI of `key` in a location's store (keys from joinKey already carry the prefix). */
export function keyUri(location: StorageLocation, key: string): string {
  if (location.kind === "s3") return `s3://${location.bucket}/${key}`;
  return pathToFileURL(path.join(location.dir, key)).href;
}

/**
 * S3's general-purpose bucket naming rules (the ones that make a name unusable, not the
 * recommendations): 3-63 of a-z 0-9 . -, letter or digit at both ends, no "..", not an IP address,
 * none of the reserved prefixes and suffixes.
 */
export function bucketNameProblem(bucket: string): string | undefined {
  if (bucket === "") return "the bucket name is missing";
  if (bucket.length < 3 || bucket.length > 63) return `bucket name "${bucket}" must be 3 to 63 characters`;
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(bucket)) {
    return `bucket name "${bucket}" may hold only lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit`;
  }
  if (bucket.includes("..")) return `bucket name "${bucket}" must not contain two adjacent dots`;
  if (/^\d+\.\d+\.\d+\.\d+$/.test(bucket)) return `bucket name "${bucket}" must not look like an IP address`;
  for (const reserved of ["xn--", "sthree-", "amzn-s3-demo-"]) {
    if (bucket.startsWith(reserved)) return `bucket name "${bucket}" must not start with the reserved "${reserved}"`;
  }
  for (const reserved of ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"]) {
    if (bucket.endsWith(reserved)) return `bucket name "${bucket}" must not end with the reserved "${reserved}"`;
  }
  return undefined;
}
