// The floor for any supervisor written in Node: spawn the command in its own process group and
// forward SIGTERM to it, nothing else (no stop file, no status, no logging). The signal benchmark
// measures it beside trainguard and tini, so the figure shows what Node itself costs (waking the
// event loop, entering JavaScript) apart from what trainguard does on the stop.
import { spawn } from "node:child_process";

const [command, ...args] = process.argv.slice(2);
const child = spawn(command, args, { detached: true, stdio: "inherit" });
process.on("SIGTERM", () => process.kill(-child.pid, "SIGTERM"));
child.on("exit", (code, signal) => process.exit(code ?? 128 + (signal ? 15 : 0)));
