// pqguard/testing: fast-check arbitraries for property-testing policies (tool calls from a manifest's schemas, sessions,
// clocks, histories and whole requests, printed as `pqguard eval --request` reads them) and assertions over guards.
export type { GeneratedRequest, ManifestInput } from "./types.js";
// The guard's own types that generated values are made of, so that users of this entry can name them.
export type { AggregateFunction, CallHistory, ClientFacts, Decision, DecisionKind, Explanation, GuardContext, GuardModule, GuardRequest, LimitScope, PeerFacts, SessionFacts, TransportFacts } from "../runtime/guard/types.js";
export { ArbitraryError, ArbitraryErrorCode, type SchemaLocation } from "./errors.js";
export { PqguardError } from "../runtime/errors.js";
export {
  invalidToolCall,
  toolCall,
  unsupportedTools,
  type GenerationOptions,
  type InvalidToolCall,
  type ToolCall,
  type ToolCallOptions,
  type Violation,
} from "./schema.js";
export {
  clock,
  GeneratedHistory,
  history,
  request,
  session,
  zoneTransitions,
  type CallScope,
  type ClockWindow,
  type EarlierCall,
  type HistoryConstraints,
  type MsRange,
  type OneOrMany,
  type RequestParts,
  type SessionConstraints,
  type SessionParts,
} from "./context.js";
export { toolResult, type GeneratedResult, type ToolResultOptions } from "./results.js";
export type { CheckedPolicy, PolicyOutline, ToolInfo } from "../compiler/index.js";
export { printRequest, requestJson, type PrintOptions } from "./print.js";
export * from "./assertions.js";
