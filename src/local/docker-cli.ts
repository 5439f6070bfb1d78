import { execFile } from "node:child_process";

/**
 * The docker backend talks to the engine through the `docker` CLI, run with an argv (never a
 * shell), rather than the Engine API over /var/run/docker.sock: the CLI negotiates the API
 * version, honours DOCKER_HOST and contexts as the user's own `docker` does, and demultiplexes a
 * container's stdout and stderr (`docker logs -f`) into two plain streams the host log writer
 * takes as they are, the same pipes the process backend gives it. What it costs, a process per
 * call (tens of ms), is off the stop path's critical part: the SIGTERMs of all hosts go out
 * together (see DockerHosts.terminate).
 */
export interface DockerResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

const DOCKER = "docker";

/** Runs `docker <args>`; never throws on a non-zero exit (the caller reads `code` and `stderr`). */
export function docker(args: readonly string[], timeoutMs = 60_000): Promise<DockerResult> {
  return new Promise((resolve) => {
    execFile(DOCKER, [...args], { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024, encoding: "utf8" }, (err, stdout, stderr) => {
      if (err === null) return resolve({ code: 0, stdout, stderr });
      const e = err as NodeJS.ErrnoException & { code?: number | string; killed?: boolean };
      if (typeof e.code === "number") return resolve({ code: e.code, stdout, stderr });
      const why = e.killed ? `did not answer within ${timeoutMs} ms` : `cannot be run: ${e.message}`;
      resolve({ code: -1, stdout, stderr: `${DOCKER} ${args[0] ?? ""} ${why}` });
    });
  });
}

/** `docker <args>` that must succeed: its trimmed stdout, or an Error with the CLI's own message. */
export async function dockerOk(args: readonly string[], timeoutMs?: number): Promise<string> {
  const r = await docker(args, timeoutMs);
  if (r.code !== 0) throw new Error(`docker ${args[0] ?? ""}: ${r.stderr.trim() || `exit code ${r.code}`}`);
  return r.stdout.trim();
}

/** The environment of a long-lived `docker` process (the log follower): what the CLI reads to find the engine. */
export function dockerEnv(): Record<string, string> {
  const names = ["PATH", "HOME", "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"];
  return Object.fromEntries(names.flatMap((n) => (process.env[n] === undefined ? [] : [[n, process.env[n] as string]])));
}
