// The guard `pqguard test` hands to every test: each call is decided by the compiled guard and by the reference
// interpreter, and the two decisions must be the same. A disagreement throws at the call that caused it, so
// fast-check shrinks it like any other failure, and every test a user writes is a differential test for free.
import type { CallResult, Decision, GuardContext, GuardModule, GuardRequest, ResultDecision } from "../../runtime/guard/types.js";
import { PqguardError } from "../../runtime/errors.js";
import { decidedText } from "./decisions.js";

/** The code of a disagreement between the two back ends, wherever it is reported. */
export const DISAGREEMENT_CODE = "PQG9504" as const;

/** The compiled guard and the interpreter decided one call differently (or only one of them threw). */
export class BackendDisagreement extends PqguardError {
  declare readonly code: typeof DISAGREEMENT_CODE;
  constructor(
    message: string,
    readonly compiled: Decision | undefined,
    readonly interpreted: Decision | undefined,
  ) {
    super(DISAGREEMENT_CODE, message);
    this.name = "BackendDisagreement";
  }
}

/** Receives every decision both back ends agreed on, with the call it was for. */
export type DecisionObserver = (request: GuardRequest, decision: Decision) => void;
/** Sees each agreed result decision once. */
export type ResultObserver = (request: GuardRequest, decision: ResultDecision) => void;

type Attempt = { readonly ok: true; readonly decision: Decision } | { readonly ok: false; readonly error: unknown };

function attempt(guard: GuardModule, request: GuardRequest, context: GuardContext): Attempt {
  try {
    return { ok: true, decision: guard.guard(request, context) };
  } catch (error) {
    return { ok: false, error };
  }
}

/** The parts of a decision that must agree: all of it. Decisions are plain data, so their JSON says everything. */
function sameDecision(a: Decision, b: Decision): boolean {
  const fields = (d: Decision): string => JSON.stringify([d.decision, d.determining, d.reason, d.explain]);
  return fields(a) === fields(b);
}

/** Which part of two decisions differs first, so the message points a reader at it. */
function difference(a: Decision, b: Decision): string {
  if (a.decision !== b.decision) return "decision";
  if (JSON.stringify(a.determining) !== JSON.stringify(b.determining)) return "determining rules";
  if (a.reason !== b.reason) return "reason";
  return "explanation";
}

function said(result: Attempt): string {
  if (!result.ok) return `threw \`${result.error instanceof Error ? result.error.message : String(result.error)}\``;
  return `${decidedText(result.decision)} (${result.decision.reason})`;
}

/**
 * A guard deciding with both back ends. Module facts (name, digests, longest window) are the compiled guard's; the
 * observer sees each agreed decision once. When both throw, the compiled guard's error is rethrown as it is.
 */
export function agreeingGuard(compiled: GuardModule, interpreted: GuardModule, observe: DecisionObserver, observeResult?: ResultObserver): GuardModule {
  const guard = (request: GuardRequest, context: GuardContext): Decision => {
    const fromCompiled = attempt(compiled, request, context);
    const fromInterpreter = attempt(interpreted, request, context);
    if (!fromCompiled.ok && !fromInterpreter.ok) throw fromCompiled.error;
    if (fromCompiled.ok && fromInterpreter.ok && sameDecision(fromCompiled.decision, fromInterpreter.decision)) {
      observe(request, fromCompiled.decision);
      return fromCompiled.decision;
    }
    const what = fromCompiled.ok && fromInterpreter.ok ? `the ${difference(fromCompiled.decision, fromInterpreter.decision)} of a call` : "a call";
    throw new BackendDisagreement(
      `the compiled guard and the interpreter disagree on ${what} to \`${request.tool}\`: the compiled guard ${said(fromCompiled)}, the interpreter ${said(fromInterpreter)}`,
      fromCompiled.ok ? fromCompiled.decision : undefined,
      fromInterpreter.ok ? fromInterpreter.decision : undefined,
    );
  };
  const reachableTools = (context: GuardContext): readonly string[] => {
    const a = compiled.reachableTools?.(context) ?? [];
    const b = interpreted.reachableTools?.(context) ?? [];
    if (JSON.stringify([...a].sort()) === JSON.stringify([...b].sort())) return a;
    const list = (tools: readonly string[]): string => (tools.length === 0 ? "none" : tools.map((t) => `\`${t}\``).join(", "));
    throw new BackendDisagreement(
      `the compiled guard and the interpreter disagree on the reachable tools: the compiled guard lists ${list(a)}, the interpreter ${list(b)}`,
      undefined,
      undefined,
    );
  };
  // Result decisions must agree in full as well; both back ends compute them without throwing.
  const inspectResult = (request: GuardRequest, result: CallResult, context: GuardContext): ResultDecision => {
    const a = compiled.inspectResult?.(request, result, context);
    const b = interpreted.inspectResult?.(request, result, context);
    if (a === undefined || b === undefined || JSON.stringify(a) !== JSON.stringify(b)) {
      throw new BackendDisagreement(`the compiled guard and the interpreter disagree on a result of \`${request.tool}\`: the compiled guard ${a?.decision ?? "has no result rules"} (${a?.reason ?? ""}), the interpreter ${b?.decision ?? "has no result rules"} (${b?.reason ?? ""})`, undefined, undefined);
    }
    observeResult?.(request, a);
    return a;
  };
  return {
    inspectResult,
    policyName: compiled.policyName,
    policyDigest: compiled.policyDigest,
    toolDigests: compiled.toolDigests,
    ...(compiled.longestWindowMs === undefined ? {} : { longestWindowMs: compiled.longestWindowMs }),
    guard,
    reachableTools,
  };
}
