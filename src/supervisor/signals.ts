
/** Signals that request a stop: SageMaker/Docker/Kubernetes send SIGTERM, a terminal sends SIGINT. */
export const STOP_SIGNALS = ["SIGTERM", "SIGINT"] as const;

/**
 * Signals passed on to the algorithm's process group unchanged: every signal tini forwards that a
 * Node process can listen for, except the ones its own writes raise (see NOT_FORWARDED). SIGUSR1
 * matters most: with no listener, Node opens its inspector on it, which hands whoever connects
 * code execution in PID 1.
 */
export const FORWARDED_SIGNALS = [
  "SIGHUP",
  "SIGQUIT",
  "SIGUSR1",
  "SIGUSR2",
  "SIGALRM",
  "SIGWINCH",
  "SIGURG",
  "SIGCONT",
  "SIGTSTP",
  "SIGXCPU",
  "SIGVTALRM",
  "SIGPROF",
  "SIGIO",
  "SIGPWR",
  "SIGSTKFLT",
] as const;

/**
 * Signals trainguard leaves alone, each with the reason; the README's signal table says the same.
 * As PID 1 of a namespace the kernel drops a signal that has no handler, from inside or outside.
 */
export const NOT_FORWARDED: Readonly<Record<string, string>> = {
  SIGKILL: "cannot be caught",
  SIGSTOP: "cannot be caught",
  SIGCHLD: "trainguard's own: it reaps the algorithm and orphans",
  SIGPIPE: "raised in trainguard by its own write to a closed pipe (a log reader gone); a listener cannot tell that from kill(2) and would kill the algorithm",
  SIGXFSZ: "raised in trainguard by its own write past RLIMIT_FSIZE; same reason as SIGPIPE",
  SIGFPE: "raised synchronously by a fault in the process itself (tini keeps it too)",
  SIGILL: "raised synchronously by a fault in the process itself (tini keeps it too)",
  SIGSEGV: "raised synchronously by a fault in the process itself (tini keeps it too)",
  SIGBUS: "raised synchronously by a fault in the process itself (tini keeps it too)",
  SIGABRT: "raised synchronously by abort() in the process itself (tini keeps it too)",
  SIGTRAP: "raised synchronously by a breakpoint in the process itself (tini keeps it too)",
  SIGSYS: "raised synchronously by a refused system call (seccomp) in the process itself (tini keeps it too)",
  SIGTTIN: "job control for a terminal trainguard never reads; as PID 1 the kernel drops it (tini ignores it)",
  SIGTTOU: "job control for a terminal trainguard never writes to as a background job; as PID 1 the kernel drops it (tini ignores it)",
};

/** V8's sampling profiler ticks with SIGPROF: a listener would steal its ticks and forward each one. */
const V8_PROFILER_FLAGS = /(^|\s)--(cpu-prof|prof)(?![-\w])/;

/** The forwarded signals this process can listen for: SIGPROF only when no V8 profiler uses it. */
export function forwardedSignals(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ""): ForwardedSignal[] {
  const profiled = execArgv.some((arg) => V8_PROFILER_FLAGS.test(arg)) || V8_PROFILER_FLAGS.test(nodeOptions);
  return FORWARDED_SIGNALS.filter((signal) => !(profiled && signal === "SIGPROF"));
}

let inspectorGuard: (() => void) | undefined;

/**
 * Node opens its inspector (code execution for whoever connects to 127.0.0.1:9229) on SIGUSR1
 * unless a JavaScript listener exists. This one is never removed, so the port stays shut in every
 * verb and after the supervisor's own listeners are gone. Idempotent.
 */
export function keepInspectorShut(): void {
  if (inspectorGuard) return;
  inspectorGuard = () => undefined;
  process.on("SIGUSR1", inspectorGuard);
}

export type StopSignal = (typeof STOP_SIGNALS)[number];
export type ForwardedSignal = (typeof FORWARDED_SIGNALS)[number];
export type HandledSignal = StopSignal | ForwardedSignal;

export interface ReceivedSignal {
  readonly signal: HandledSignal;
  /** Epoch ms when the signal reached us: the stop budget counts from here, not from when it was handled. */
  readonly at: number;
}

/**
 * Catches signals from the first line of the entry point and holds them until the supervisor is
 * ready. As PID 1, a signal with no handler installed is discarded by the kernel, so the handler
 * must exist before any slow work (module loading, config parsing) happens.
 */
export class SignalInbox {
  private readonly pending: ReceivedSignal[] = [];
  private handler: ((received: ReceivedSignal) => void) | undefined;
  private readonly signals: readonly HandledSignal[] = [...STOP_SIGNALS, ...forwardedSignals()];

  constructor() {
    keepInspectorShut();
    for (const signal of this.signals) process.on(signal, this.receive);
  }

  private readonly receive = (signal: NodeJS.Signals): void => {
    const received = { signal: signal as HandledSignal, at: Date.now() };
    if (this.handler) this.handler(received);
    else this.pending.push(received);
  };

  /** Deliver held signals (in arrival order) and every later one to `handler`. */
  attach(handler: (received: ReceivedSignal) => void): void {
    this.handler = handler;
    for (const received of this.pending.splice(0)) handler(received);
  }

  /** The first stop signal received so far and not yet handed to a handler, if any. */
  firstPendingStop(): ReceivedSignal | undefined {
    return this.pending.find((r) => (STOP_SIGNALS as readonly string[]).includes(r.signal));
  }

  close(): void {
    for (const signal of this.signals) process.off(signal, this.receive);
    this.handler = undefined;
  }
}

export function isStopSignal(signal: string): signal is StopSignal {
  return (STOP_SIGNALS as readonly string[]).includes(signal);
}
