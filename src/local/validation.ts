import { serializationError, validationError } from "./api-error.js";

/** The part of a Smithy model the server checks: what botocore and the JS SDK leave to the service. */
export type Shape =
  | { readonly type: "string"; readonly min?: number; readonly max?: number; readonly pattern?: string; readonly enum?: readonly string[] }
  | { readonly type: "integer"; readonly min?: number; readonly max?: number }
  | { readonly type: "boolean" }
  | { readonly type: "timestamp" }
  | { readonly type: "structure"; readonly members: Readonly<Record<string, Shape>>; readonly required?: readonly string[] }
  | { readonly type: "list"; readonly member: Shape; readonly min?: number; readonly max?: number }
  | { readonly type: "map"; readonly key: Shape; readonly value: Shape; readonly max?: number };

/**
 * Check `input` against `shape` as the service does. A value of the wrong JSON type is a
 * SerializationException (the request could not be read); broken constraints are collected and
 * reported together in the service's words: `2 validation errors detected: Value 'x' at
 * 'trainingJobName' failed to satisfy constraint: Member must ...; Value ...`.
 */
export function validateInput(shape: Shape, input: unknown): void {
  const problems: string[] = [];
  check(shape, input, "", problems);
  if (problems.length === 0) return;
  const count = problems.length === 1 ? "1 validation error detected" : `${problems.length} validation errors detected`;
  throw validationError(`${count}: ${problems.join("; ")}`);
}

function check(shape: Shape, value: unknown, at: string, problems: string[]): void {
  if (value === undefined || value === null) return;
  const broken = (constraint: string) => problems.push(`Value ${show(value)} at '${at}' failed to satisfy constraint: Member ${constraint}`);
  switch (shape.type) {
    case "string": {
      if (typeof value !== "string") throw wrongType(value, "a String", at);
      if (shape.min !== undefined && value.length < shape.min) broken(`must have length greater than or equal to ${shape.min}`);
      if (shape.max !== undefined && value.length > shape.max) broken(`must have length less than or equal to ${shape.max}`);
      if (shape.pattern !== undefined && !new RegExp(anchored(shape.pattern), "u").test(value)) broken(`must satisfy regular expression pattern: ${shape.pattern}`);
      if (shape.enum !== undefined && !shape.enum.includes(value)) broken(`must satisfy enum value set: [${shape.enum.join(", ")}]`);
      return;
    }
    case "integer":
      if (typeof value !== "number" || !Number.isInteger(value)) throw wrongType(value, "an Integer", at);
      if (shape.min !== undefined && value < shape.min) broken(`must have value greater than or equal to ${shape.min}`);
      if (shape.max !== undefined && value > shape.max) broken(`must have value less than or equal to ${shape.max}`);
      return;
    case "boolean":
      if (typeof value !== "boolean") throw wrongType(value, "a Boolean", at);
      return;
    case "timestamp":
      if (typeof value !== "number" || !Number.isFinite(value)) throw wrongType(value, "a Timestamp (epoch seconds)", at);
      return;
    case "structure": {
      if (!isObject(value)) throw wrongType(value, "a structure", at);
      for (const name of shape.required ?? []) {
        if (value[name] === undefined || value[name] === null) problems.push(`Value null at '${join(at, name)}' failed to satisfy constraint: Member must not be null`);
      }
      for (const [name, member] of Object.entries(shape.members)) check(member, value[name], join(at, name), problems);
      return;
    }
    case "list":
      if (!Array.isArray(value)) throw wrongType(value, "a list", at);
      if (shape.min !== undefined && value.length < shape.min) broken(`must have length greater than or equal to ${shape.min}`);
      if (shape.max !== undefined && value.length > shape.max) broken(`must have length less than or equal to ${shape.max}`);
      value.forEach((item, i) => check(shape.member, item, `${at}.${i + 1}.member`, problems));
      return;
    case "map": {
      if (!isObject(value)) throw wrongType(value, "a map", at);
      const entries = Object.entries(value);
      if (shape.max !== undefined && entries.length > shape.max) broken(`must have length less than or equal to ${shape.max}`);
      for (const [key, item] of entries) {
        check(shape.key, key, at, problems);
        if (item === null) throw wrongType(item, "a map value", at);
        check(shape.value, item, at, problems);
      }
      return;
    }
  }
}

/** The service's member paths: each member name with its first letter in lower case. */
function join(at: string, member: string): string {
  const name = member.charAt(0).toLowerCase() + member.slice(1);
  return at === "" ? name : `${at}.${name}`;
}

/** Models give patterns without `$` (the seed's `^[a-zA-Z0-9](-*[a-zA-Z0-9])*`); the service matches the whole value. */
function anchored(pattern: string): string {
  return `^(?:${pattern.replace(/^\^/, "").replace(/\$$/, "")})$`;
}

function show(value: unknown): string {
  return typeof value === "string" ? `'${value}'` : `'${JSON.stringify(value)}'`;
}

function jsonType(value: unknown): string {
  if (value === null) return "NULL_VALUE";
  if (Array.isArray(value)) return "START_ARRAY";
  if (typeof value === "object") return "START_OBJECT";
  return `${typeof value === "boolean" ? "BOOLEAN" : typeof value === "number" ? "NUMBER" : "STRING"}_VALUE`;
}

function wrongType(value: unknown, expected: string, at: string) {
  return serializationError(`${jsonType(value)} can not be converted to ${expected} (at '${at}')`);
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
