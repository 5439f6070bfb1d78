import { execa } from "execa";
import type { AlgorithmExit, SpawnFailure } from "../job/index.js";
import type { Logger } from "../log/index.js";

/** The running algorithm: leader of its own process group, so signals reach everything it forked. */
export interface AlgorithmProcess {
  readonly pid: number;
  readonly exited: Promise<AlgorithmExit>;
  /** Signal the whole process group. Returns false when the group no longer exists. */
  signalGroup(signal: NodeJS.Signals): boolean;
  /** The last bytes the algorithm wrote to stderr (for the failure reason). */
  stderrTail(): string;
}

const STDERR_TAIL_BYTES = 4096;
/** After the leader exits, how long its stderr may still drain (grandchildren may hold the pipe). */
const STDERR_DRAIN_MS = 200;

/**
 * Start the algorithm in a new session and process group (detached). stdin and stdout are
 * inherited, so its output reaches the platform byte for byte with no copy; stderr is piped only
 * to keep a tail for the failure reason, and each chunk is written through as it arrives.
 */
export async function startAlgorithm(
  argv: readonly string[],
  env: Record<string, string>,
  log: Logger,
  /** Called synchronously with the pid, before any other callback can run (the reaper must know it first). */
  onSpawned: (pid: number) => void,
): Promise<AlgorithmProcess | SpawnFailure> {
  const [file, ...args] = argv;
  if (file === undefined) return { code: "EINVAL", message: "no command to run" };
  const subprocess = execa(file, args, {
    detached: true,
    cleanup: false,
    reject: false,
    buffer: false,
    stdin: "inherit",
    stdout: "inherit",
    stderr: "pipe",
    env,
    extendEnv: true,
    forceKillAfterDelay: false,
  });
  const pid = subprocess.pid;
  if (pid === undefined) {
    // No pid: the spawn itself failed (command missing, not executable); execa's result says why.
    const result = (await subprocess) as { code?: string; shortMessage?: string };
    return { code: result.code ?? "ESPAWN", message: result.shortMessage ?? "could not start the algorithm" };
  }

  onSpawned(pid);

  let tail = Buffer.alloc(0);
  subprocess.stderr?.on("data", (chunk: Buffer) => {
    process.stderr.write(chunk);
    tail = Buffer.concat([tail, chunk]);
    if (tail.length > STDERR_TAIL_BYTES * 2) tail = tail.subarray(tail.length - STDERR_TAIL_BYTES);
  });
  subprocess.stderr?.on("error", () => undefined);
  // The result promise also settles on stdio errors; its outcome is read from the exit event.
  subprocess.catch(() => undefined);

  const exited = new Promise<AlgorithmExit>((resolve) => {
    // 'exit' fires when the leader ends even if grandchildren still hold its stdio open.
    subprocess.once("exit", (exitCode, signal) => {
      const stderr = subprocess.stderr;
      const done = (): void => resolve({ exitCode, signal });
      if (!stderr || stderr.readableEnded) return done();
      const timer = setTimeout(() => {
        stderr.destroy();
        done();
      }, STDERR_DRAIN_MS);
      stderr.once("end", () => {
        clearTimeout(timer);
        done();
      });
    });
  });

  // A no-op signal (0) to the new group compiles process.kill's JavaScript now, not on the stop.
  try {
    process.kill(-pid, 0);
  } catch {
    // the group may already be gone; the real signal reports that
  }

  return {
    pid,
    exited,
    signalGroup(signal) {
      try {
        process.kill(-pid, signal);
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
        log.warn({ event: "signal.error", signal, err }, "could not signal the algorithm's process group");
        return false;
      }
    },
    stderrTail() {
      const text = tail.subarray(Math.max(0, tail.length - STDERR_TAIL_BYTES)).toString("utf8");
      return text;
    },
  };
}

export function isSpawnFailure(value: AlgorithmProcess | SpawnFailure): value is SpawnFailure {
  return !("pid" in value);
}
