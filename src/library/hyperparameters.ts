import { ConfigError, decodeHyperparameter, errorMessage } from "../contract/index.js";

/** What a decimal number looks like when written by a person or by str()/json.dumps in Python. */
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Typed access to hyperparameters. SageMaker passes every value as a string; the Python SDK's
 * framework estimators JSON-encode them first ("3", "\"resnet\"", "[1,2]"), the generic estimator
 * uses str() ("True", "0.1"). Each getter accepts what either would write and fails with a
 * ConfigError naming the hyperparameter, the value found and the type wanted. Values are kept raw
 * and decoded per getter, so `string("lr")` of "1.0" is "1.0" and not "1".
 */
export class Hyperparameters {
  private readonly decoded: Readonly<Record<string, unknown>>;

  constructor(
    /** As written in hyperparameters.json (strings on SageMaker; local files may hold any JSON). */
    private readonly raw: Readonly<Record<string, unknown>>,
    /** Named in every error: the file the values came from. */
    private readonly source: string = "hyperparameters",
  ) {
    this.decoded = Object.fromEntries(Object.entries(raw).map(([name, value]) => [name, decodeHyperparameter(value)]));
  }

  has(name: string): boolean {
    return Object.hasOwn(this.raw, name);
  }

  /** Every value, decoded as the AWS toolkit does (JSON where it parses, the raw string otherwise). */
  get all(): Readonly<Record<string, unknown>> {
    return this.decoded;
  }

  /** A finite number: 3, "3", "0.1", "1e-4". Not "", "abc", "0x10", "Infinity", true. */
  number(name: string, fallback?: number): number {
    if (!this.has(name)) return this.fallback(name, fallback);
    const raw = this.raw[name];
    const value = typeof raw === "string" && DECIMAL.test(raw.trim()) ? Number(raw.trim()) : raw;
    if (typeof value !== "number" || !Number.isFinite(value)) throw this.wrongType(name, raw, 'a finite number (e.g. "0.01")');
    return value;
  }

  /** A whole number within ±2^53: 3, "3", "1e3". Not "3.5". */
  integer(name: string, fallback?: number): number {
    if (!this.has(name)) return this.fallback(name, fallback);
    const raw = this.raw[name];
    let value: number;
    try {
      value = this.number(name);
    } catch {
      throw this.wrongType(name, raw, 'an integer (e.g. "10")');
    }
    if (!Number.isSafeInteger(value)) throw this.wrongType(name, raw, 'an integer (e.g. "10")');
    return value;
  }

  /** The text as given; a JSON-encoded string ("\"resnet\"") is decoded. Objects and arrays are refused. */
  string(name: string, fallback?: string): string {
    if (!this.has(name)) return this.fallback(name, fallback);
    const raw = this.raw[name];
    const value = this.decoded[name];
    if (typeof value === "string") return value;
    if (typeof value === "number" || typeof value === "boolean") return typeof raw === "string" ? raw : String(value);
    throw this.wrongType(name, raw, "a string");
  }

  /** true/false in any case ("True" is what Python's str(True) writes). Not "1", "yes", "". */
  boolean(name: string, fallback?: boolean): boolean {
    if (!this.has(name)) return this.fallback(name, fallback);
    const raw = this.raw[name];
    if (typeof raw === "boolean") return raw;
    if (typeof raw === "string" && /^(true|false)$/i.test(raw.trim())) return raw.trim().toLowerCase() === "true";
    throw this.wrongType(name, raw, "true or false");
  }

  /**
   * Any JSON value, decoded: "[1,2]", "{\"a\":1}". The type parameter is not checked at run time:
   * validate the shape yourself when it matters.
   */
  json<T = unknown>(name: string, fallback?: T): T {
    if (!this.has(name)) return this.fallback(name, fallback);
    const raw = this.raw[name];
    if (typeof raw !== "string") return raw as T;
    try {
      return JSON.parse(raw) as T;
    } catch (err) {
      throw this.wrongType(name, raw, `JSON (${errorMessage(err)})`);
    }
  }

  private fallback<T>(name: string, fallback: T | undefined): T {
    if (fallback !== undefined) return fallback;
    throw new ConfigError(this.source, name, "hyperparameter is required but was not given");
  }

  private wrongType(name: string, value: unknown, wanted: string): ConfigError {
    return new ConfigError(this.source, name, `hyperparameter must be ${wanted}, got ${describe(value)}`);
  }
}

function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 60)}...` : text;
}
