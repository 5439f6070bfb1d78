export { readProcStat, processStats, pidAlive, type ProcStat } from "./stat.js";
export { leftByGoneProcesses } from "./leftovers.js";
