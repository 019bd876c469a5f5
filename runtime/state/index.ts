// Call history and rate-limit state: the StateStore contract, its default in-memory implementation, and the stores
// that outlive a process (SQLite on one machine, Redis shared by replicas).
export * from "./store.js";
export * from "./memory.js";
export * from "./redis.js";
export * from "./sqlite.js";
export * from "./open.js";
export * from "./values.js";
