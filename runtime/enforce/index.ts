// Enforcement: where a tools/call meets a guard, on the server (`enforce`) and on the client (`guardClient`).
export * from "./errors.js";
export * from "./context.js";
export * from "./decide.js";
export * from "./pin.js";
export * from "./server.js";
export * from "./client.js";
export type { Connectable } from "./tap.js";
export type { ToolResult, ResultStage, StageRefusal } from "./stages.js";
export type { ReturningCall } from "./notifications.js";
export * from "./operator-approval.js";
