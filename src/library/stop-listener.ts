import { statSync } from "node:fs";

export interface StopNotice {
  /** The signal that asked for the stop, or "stop-file" when only the file was seen. */
  readonly source: NodeJS.Signals | "stop-file";
  /** Epoch ms when it reached us: the budget counts from here. */
  readonly at: number;
}

/** How often TRAINGUARD_STOP_FILE is looked for: one stat() per period, on an unref'd timer. */
export const STOP_FILE_POLL_MS = 200;

/**
 * The stop request, from whichever comes first: a stop signal to this process, or (under
 * `trainguard run`) the stop file appearing, which the supervisor writes before it signals and
 * which also reaches code that installed its own signal handlers. Handlers are installed in the
 * constructor: as PID 1 a stop signal with no handler is dropped, so the sooner the better.
 */
export class StopListener {
  private first: StopNotice | undefined;
  private readonly onFirst: Array<(notice: StopNotice) => void> = [];
  private readonly onRepeat: Array<(notice: StopNotice) => void> = [];
  private poller: NodeJS.Timeout | undefined;

  constructor(
    private readonly signals: readonly NodeJS.Signals[],
    stopFile?: string,
  ) {
    for (const signal of signals) process.on(signal, this.receive);
    if (stopFile !== undefined) {
      this.poller = setInterval(() => {
        if (this.first === undefined && fileExists(stopFile)) this.notice({ source: "stop-file", at: Date.now() });
      }, STOP_FILE_POLL_MS);
      // Polling must never be what keeps a finished training process alive.
      this.poller.unref();
    }
  }

  get requested(): StopNotice | undefined {
    return this.first;
  }

  /** `handler` runs once, for the first stop (at once if it already arrived). */
  onStop(handler: (notice: StopNotice) => void): void {
    if (this.first) handler(this.first);
    else this.onFirst.push(handler);
  }

  /** Later stop signals: they never change the deadline, but are worth a log line. */
  onRepeatedStop(handler: (notice: StopNotice) => void): void {
    this.onRepeat.push(handler);
  }

  close(): void {
    for (const signal of this.signals) process.off(signal, this.receive);
    if (this.poller) clearInterval(this.poller);
    this.poller = undefined;
  }

  private readonly receive = (signal: NodeJS.Signals): void => {
    this.notice({ source: signal, at: Date.now() });
  };

  private notice(notice: StopNotice): void {
    if (this.first) {
      for (const handler of this.onRepeat) handler(notice);
      return;
    }
    this.first = notice;
    if (this.poller) clearInterval(this.poller);
    for (const handler of this.onFirst.splice(0)) handler(notice);
  }
}

function fileExists(file: string): boolean {
  try {
    statSync(file);
    return true;
  } catch {
    return false;
  }
}
