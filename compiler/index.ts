// The `pqguard/compiler` package entry: check a policy, compile it to a guard module, interpret it, and render the
// diagnostics exactly as the CLI does. Loads the parser and checker; a server that only runs guards never imports it.
export {
  checkPolicyFile,
  checkPolicySource,
  signedManifestVerifier,
  type CheckOutcome,
  type CheckFileOptions,
  type CheckSourceOptions,
} from "./load.js";
export { generateGuardModule, type CodegenOptions } from "./codegen.js";
export { interpret } from "./interpreter.js";
export { renderDiagnostics, sortDiagnostics, toJson as diagnosticsJson, type DiagnosticFormat, type DiagnosticJson } from "./render.js";
export { DIAGNOSTICS, type Diagnostic, type Severity } from "./diagnostics.js";
export { parseRequest, requestFromJson, RequestError, type RequestErrorCode, type EvalInput, type HistoryEntry } from "./request.js";
export type { CheckedPolicy, CheckedRule, CheckedRequirement, CheckedLimit, ToolInfo, Type } from "./ir.js";
// The checked policy and its syntax tree, for reading: their shape may change in any 0.x minor release (CHANGELOG.md).
export type { Span, Expr, PolicyFile, RuleEffect, RequireDimension } from "../grammar/ast.js";
export type { ManifestVerifier } from "./checker.js";
export type { DiagnosticEntry } from "./diagnostics.js";
export type { GuardContext, GuardModule, GuardRequest, Decision, LimitScope } from "../runtime/guard/types.js";
