// Metrics and alerts of a pqguard deployment: what the proxy exposes at /metrics and embedding applications read.
export * from "./metrics.js";
export * from "./alarm.js";
export * from "./http.js";
