// The stable part of runtime/ that compiled guard modules import: decision types and algorithm facts.
export type * from "./types.js";
export * from "./algorithms.js";
