// Property assertions about a guard, for mocha `it` blocks, `pqguard test` property files and any runner that catches a
// thrown error. Each is one fast-check property over generated requests, checked with `fc.assert`; a failure throws a
// GuardAssertionError naming the rule that decided the shrunk counterexample, printed as `pqguard eval --request` reads it.
import fc from "fast-check";
import type { Decision, DecisionKind, GuardModule } from "../runtime/guard/types.js";
import { printRequest } from "./print.js";
import { PqguardError } from "../runtime/errors.js";
import { GUARD_ASSERTION_ERRORS } from "./assertion-codes.js";
import { DISAGREEMENT_CODE } from "./runner/agreement.js";
import { decidedBy, decidedText, explanationLines } from "./runner/decisions.js";
import type { GeneratedRequest } from "./types.js";

export type { PolicyUnderTest, PropertyFile, PropertyTest } from "./runner/contract.js";

/** The codes by name (testing/assertion-codes.ts). */
export const GuardAssertionErrorCode = GUARD_ASSERTION_ERRORS.codes;

export type GuardAssertionErrorCode = (typeof GuardAssertionErrorCode)[keyof typeof GuardAssertionErrorCode];

/** What a failed assertion found, beside its message: enough to replay it or to show it another way. */
export interface AssertionFailure {
  /** `neverAllows`, `alwaysDenies`, `decides` or `explainsWith`. */
  readonly assertion: string;
  /** The shrunk counterexample; absent when fast-check found none (NotChecked). */
  readonly counterexample?: GeneratedRequest | undefined;
  /** The counterexample as the JSON `pqguard eval --request` reads. */
  readonly requestJson?: string | undefined;
  /** The guard's decision on the counterexample, when it made one. */
  readonly decision?: Decision | undefined;
  /** fast-check's seed and path: pass them back as `params` to replay exactly this failure. */
  readonly seed: number;
  readonly path?: string | undefined;
  readonly numRuns: number;
  readonly numShrinks: number;
}

/** A failed guard assertion: one sentence, then the explanation, the counterexample and how to replay it. */
export class GuardAssertionError extends PqguardError {
  declare readonly code: GuardAssertionErrorCode;
  constructor(
    code: GuardAssertionErrorCode,
    message: string,
    readonly failure: AssertionFailure,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.name = "GuardAssertionError";
  }
}

/** A guard to check: a compiled guard module's default export, `interpret(policy)`, or anything with `guard()`. */
export type GuardUnderTest = Pick<GuardModule, "guard">;

/** fast-check's run parameters (`numRuns`, `seed`, `path`, ...), passed through; the reporter is the assertion's own. */
export type AssertionParams = Omit<fc.Parameters<[GeneratedRequest]>, "reporter" | "asyncReporter">;

/** The decision expected for a request: a kind, or a function of the request giving it. */
export type ExpectedDecision = DecisionKind | ((request: GeneratedRequest) => DecisionKind);

/** What makes a decision wrong: the end of the failure's sentence, or undefined when the decision is right. */
type Verdict = (request: GeneratedRequest, decision: Decision) => string | undefined;

interface PropertySpec {
  readonly assertion: string;
  /** Only requests this holds for are checked; the others are skipped (`fc.pre`), not counted as runs. */
  readonly applies?: ((request: GeneratedRequest) => boolean) | undefined;
  readonly verdict: Verdict;
}

function decide(guard: GuardUnderTest, request: GeneratedRequest): Decision {
  return guard.guard({ tool: request.tool, args: request.args }, request.context);
}

function codeOf(error: unknown): unknown {
  return typeof error === "object" && error !== null && "code" in error ? error.code : undefined;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((line) => `    ${line}`)
    .join("\n");
}

/**
 * Runs the failing counterexample once more to learn what went wrong: guards, predicates and expectations are pure,
 * so the same request fails the same way, and the decision (with its explanation) is at hand for the message.
 */
function diagnose(spec: PropertySpec, guard: GuardUnderTest, request: GeneratedRequest): { code: GuardAssertionErrorCode; sentence: string; decision?: Decision; cause?: unknown } {
  const call = `a call to \`${request.tool}\``;
  try {
    if (spec.applies !== undefined) spec.applies(request);
  } catch (error) {
    return { code: GuardAssertionErrorCode.Threw, sentence: `the predicate threw on ${call}: ${messageOf(error)}`, cause: error };
  }
  let decision: Decision;
  try {
    decision = decide(guard, request);
  } catch (error) {
    if (codeOf(error) === DISAGREEMENT_CODE) return { code: GuardAssertionErrorCode.BackendsDisagree, sentence: messageOf(error), cause: error };
    return { code: GuardAssertionErrorCode.Threw, sentence: `the guard threw on ${call}: ${messageOf(error)}`, cause: error };
  }
  let wrong: string | undefined;
  try {
    wrong = spec.verdict(request, decision);
  } catch (error) {
    return { code: GuardAssertionErrorCode.Threw, sentence: `the expected decision could not be computed for ${call}: ${messageOf(error)}`, decision, cause: error };
  }
  const sentence = `${call} was ${decidedText(decision)}, ${wrong ?? "and the property failed on it once but not when run again"}`;
  return { code: GuardAssertionErrorCode.PropertyFailed, sentence, decision };
}

function failure(spec: PropertySpec, guard: GuardUnderTest, details: fc.RunDetails<[GeneratedRequest]>): GuardAssertionError {
  const base = { assertion: spec.assertion, seed: details.seed, numRuns: details.numRuns, numShrinks: details.numShrinks };
  if (details.counterexample === null) {
    const sentence = details.interrupted
      ? `the run was interrupted after ${details.numRuns} runs, before fast-check found a counterexample or checked enough requests`
      : `the predicate held for too few generated requests (${details.numSkips} skipped, ${details.numRuns} checked); generate requests it holds for more often`;
    return new GuardAssertionError(GuardAssertionErrorCode.NotChecked, `${spec.assertion}: ${sentence}.`, base);
  }
  const [request] = details.counterexample;
  const found = diagnose(spec, guard, request);
  const requestJson = printRequest(request);
  const lines = [
    `${spec.assertion}: ${found.sentence}.`,
    ...(found.decision === undefined ? [] : explanationLines(found.decision).map((line) => `  ${line}`)),
    `  counterexample after ${details.numRuns} runs and ${details.numShrinks} shrinks, as \`pqguard eval --request\` reads it:`,
    indent(requestJson),
    `  replay: pass { seed: ${details.seed}, path: ${JSON.stringify(details.counterexamplePath)} } as fast-check params`,
  ];
  return new GuardAssertionError(
    found.code,
    lines.join("\n"),
    { ...base, counterexample: request, requestJson, decision: found.decision, path: details.counterexamplePath },
    { cause: found.cause ?? details.errorInstance },
  );
}

function assertProperty(spec: PropertySpec, guard: GuardUnderTest, arb: fc.Arbitrary<GeneratedRequest>, params: AssertionParams | undefined): void {
  const property = fc.property(arb, (request) => {
    if (spec.applies !== undefined) fc.pre(spec.applies(request));
    return spec.verdict(request, decide(guard, request)) === undefined;
  });
  fc.assert(property, {
    ...params,
    reporter(details) {
      if (details.failed) throw failure(spec, guard, details);
    },
  });
}

/** No generated request the predicate holds for (every request, without one) is allowed. */
export function neverAllows(
  guard: GuardUnderTest,
  arb: fc.Arbitrary<GeneratedRequest>,
  predicate?: (request: GeneratedRequest) => boolean,
  params?: AssertionParams,
): void {
  const verdict: Verdict = (_request, decision) =>
    decision.decision === "allow" ? `but no ${predicate === undefined ? "generated" : "such"} request may be allowed` : undefined;
  assertProperty({ assertion: "neverAllows", applies: predicate, verdict }, guard, arb, params);
}

/** Every generated request is denied. */
export function alwaysDenies(guard: GuardUnderTest, arb: fc.Arbitrary<GeneratedRequest>, params?: AssertionParams): void {
  const verdict: Verdict = (_request, decision) => (decision.decision === "deny" ? undefined : "but every generated request must be denied");
  assertProperty({ assertion: "alwaysDenies", verdict }, guard, arb, params);
}

/** Every generated request gets the expected decision: one kind, or the kind a function of the request gives. */
export function decides(guard: GuardUnderTest, arb: fc.Arbitrary<GeneratedRequest>, expected: ExpectedDecision, params?: AssertionParams): void {
  const verdict: Verdict = (request, decision) => {
    const want = typeof expected === "function" ? expected(request) : expected;
    return decision.decision === want ? undefined : `but \`${want}\` was expected`;
  };
  assertProperty({ assertion: "decides", verdict }, guard, arb, params);
}

/** Every generated request is decided by `ruleId` (one of the determining rules; `default` for the default deny). */
export function explainsWith(guard: GuardUnderTest, arb: fc.Arbitrary<GeneratedRequest>, ruleId: string, params?: AssertionParams): void {
  const verdict: Verdict = (_request, decision) => (decidedBy(decision, ruleId) ? undefined : `not by rule \`${ruleId}\``);
  assertProperty({ assertion: "explainsWith", verdict }, guard, arb, params);
}
