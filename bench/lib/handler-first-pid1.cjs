// The floor of the start-up window for any supervisor written in Node: its SIGTERM handler is the
// very first statement (CommonJS, so no module is loaded before it). Then it spawns the command in
// its own process group; the handler runs from the event loop, so by then the child exists and the
// signal is forwarded to it. bench/startup-window.mjs measures it beside trainguard and tini.
let child;
process.on("SIGTERM", () => process.kill(-child.pid, "SIGTERM"));
const [command, ...args] = process.argv.slice(2);
child = require("node:child_process").spawn(command, args, { detached: true, stdio: "inherit" });
child.on("exit", (code, signal) => process.exit(code ?? 128 + (signal ? 15 : 0)));
