import type { Logger } from "../log/index.js";

/**
 * As PID 1, an unhandled rejection or a stray 'error' event would end the container in the middle of
 * a job, model unsaved. Every known failure is handled where it happens; whatever is left is
 * logged and the job goes on: its own flow still ends it, with the deadline watchdog behind that.
 */
export function installLastResortHandlers(log: Logger): void {
  process.on("unhandledRejection", (reason) => {
    log.error({ event: "internal.unhandled", err: reason }, "unhandled rejection inside trainguard; the job goes on");
  });
  process.on("uncaughtException", (err) => {
    log.error({ event: "internal.unhandled", err }, "uncaught exception inside trainguard; the job goes on");
  });
}
