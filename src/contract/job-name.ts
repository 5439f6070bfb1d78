import { ConfigError } from "./errors.js";

/** StopTrainingJob's own constraint on TrainingJobName. */
const JOB_NAME_PATTERN = /^[a-zA-Z0-9](-*[a-zA-Z0-9])*$/;
const JOB_NAME_MAX = 63;

export function validateJobName(name: string, source: string): string {
  if (name.length < 1 || name.length > JOB_NAME_MAX) {
    throw new ConfigError(source, undefined, `job name must be 1 to ${JOB_NAME_MAX} characters, got ${name.length}`);
  }
  if (!JOB_NAME_PATTERN.test(name)) {
    throw new ConfigError(
      source,
      undefined,
      `job name ${JSON.stringify(name)} must match ${JOB_NAME_PATTERN.source} (letters, digits and inner hyphens)`,
    );
  }
  return name;
}

/**
 * A name for local runs with none given: sortable by start time, unique enough for one machine.
 * Math.random, not node:crypto: the suffix only tells runs of the same second apart, and loading
 * node:crypto cost 4-8 ms of the start-up before the algorithm is spawned (CPU profiles).
 */
export function generateJobName(now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/[-:T]/g, "").slice(0, 14);
  const suffix = Math.floor(Math.random() * 0x100_0000).toString(16).padStart(6, "0");
  return `trainguard-local-${stamp}-${suffix}`;
}

/** `--job-name` (or TRAINGUARD_JOB_NAME), then TRAINING_JOB_NAME, then a generated local name. */
export function resolveJobName(option: string | undefined, env: NodeJS.ProcessEnv, optionSource = "--job-name"): string {
  if (option !== undefined) return validateJobName(option, optionSource);
  const fromEnv = env.TRAINING_JOB_NAME;
  if (fromEnv !== undefined && fromEnv !== "") return validateJobName(fromEnv, "TRAINING_JOB_NAME");
  return generateJobName();
}
