// Order statistics for latency samples. Percentiles use the nearest-rank method, so p99 of 200
// samples is the 198th smallest: a real observed value, never an interpolation.

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** { n, min, median, p90, p99, max, mean } of a list of numbers. */
export function summarize(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  const mean = n === 0 ? NaN : sorted.reduce((s, v) => s + v, 0) / n;
  return {
    n,
    min: sorted[0] ?? NaN,
    median: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted[n - 1] ?? NaN,
    mean,
  };
}

/** Fixed decimals, "-" for missing values. */
export function fmt(value, digits = 2) {
  return typeof value === "number" && Number.isFinite(value) ? value.toFixed(digits) : "-";
}

/** Round every number in a summary for JSON output (microsecond precision is plenty). */
export function rounded(summary, digits = 3) {
  const out = {};
  for (const [k, v] of Object.entries(summary)) out[k] = typeof v === "number" && k !== "n" ? Number(v.toFixed(digits)) : v;
  return out;
}
