import { FAILURE_REASON_VISIBLE_CHARS } from "../job/index.js";

/**
 * The failure file's text for an error thrown by the training function: the message's first line
 * first (SageMaker shows FailureReason in one line in most places), then the rest of the message,
 * then the stack frames, cut to what SageMaker shows (the trailing newline included). Unlike the
 * supervisor's reason, which keeps the *tail* of stderr, this keeps the head: the message and the
 * innermost frames are what locate the bug.
 */
export function trainErrorReason(error: unknown): string {
  const { message, frames } = messageAndFrames(error);
  const text = [message, frames].filter((part) => part !== "").join("\n");
  const room = FAILURE_REASON_VISIBLE_CHARS - 1;
  if (text.length <= room) return text;
  const cut = text.slice(0, room - 4);
  // End on a whole line when that keeps most of the text.
  const lastBreak = cut.lastIndexOf("\n");
  return `${lastBreak > room / 2 ? cut.slice(0, lastBreak) : cut}\n...`;
}

/** The message (with the error's name when it says more) and the stack frames, for the failure file. */
function messageAndFrames(error: unknown): { message: string; frames: string } {
  if (!(error instanceof Error)) {
    const message = typeof error === "string" ? error : safeJson(error);
    return { message: message.trim() === "" ? "training failed (an empty value was thrown)" : message.trim(), frames: "" };
  }
  const text = error.message.trim();
  // "TypeError: x is undefined" says more than the message alone; a plain Error or a ConfigError
  // (whose message already names the file and field) does not need its name.
  const named = error.name !== "Error" && error.name !== "ConfigError";
  const message = text === "" ? `${error.name} (no message)` : named ? `${error.name}: ${text}` : text;
  const stack = error.stack ?? "";
  // V8 stacks begin with "<name>: <message>" (the message may span lines): keep only the frames.
  const frameStart = stack.search(/^\s+at /m);
  const frames = frameStart === -1 ? "" : stack.slice(frameStart).trimEnd();
  return { message, frames };
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
