/**
 * Metrics as stdout lines that a SageMaker metric definition can match:
 *
 *   METRIC <name>=<value>[ step=<step>]
 *
 * e.g. `METRIC train:loss=0.0314 step=3`. The value is JavaScript's shortest round-trip form of
 * the number ("0.1", "1e-7", "12"). For a metric named `train:loss` the definition is
 *
 *   { "Name": "train:loss", "Regex": "METRIC train:loss=([-+]?[0-9]+(?:\\.[0-9]+)?(?:e[-+]?[0-9]+)?)" }
 *
 * which `metricRegex("train:loss")` builds (with the name escaped). NaN and ±Infinity are printed
 * as such so people see them, and the regex does not match them: SageMaker cannot store them.
 */
export const METRIC_PREFIX = "METRIC";
/** Names that need no quoting in the line and are easy to put in a regex. */
const METRIC_NAME = /^[A-Za-z0-9_.:/-]{1,255}$/;
const NUMBER_PATTERN = "[-+]?[0-9]+(?:\\.[0-9]+)?(?:e[-+]?[0-9]+)?";

export function formatMetric(name: string, value: number, step?: number): string {
  if (!METRIC_NAME.test(name)) throw new Error(`metric name ${JSON.stringify(name)} must match ${METRIC_NAME.source}`);
  if (typeof value !== "number") throw new Error(`metric ${name}: value must be a number, got ${typeof value}`);
  if (step !== undefined && !(Number.isSafeInteger(step) && step >= 0)) throw new Error(`metric ${name}: step must be a whole number >= 0, got ${step}`);
  return `${METRIC_PREFIX} ${name}=${String(value)}${step === undefined ? "" : ` step=${step}`}`;
}

/** The SageMaker MetricDefinitions regex for `name`: its one capture group is the value. */
export function metricRegex(name: string): string {
  if (!METRIC_NAME.test(name)) throw new Error(`metric name ${JSON.stringify(name)} must match ${METRIC_NAME.source}`);
  return `${METRIC_PREFIX} ${name.replace(/\./g, "\\.")}=(${NUMBER_PATTERN})`;
}

/** One line, written synchronously (stdout to a file or pipe is synchronous on Linux): never lost on exit. */
export function printMetric(name: string, value: number, step?: number): void {
  process.stdout.write(`${formatMetric(name, value, step)}\n`);
}
