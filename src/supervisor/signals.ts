import { constants as osConstants } from "node:os";

/** Signals that request a stop: SageMaker/Docker/Kubernetes send SIGTERM, a terminal sends SIGINT. */
export const STOP_SIGNALS = ["SIGTERM", "SIGINT"] as const;
/** Signals passed on to the algorithm's process group unchanged, as tini does. */
export const FORWARDED_SIGNALS = ["SIGHUP", "SIGUSR2", "SIGQUIT", "SIGWINCH"] as const;

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

  constructor() {
    for (const signal of [...STOP_SIGNALS, ...FORWARDED_SIGNALS]) process.on(signal, this.receive);
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
    for (const signal of [...STOP_SIGNALS, ...FORWARDED_SIGNALS]) process.off(signal, this.receive);
    this.handler = undefined;
  }
}

export function isStopSignal(signal: string): signal is StopSignal {
  return (STOP_SIGNALS as readonly string[]).includes(signal);
}

/** 128 + signal number: the shell's, tini's and dumb-init's convention for "ended by a signal". */
export function exitCodeForSignal(signal: NodeJS.Signals | string): number {
  return 128 + signalNumber(signal);
}

export function signalNumber(signal: string): number {
  const number = (osConstants.signals as Record<string, number | undefined>)[signal];
  if (number === undefined) throw new Error(`unknown signal ${signal}`);
  return number;
}
