// Call history and rate-limit state: the StateStore contract and its default in-memory implementation.
export * from "./store.js";
export * from "./memory.js";
