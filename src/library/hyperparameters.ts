import { ConfigError } from "../contract/index.js";

/**
 * Typed access to hyperparameters. Values arrive as strings decoded as JSON where possible
 * (the AWS toolkit's rule); each getter accepts the forms a user would write in the console
 * ("3", "true", "[1,2]") and fails with the name, the value found and the type wanted.
 */
export class Hyperparameters {
  constructor(
    private readonly values: Readonly<Record<string, unknown>>,
    private readonly source: string,
  ) {}

  has(name: string): boolean {
    return Object.hasOwn(this.values, name);
  }

  get all(): Readonly<Record<string, unknown>> {
    return this.values;
  }

  number(name: string, fallback?: number): number {
    const value = this.lookup(name, fallback);
    const parsed = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
    if (typeof parsed !== "number" || !Number.isFinite(parsed)) throw this.wrongType(name, value, "a finite number");
    return parsed;
  }

  integer(name: string, fallback?: number): number {
    const value = this.number(name, fallback);
    if (!Number.isInteger(value)) throw this.wrongType(name, this.values[name] ?? value, "an integer");
    return value;
  }

  string(name: string, fallback?: string): string {
    const value = this.lookup(name, fallback);
    if (typeof value === "string") return value;
    // "resnet" decodes to a string, but "3" decodes to 3: a string hyperparameter keeps its text.
    if (typeof value === "number" || typeof value === "boolean") return String(value);
    throw this.wrongType(name, value, "a string");
  }

  boolean(name: string, fallback?: boolean): boolean {
    const value = this.lookup(name, fallback);
    if (typeof value === "boolean") return value;
    if (typeof value === "string" && /^(true|false)$/i.test(value)) return value.toLowerCase() === "true";
    throw this.wrongType(name, value, "true or false");
  }

  json<T = unknown>(name: string, fallback?: T): T {
    const value = this.lookup(name, fallback);
    if (typeof value === "string") {
      try {
        return JSON.parse(value) as T;
      } catch {
        throw this.wrongType(name, value, "JSON");
      }
    }
    return value as T;
  }

  private lookup(name: string, fallback: unknown): unknown {
    if (this.has(name)) return this.values[name];
    if (fallback !== undefined) return fallback;
    throw new ConfigError(this.source, name, "is required but was not given");
  }

  private wrongType(name: string, value: unknown, wanted: string): ConfigError {
    return new ConfigError(this.source, name, `must be ${wanted}, got ${JSON.stringify(value)}`);
  }
}
