// `pqguard diff`'s engine: the requests two versions of a policy decide differently, each kind of change once with the
// region of inputs it covers and a minimal counterexample as `pqguard eval --request` reads it. A search around both
// policies' constants, except where a tool's inputs have finitely many classes: those are checked exhaustively.
import type { CheckedPolicy } from "../../compiler/ir.js";
import { requestJson } from "../print.js";
import type { DecisionKind, GuardModule } from "../../runtime/guard/types.js";
import { requestOf } from "./probe.js";
import { DEFAULT_EXHAUSTIVE_LIMIT, DEFAULT_RUNS, searchDifferences, type RequirementsStatus, type ToolResult } from "./search.js";
import type { Outcome } from "./outcome.js";

export { DEFAULT_EXHAUSTIVE_LIMIT, DEFAULT_RUNS } from "./search.js";
export type { RequirementsStatus, ToolMethod, ToolResult } from "./search.js";

export interface DiffOptions {
  /** Requests the search may decide, shared by the tools it searches. Default DEFAULT_RUNS. */
  readonly runs?: number;
  /** Seed of every choice the search makes: the same seed, the same report. Default 0. */
  readonly seed?: number;
  /** The most classes a tool's exhaustive check enumerates. Default DEFAULT_EXHAUSTIVE_LIMIT. */
  readonly exhaustiveLimit?: number;
  /**
   * The policies' compiled guards (`importGuard`): every request is then decided by them as well, and a request on
   * which one disagrees with the interpreter is reported (a bug in pqguard's compiler or interpreter).
   */
  readonly compiled?: { readonly before: GuardModule; readonly after: GuardModule };
}

/** A request a compiled guard decided otherwise than the interpreter. */
export interface BackendDisagreement {
  readonly policy: "before" | "after";
  readonly compiled: string;
  readonly interpreted: string;
  readonly request: Readonly<Record<string, unknown>>;
}

/** One side of a change: the decision, the rules that made it (ids in their own file), the reason given. */
export interface DecisionSide {
  readonly decision: DecisionKind;
  /** Rule ids, or `default` for the default deny. */
  readonly rules: readonly string[];
  readonly reason: string;
}

export interface PolicyChange {
  readonly tool: string;
  /**
   * `decision`: allow, deny or ask changed. The lesser kinds: `rule`, the same decision made by other rules; `reason`,
   * made by the same rules with another reason (a changed `because` or limit).
   */
  readonly type: "decision" | "rule" | "reason";
  /** The inputs the change depends on, among those the changed rules read: `args.amount in (5000, 6000]`. */
  readonly region: readonly string[];
  readonly before: DecisionSide;
  readonly after: DecisionSide;
  /** Decided requests that showed this change. */
  readonly found: number;
  /** The minimal counterexample, as the JSON `pqguard eval --request` reads. */
  readonly request: Readonly<Record<string, unknown>>;
  /** Whether its arguments satisfy the tool's inputSchema (the guard decides on any arguments a client sends). */
  readonly argsValid: boolean;
}

/** A tool that only one policy's manifests define, or whose definition differs between them. */
export interface ManifestChange {
  readonly tool: string;
  readonly change: "removed" | "added" | "definition";
}

export interface PolicyDiff {
  /** Requests on which a compiled guard and the interpreter disagreed (only when `compiled` was given). */
  readonly disagreements: readonly BackendDisagreement[];
  readonly seed: number;
  readonly runs: number;
  /** Requests decided in all (by each policy). */
  readonly requests: number;
  readonly requirements: RequirementsStatus;
  readonly tools: readonly ToolResult[];
  readonly manifest: readonly ManifestChange[];
  readonly changes: readonly PolicyChange[];
  /** No change in the manifests and none found between the decisions. */
  readonly same: boolean;
  /** Every tool unchanged or checked exhaustively, and the requirements the same or proved alike. */
  readonly exhaustive: boolean;
}

function side(o: Outcome): DecisionSide {
  return { decision: o.decision, rules: o.rules, reason: o.reason };
}

/** Compares two checked policies; deterministic for a seed. */
export function diffPolicies(before: CheckedPolicy, after: CheckedPolicy, options: DiffOptions = {}): PolicyDiff {
  const seed = options.seed ?? 0;
  const runs = options.runs ?? DEFAULT_RUNS;
  const result = searchDifferences(before, after, { seed, runs, exhaustiveLimit: options.exhaustiveLimit ?? DEFAULT_EXHAUSTIVE_LIMIT, compiled: options.compiled });
  const manifest: ManifestChange[] = result.tools.flatMap((t): ManifestChange[] =>
    t.method === "only-old" ? [{ tool: t.tool, change: "removed" }] : t.method === "only-new" ? [{ tool: t.tool, change: "added" }] : t.definitionChanged === true ? [{ tool: t.tool, change: "definition" }] : [],
  );
  const changes = result.changes.map(
    (c): PolicyChange => ({
      tool: c.tool,
      type: c.kind.type,
      region: c.region,
      before: side(c.before),
      after: side(c.after),
      found: c.count,
      request: requestJson(requestOf(c.probe)),
      argsValid: c.argsValid,
    }),
  );
  const exhaustive =
    (result.requirements === "same" || result.requirements === "proved") &&
    result.tools.every((t) => t.method === "unchanged" || t.method === "exhaustive" || t.method === "only-old" || t.method === "only-new");
  return {
    disagreements: result.disagreements.map((d) => ({ policy: d.policy, compiled: d.compiled, interpreted: d.interpreted, request: requestJson(requestOf(d.probe)) })),
    seed,
    runs,
    requests: result.requests,
    requirements: result.requirements,
    tools: result.tools,
    manifest,
    changes,
    same: manifest.length === 0 && changes.length === 0,
    exhaustive,
  };
}

export { formatDiffJson, formatDiffText, type DiffFormatOptions } from "./report.js";
