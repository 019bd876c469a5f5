// The tamper-evident decision log: line format, writer, verifier and the operational logger.
export * from "./record.js";
export * from "./log.js";
export * from "./key.js";
export * from "./verify.js";
export * from "./checkpoint.js";
export * from "./logger.js";
