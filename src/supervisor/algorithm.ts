import { spawn, type ChildProcess } from "node:child_process";
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
  // node:child_process itself: a process manager's wrapper (execa) cost more start-up than
  // everything else trainguard loads before the algorithm runs, for options this call never uses.
  let subprocess: ChildProcess;
  try {
    subprocess = spawn(file, args, { detached: true, stdio: ["inherit", "inherit", "pipe"], env: { ...process.env, ...env } });
  } catch (err) {
    return spawnFailure(argv, err as NodeJS.ErrnoException);
  }
  const pid = subprocess.pid;
  if (pid === undefined) {
    // No pid: the spawn itself failed (command missing, not executable); the error event says why.
    const err = await new Promise<NodeJS.ErrnoException>((resolve) => subprocess.once("error", resolve));
    return spawnFailure(argv, err);
  }

  onSpawned(pid);

  let tail = Buffer.alloc(0);
  subprocess.stderr?.on("data", (chunk: Buffer) => {
    process.stderr.write(chunk);
    tail = Buffer.concat([tail, chunk]);
    if (tail.length > STDERR_TAIL_BYTES * 2) tail = tail.subarray(tail.length - STDERR_TAIL_BYTES);
  });
  subprocess.stderr?.on("error", () => undefined);
  // Errors after a successful spawn (a failed kill) must not crash PID 1; the outcome is read from the exit event.
  subprocess.on("error", () => undefined);

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

/** "Command failed with ENOENT: nope 'a b'" and the system's own message, as the failure reason shows it. */
function spawnFailure(argv: readonly string[], err: NodeJS.ErrnoException): SpawnFailure {
  const command = argv.map((arg) => (/^[\w./:=@%+,-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`)).join(" ");
  const code = err.code ?? "ESPAWN";
  return { code, message: `Command failed with ${code}: ${command}\n${err.message}` };
}

export function isSpawnFailure(value: AlgorithmProcess | SpawnFailure): value is SpawnFailure {
  return !("pid" in value);
}
