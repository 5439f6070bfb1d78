export { OPTION_SPECS, defaultOptions, optionsHelp, type OptionSpec, type OptionSources, type RunOptions } from "./specs.js";
export { OptionReader } from "./resolve.js";
export { parseTrainCommand } from "./command.js";
export { MAX_GRACE_SECONDS, parseEndpoint, parseGrace, parseStopSignal, type IntactBudget } from "./values.js";
