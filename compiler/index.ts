// The `pqguard/compiler` package entry: check a policy, compile it to a guard module, interpret it, and render the
// diagnostics exactly as the CLI does. Loads the parser and checker; a server that only runs guards never imports it.
import * as codegen from "./codegen.js";
import type { CodegenOptions } from "./codegen.js";
import { importGuard as importInternal } from "./import-guard.js";
import { interpret as interpretInternal } from "./interpreter.js";
import type { CheckedPolicy as Checked, PolicyOutline } from "./ir.js";
import * as load from "./load.js";
import type { CheckFileOptions, CheckSourceOptions } from "./load.js";
import type { Diagnostic } from "./diagnostics.js";
import type { GuardModule } from "../runtime/guard/types.js";

export type { CheckFileOptions, CheckSourceOptions } from "./load.js";
export { signedManifestVerifier } from "./load.js";
export type { CodegenOptions } from "./codegen.js";
export { renderDiagnostics, sortDiagnostics, toJson as diagnosticsJson, type DiagnosticFormat, type DiagnosticJson } from "./render.js";
export { DIAGNOSTICS, type Diagnostic, type DiagnosticEntry, type Severity } from "./diagnostics.js";
export { parseRequest, requestFromJson, RequestError, type RequestErrorCode, type EvalInput, type HistoryEntry } from "./request.js";
export { PqguardError } from "../runtime/errors.js";
export type { ToolInfo, PolicyOutline } from "./ir.js";
export type { Span } from "../grammar/ast.js";
export type { ManifestVerifier } from "./check/index.js";
export type {
  CallHistory,
  AggregateFunction,
  ClientFacts,
  Decision,
  DecisionKind,
  Explanation,
  GuardContext,
  GuardModule,
  GuardRequest,
  LimitScope,
  PeerFacts,
  SessionFacts,
  TransportFacts,
} from "../runtime/guard/types.js";

/** Marks a CheckedPolicy as made by the checker: no other value has it, so none can be passed off as one. */
declare const CHECKED: unique symbol;

/**
 * A policy that passed the checker, as an opaque handle: read its name, digest, file name and tools, and hand it to
 * generateGuardModule, generateGuardDeclarations, importGuard or interpret. What else it holds (the syntax tree, the
 * checked rules) is private, so the compiler can change it in any release.
 */
export interface CheckedPolicy extends PolicyOutline {
  readonly [CHECKED]: true;
}

/** What checking a policy gave: the checked policy when it has no errors, and every diagnostic either way. */
export interface CheckOutcome {
  readonly policy: CheckedPolicy | undefined;
  readonly diagnostics: Diagnostic[];
  readonly source: string;
  readonly fileName: string;
}

// The public handle and the checker's own value are one object; these two casts are the only place they meet.
const handle = (outcome: load.CheckOutcome): CheckOutcome => outcome as unknown as CheckOutcome;
const checked = (policy: CheckedPolicy): Checked => policy as unknown as Checked;

/** Checks a policy file (manifests found next to it); every failure, a missing file included, is a diagnostic. */
export async function checkPolicyFile(path: string, options: CheckFileOptions = {}): Promise<CheckOutcome> {
  return handle(await load.checkPolicyFile(path, options));
}

/** Checks policy text with manifests given as parsed JSON, keyed by the path the policy names them by. */
export function checkPolicySource(source: string, options: CheckSourceOptions): CheckOutcome {
  return handle(load.checkPolicySource(source, options));
}

/** The guard module of a policy: TypeScript by default, JavaScript with `language: "js"`. */
export function generateGuardModule(policy: CheckedPolicy, options: CodegenOptions): Promise<string> {
  return codegen.generateGuardModule(checked(policy), options);
}

/** The declarations (`.d.ts`) that go with the JavaScript form of a guard module. */
export function generateGuardDeclarations(policy: CheckedPolicy, runtimeImport: string): Promise<string> {
  return codegen.generateGuardDeclarations(checked(policy), runtimeImport);
}

/** Compiles a policy to JavaScript and imports it, through a private temporary folder removed afterwards. */
export function importGuard(policy: CheckedPolicy): Promise<GuardModule> {
  return importInternal(checked(policy));
}

/** The reference interpreter: decides exactly as the compiled guard does, without generating code. */
export function interpret(policy: CheckedPolicy): GuardModule {
  return interpretInternal(checked(policy));
}
