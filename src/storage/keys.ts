/**
 * Why a "/"-separated key is unsafe to map onto a filesystem, or undefined when it is fine:
 * absolute, empty segments ("a//b", trailing "/"), "." or "..", NUL.
 */
export function checkKeySegments(key: string): string | undefined {
  if (key.startsWith("/")) return "must not start with /";
  if (key.includes("\0")) return "must not contain NUL";
  for (const segment of key.split("/")) {
    if (segment === "") return "must not contain empty segments (// or a trailing /)";
    if (segment === "." || segment === "..") return `must not contain a "${segment}" segment`;
  }
  return undefined;
}

/**
 * The path of `key` relative to `prefix`, safe to join onto a local directory: throws when the key
 * is not under the prefix, or when what remains is empty, absolute, or has empty, "." or ".."
 * segments. Downloads of a remote listing go through this so that a hostile or corrupt key cannot
 * write outside the target directory.
 */
export function safeRelativeKey(prefix: string, key: string): string {
  const base = prefix.replace(/\/+$/, "");
  let rel = key;
  if (base !== "") {
    if (!key.startsWith(`${base}/`)) throw new RangeError(`key ${JSON.stringify(key)} is not under prefix ${JSON.stringify(base)}`);
    rel = key.slice(base.length + 1);
  }
  if (rel === "") throw new RangeError(`key ${JSON.stringify(key)} names the prefix itself, not an object under it`);
  const problem = checkKeySegments(rel);
  if (problem !== undefined) throw new RangeError(`key ${JSON.stringify(key)} ${problem}`);
  return rel;
}
