// Small promise and timing helpers shared by artifacts/, storage/ and sync/ (no imports of their own).
export { raceAbort } from "./race.js";
export { jitteredBackoff } from "./backoff.js";
