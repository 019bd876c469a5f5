// Policy coverage, as `opa test --coverage` gives it for Rego: which rules no test exercised, which conditions no
// test saw both true and false, which tools no test called. Read from the decisions' explanations alone: evaluation
// is left to right with short-circuit, so an entry's detail (the first clause that was false, or that all held) says
// the outcome of every clause evaluated before it, and the clauses after it were not evaluated.
import { outline, type Clause } from "../../compiler/analysis.js";
import { resultOutline } from "../../compiler/analysis-results.js";
import type { CheckedPolicy } from "../../compiler/ir.js";
import { explainText, saysFalse } from "../../runtime/guard/helpers.js";
import type { Decision, Explanation, GuardRequest, ResultDecision } from "../../runtime/guard/types.js";

/** One condition: a requirement, or one clause of a rule's `when` (a top-level `and` conjunct) or its `unless`. */
export interface ConditionCoverage {
  /** The requirement or rule id, `payments.policy:18`. */
  readonly rule: string;
  /** `when`, `unless`, or `require` for a requirement's whole condition. */
  readonly part: "when" | "unless" | "require";
  /** The condition as explanations quote it. */
  readonly text: string;
  readonly seenTrue: boolean;
  readonly seenFalse: boolean;
}

export interface PolicyCoverage {
  /** Every requirement, rule and limit id, with whether a test exercised it (it decided, or it matched). */
  readonly rules: readonly { readonly id: string; readonly covered: boolean }[];
  readonly conditions: readonly ConditionCoverage[];
  /** Every tool of the manifests, with whether a test called it. */
  readonly tools: readonly { readonly name: string; readonly called: boolean }[];
}

/** Covered and total items: a rule counts once, a condition twice (true and false), a tool once. */
export interface CoverageCount {
  readonly covered: number;
  readonly total: number;
}

interface ConditionState {
  readonly rule: string;
  readonly part: ConditionCoverage["part"];
  readonly text: string;
  seenTrue: boolean;
  seenFalse: boolean;
}

/** Accumulates the decisions of one policy's tests. */
export class CoverageTracker {
  private readonly rules = new Map<string, boolean>();
  private readonly tools = new Map<string, boolean>();
  private readonly requirements = new Map<string, ConditionState>();
  /** Per rule id: its `when` clauses in order, then its `unless` clause if any. */
  private readonly clauses = new Map<string, { when: ConditionState[]; unless: ConditionState | undefined }>();

  constructor(policy: CheckedPolicy) {
    const state = (rule: string, part: ConditionState["part"], clause: Clause | { text: string }): ConditionState => ({
      rule,
      part,
      text: clause.text,
      seenTrue: false,
      seenFalse: false,
    });
    for (const req of policy.requirements) {
      this.rules.set(req.id, false);
      this.requirements.set(req.id, state(req.id, "require", req));
    }
    for (const item of outline(policy)) {
      if (item.kind === "limit") {
        this.rules.set(item.limit.id, false);
        continue;
      }
      const id = item.rule.id;
      this.rules.set(id, false);
      this.clauses.set(id, {
        when: item.when.map((c) => state(id, "when", c)),
        unless: item.unless === undefined ? undefined : state(id, "unless", item.unless),
      });
    }
    // Result rules count as rules do: covered once one applied, each clause once seen true and once false.
    for (const item of resultOutline(policy)) {
      const id = item.rule.id;
      this.rules.set(id, false);
      this.clauses.set(id, {
        when: item.when.map((c) => state(id, "when", c)),
        unless: item.unless === undefined ? undefined : state(id, "unless", item.unless),
      });
    }
    for (const tool of policy.tools) this.tools.set(tool.name, false);
  }

  /** Records what the result rules decided on one result of `request.tool`. */
  recordResult(request: GuardRequest, decision: ResultDecision): void {
    for (const id of decision.determining) if (this.rules.has(id)) this.rules.set(id, true);
    for (const entry of decision.explain) this.recordEntry(entry);
  }

  record(request: GuardRequest, decision: Decision): void {
    if (this.tools.has(request.tool)) this.tools.set(request.tool, true);
    for (const id of decision.determining) if (this.rules.has(id)) this.rules.set(id, true);
    for (const entry of decision.explain) this.recordEntry(entry);
  }

  private recordEntry(entry: Explanation): void {
    if (entry.matched && this.rules.has(entry.rule)) this.rules.set(entry.rule, true);
    const requirement = this.requirements.get(entry.rule);
    if (entry.effect === "require" && requirement !== undefined) {
      if (entry.detail === explainText.held(requirement.text)) requirement.seenTrue = true;
      else if (entry.detail === explainText.wasFalse(requirement.text)) requirement.seenFalse = true;
      return;
    }
    const clauses = this.clauses.get(entry.rule);
    if (clauses !== undefined && entry.effect !== "limit") this.recordClauses(clauses, entry.detail);
  }

  /** The outcomes a rule's detail implies: every clause before the one it names held; that one was false (or errored). */
  private recordClauses(clauses: { when: ConditionState[]; unless: ConditionState | undefined }, detail: string): void {
    const { when, unless } = clauses;
    const heldUpTo = (end: number): void => when.slice(0, end).forEach((c) => (c.seenTrue = true));
    if (detail === explainText.allHeld) {
      heldUpTo(when.length);
      if (unless !== undefined) unless.seenFalse = true;
      return;
    }
    for (let i = 0; i < when.length; i++) {
      const clause = when[i]!;
      if (saysFalse(detail, clause.text)) {
        heldUpTo(i);
        clause.seenFalse = true;
        return;
      }
      // An evaluation error is neither outcome: the clauses before it held, and it itself is left as it was.
      if (detail.startsWith(explainText.notEvaluated(clause.text, ""))) return heldUpTo(i);
    }
    if (unless === undefined) return;
    if (detail === explainText.unlessHeld(unless.text)) {
      heldUpTo(when.length);
      unless.seenTrue = true;
    } else if (detail.startsWith(explainText.notEvaluated(unless.text, ""))) {
      heldUpTo(when.length);
    }
  }

  coverage(): PolicyCoverage {
    const conditions: ConditionCoverage[] = [];
    const freeze = (c: ConditionState): ConditionCoverage => ({ rule: c.rule, part: c.part, text: c.text, seenTrue: c.seenTrue, seenFalse: c.seenFalse });
    for (const req of this.requirements.values()) conditions.push(freeze(req));
    for (const { when, unless } of this.clauses.values()) {
      conditions.push(...when.map(freeze));
      if (unless !== undefined) conditions.push(freeze(unless));
    }
    return {
      rules: [...this.rules].map(([id, covered]) => ({ id, covered })),
      conditions,
      tools: [...this.tools].map(([name, called]) => ({ name, called })),
    };
  }
}

/** Covered and total items of one policy's coverage, or of several added up. */
export function countCoverage(coverages: readonly PolicyCoverage[]): { rules: CoverageCount; conditions: CoverageCount; tools: CoverageCount; all: CoverageCount } {
  const count = <T>(items: (c: PolicyCoverage) => readonly T[], covered: (item: T) => number, weight: number): CoverageCount => ({
    covered: coverages.reduce((n, c) => n + items(c).reduce((m, item) => m + covered(item), 0), 0),
    total: coverages.reduce((n, c) => n + items(c).length * weight, 0),
  });
  const rules = count((c) => c.rules, (r) => (r.covered ? 1 : 0), 1);
  const conditions = count((c) => c.conditions, (c) => (c.seenTrue ? 1 : 0) + (c.seenFalse ? 1 : 0), 2);
  const tools = count((c) => c.tools, (t) => (t.called ? 1 : 0), 1);
  const all = { covered: rules.covered + conditions.covered + tools.covered, total: rules.total + conditions.total + tools.total };
  return { rules, conditions, tools, all };
}

/** A percentage with one decimal, rounded down so that a report never shows 100.0 for less than everything. */
export function percent(count: CoverageCount): number {
  // Integer division first: a quotient that is exactly an integer comes out exact, so 95 of 100 is 95.0, not 94.9.
  return count.total === 0 ? 100 : Math.floor((count.covered * 1000) / count.total) / 10;
}
