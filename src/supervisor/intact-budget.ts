// The budget is an option: its parser lives with the other option specs.
export type { IntactBudget } from "../options/index.js";
