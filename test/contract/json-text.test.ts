import { describe, expect, it } from "vitest";
import { ConfigError, firstInvalidUtf8, MAX_JSON_DEPTH, parseJsonFile, printable } from "../../src/contract/index.js";

const bytes = (...parts: Array<string | number[]>): Buffer => Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p) : Buffer.from(p))));

describe("config JSON text (RFC 8259: UTF-8, no BOM)", () => {
  it.each([
    ["a lone continuation byte", bytes("ab", [0x80]), 2],
    ["0xff", bytes('{"', [0xff]), 2],
    ["an overlong slash", bytes("x", [0xc0, 0xaf]), 1],
    ["a surrogate", bytes("xy", [0xed, 0xa0, 0x80]), 2],
    ["a sequence cut at the end", bytes("abc", [0xe2, 0x82]), 3],
    ["above U+10FFFF", bytes([0xf4, 0x90, 0x80, 0x80]), 0],
  ])("finds the offset of %s", (_name, input, offset) => {
    expect(firstInvalidUtf8(input)).toBe(offset);
  });

  it("accepts well-formed multi-byte text", () => {
    expect(firstInvalidUtf8(Buffer.from('{"λ":"日本語 🎉"}'))).toBe(-1);
  });

  it("refuses a BOM with a message that shows no invisible character", () => {
    const err = (() => {
      try {
        parseJsonFile(bytes([0xef, 0xbb, 0xbf], "{}"), "/x/h.json");
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error("accepted");
    })();
    expect(err.message).toBe("/x/h.json: starts with a UTF-8 byte order mark (bytes EF BB BF), which JSON does not allow (RFC 8259): save it as UTF-8 without BOM");
  });

  it("quotes JSON.parse's message with invisible characters escaped", () => {
    expect(() => parseJsonFile(bytes("[1,\u0001]"), "/x/h.json")).toThrow(/is not valid JSON: Unexpected token '\\u0001'/);
    expect(() => parseJsonFile(bytes("[\u200b]"), "/x/h.json")).toThrow(/is not valid JSON: Unexpected token '\\u200b'/);
    expect(printable("a\ufeffb\u0000")).toBe("a\\ufeffb\\u0000");
  });

  it("refuses nesting deeper than the limit, naming the top-level field, without overflowing the stack", () => {
    const deep = `{"a":{"b":${"[".repeat(100_000)}${"]".repeat(100_000)}}}`;
    expect(() => parseJsonFile(Buffer.from(deep), "/x/h.json")).toThrow(`/x/h.json: field "a": nests deeper than ${MAX_JSON_DEPTH} levels`);
    const fine = `{"a":${"[".repeat(MAX_JSON_DEPTH - 1)}${"]".repeat(MAX_JSON_DEPTH - 1)}}`;
    expect(parseJsonFile(Buffer.from(fine), "/x/h.json")).toBeTypeOf("object");
  });

  it("refuses NUL bytes in values and names, naming the path", () => {
    expect(() => parseJsonFile(Buffer.from('{"a":{"b":["ok","x\\u0000"]}}'), "/x/c.json")).toThrow('/x/c.json: field "a.b[1]": contains a NUL byte');
    expect(() => parseJsonFile(Buffer.from('{"k\\u0000":1}'), "/x/c.json")).toThrow(/field "k\\u0000": has a name containing a NUL byte/);
  });
});
