import { constants } from "node:fs";

/**
 * How packaging opens checkpoint files. O_NOFOLLOW: a file swapped for a link since selection
 * must not pull in the link's target. O_NONBLOCK: one swapped for a FIFO must not hang a
 * threadpool thread in open(); it changes nothing for regular files.
 */
export const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
