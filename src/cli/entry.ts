#!/usr/bin/env node
// The first thing trainguard does is catch stop signals: as PID 1, a SIGTERM that arrives before a
// handler exists is dropped by the kernel. Everything heavier is loaded after, dynamically.
import { SignalInbox } from "../supervisor/signals.js";

const inbox = new SignalInbox();
const { main } = await import("./main.js");
const exitCode = await main(process.argv.slice(2), inbox);
process.exit(exitCode);
