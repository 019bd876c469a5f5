// The stable part of runtime/ that compiled guard modules import: decision types, algorithm facts and the small
// evaluation helpers (typed reads, zoned time, explanation sentences).
export type * from "./types.js";
export * from "./algorithms.js";
export * from "./helpers.js";
