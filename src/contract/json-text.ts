import { isUtf8 } from "node:buffer";
import { ConfigError, errorMessage } from "./errors.js";

/** Deeper than any configuration needs, far shallower than what overflows JSON.stringify's stack. */
export const MAX_JSON_DEPTH = 256;

/**
 * Decodes a config file's bytes as RFC 8259 JSON text: UTF-8 only (no byte order mark, no invalid
 * sequence silently turned into U+FFFD), parse errors quoted with their invisible characters
 * escaped, and no string holding a NUL byte (it cannot reach the algorithm's environment).
 */
export function parseJsonFile(bytes: Buffer, file: string): unknown {
  if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    throw new ConfigError(file, undefined, "starts with a UTF-8 byte order mark (bytes EF BB BF), which JSON does not allow (RFC 8259): save it as UTF-8 without BOM");
  }
  const invalidAt = firstInvalidUtf8(bytes);
  if (invalidAt !== -1) {
    throw new ConfigError(file, undefined, `is not valid UTF-8 at byte offset ${invalidAt} (byte 0x${(bytes[invalidAt] ?? 0).toString(16).padStart(2, "0")}); JSON must be UTF-8 (RFC 8259)`);
  }
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString("utf8"));
  } catch (err) {
    throw new ConfigError(file, undefined, `is not valid JSON: ${printable(errorMessage(err))}`);
  }
  checkJsonValue(value, file, undefined);
  return value;
}

/**
 * Walks a parsed value without recursion: refuses nesting deeper than MAX_JSON_DEPTH and strings
 * (keys too) holding a NUL byte, naming the field (`top`, or `top.inner[2]`).
 */
export function checkJsonValue(value: unknown, file: string, field: string | undefined): void {
  const stack: Array<{ value: unknown; path: string | undefined; depth: number }> = [{ value, path: field, depth: 0 }];
  while (stack.length > 0) {
    const { value: current, path, depth } = stack.pop() as { value: unknown; path: string | undefined; depth: number };
    if (typeof current === "string") {
      if (current.includes("\0")) throw new ConfigError(file, path, "contains a NUL byte (\\u0000), which no environment variable or argument can carry");
      continue;
    }
    if (typeof current !== "object" || current === null) continue;
    // Named by its top-level field: the full path of a deep value is as unreadable as the value.
    if (depth >= MAX_JSON_DEPTH) throw new ConfigError(file, field ?? path?.split(/[.[]/)[0], `nests deeper than ${MAX_JSON_DEPTH} levels`);
    if (Array.isArray(current)) {
      current.forEach((item, i) => stack.push({ value: item, path: `${path ?? ""}[${i}]`, depth: depth + 1 }));
      continue;
    }
    for (const [key, item] of Object.entries(current)) {
      const itemPath = path === undefined ? key : `${path}.${key}`;
      if (key.includes("\0")) throw new ConfigError(file, printable(itemPath), "has a name containing a NUL byte (\\u0000)");
      stack.push({ value: item, path: itemPath, depth: depth + 1 });
    }
  }
}

/** Control characters, the BOM and other invisible code points as \uXXXX, so a message shows them. */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028\u2029\ufeff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** Offset of the first byte that is not part of a well-formed UTF-8 sequence, or -1. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  if (isUtf8(bytes)) return -1;
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] as number;
    if (b < 0x80) {
      i += 1;
      continue;
    }
    const [length, min, max] = b >= 0xc2 && b <= 0xdf ? [2, 0x80, 0xbf] : b === 0xe0 ? [3, 0xa0, 0xbf] : b === 0xed ? [3, 0x80, 0x9f] : b >= 0xe1 && b <= 0xef ? [3, 0x80, 0xbf] : b === 0xf0 ? [4, 0x90, 0xbf] : b >= 0xf1 && b <= 0xf3 ? [4, 0x80, 0xbf] : b === 0xf4 ? [4, 0x80, 0x8f] : [0, 0, 0];
    if (length === 0) return i;
    for (let k = 1; k < length; k += 1) {
      const c = bytes[i + k];
      const [lo, hi] = k === 1 ? [min, max] : [0x80, 0xbf];
      if (c === undefined || c < lo || c > hi) return i;
    }
    i += length;
  }
  return -1;
}
