// The stable part of runtime/ that compiled guard modules import: decision types, algorithm facts and the small
// evaluation helpers (typed reads, zoned time, explanation sentences, paths, URLs and IP addresses).
export type * from "./types.js";
export * from "./algorithms.js";
export * from "./helpers.js";
export * from "./results.js";
export { LiteralError, LiteralErrorCode } from "./literal-errors.js";
// The base of LiteralError, so that guard-only code can tell pqguard's errors apart; the same class `pqguard` exports.
export { PqguardError } from "../errors.js";
export * from "./paths.js";
export * from "./urls.js";
export * from "./addresses.js";
