/** How an algorithm process ended. */
export interface AlgorithmExit {
  /** Exit code when it exited, null when a signal ended it. */
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
}

export type SpawnFailure = { readonly code: "ENOENT" | "EACCES" | string; readonly message: string };

/** How the training part of a job ended: the verdict is judged from it. */
export type Outcome =
  | { readonly kind: "not-started" }
  | { readonly kind: "resume-failed"; readonly problem: string }
  /** The algorithm's process could not be started. */
  | { readonly kind: "spawn-failed"; readonly failure: SpawnFailure }
  /** The algorithm's process ended. */
  | { readonly kind: "exited"; readonly exit: AlgorithmExit }
  /** The training function (runTraining, in-process) returned. */
  | { readonly kind: "returned" }
  /** The training function threw: `failureReason` is the failure file's text for it. */
  | { readonly kind: "threw"; readonly failureReason: string }
  /** The training function had not returned by the checkpoint deadline, and was abandoned. */
  | { readonly kind: "overdue" };

/** Whether training code ran, so that what it left in the checkpoint dir may be packaged. */
export function trainingRan(outcome: Outcome): boolean {
  return outcome.kind !== "not-started" && outcome.kind !== "resume-failed" && outcome.kind !== "spawn-failed";
}
