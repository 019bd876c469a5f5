// The two policies of a diff and one way to decide a probe with both: the interpreter of each, and, when given, the
// compiled guard of each, which must decide alike (a request on which they do not is kept as a disagreement).
import { outline, type RuleOutline } from "../../compiler/analysis.js";
import { interpret } from "../../compiler/interpreter.js";
import type { CheckedPolicy } from "../../compiler/ir.js";
import { saysFalse } from "../../runtime/guard/helpers.js";
import type { Decision, GuardModule } from "../../runtime/guard/types.js";
import { changeOf, correspond, outcomeOf, type ChangeKind, type Correspondence, type Outcome } from "./outcome.js";
import type { GeneratedRequest } from "../types.js";
import { requestOf, type Probe } from "./probe.js";
import { policyReads, type PolicyReads } from "./reads.js";

/** A request on which a policy's compiled guard and the interpreter decided differently: a bug in pqguard. */
export interface Disagreement {
  readonly policy: "before" | "after";
  readonly probe: Probe;
  readonly compiled: string;
  readonly interpreted: string;
}

export interface Decided {
  readonly before: Outcome;
  readonly after: Outcome;
  readonly change: ChangeKind | undefined;
  /**
   * How near the request came to making a changed rule apply, 0 to 1: the share of its clauses that held before the
   * first that did not, the most of any changed rule in either policy (1 when one applied).
   */
  readonly closeness: number;
}

/** The clauses of one rule, as its explanation entries quote them, in order. */
interface ClauseTexts {
  readonly when: readonly string[];
  readonly unless: string | undefined;
}

function clausesOf(item: RuleOutline): ClauseTexts {
  return { when: item.when.map((c) => c.text), unless: item.unless?.text };
}

/** How far a rule's explanation entry says its clauses got: the share that held before the first that did not. */
function progress(detail: string, matched: boolean, clauses: ClauseTexts): number {
  if (matched) return 1;
  const total = clauses.when.length + (clauses.unless === undefined ? 0 : 1);
  if (total === 0) return 0;
  const failed = clauses.when.findIndex((text) => saysFalse(detail, text) || detail.startsWith(`\`${text}\` could not be evaluated`));
  if (failed >= 0) return failed / total;
  return clauses.unless !== undefined && detail.includes(`\`${clauses.unless}\``) ? clauses.when.length / total : 0;
}

/** Disagreements kept: one shows the bug, a few show its extent. */
const MAX_DISAGREEMENTS = 5;

function closenessOf(decision: Decision, changed: ReadonlyMap<string, ClauseTexts>): number {
  let best = 0;
  for (const entry of decision.explain) {
    const clauses = changed.get(entry.rule);
    if (clauses !== undefined) best = Math.max(best, progress(entry.detail, entry.matched, clauses));
  }
  return best;
}

function said(d: Decision): string {
  return `${d.decision} by ${d.determining.join(", ") || "the default deny"}: ${d.reason}`;
}

/** The two policies, decided together. */
export class Pair {
  readonly before: PolicyReads;
  readonly after: PolicyReads;
  readonly disagreements: Disagreement[] = [];
  /** Requests decided so far. */
  decided = 0;
  private readonly oldGuard: GuardModule;
  private readonly newGuard: GuardModule;
  private readonly groups: Correspondence;
  /** The rules of each policy whose content the other does not have, with their clauses. */
  private readonly changedBefore: ReadonlyMap<string, ClauseTexts>;
  private readonly changedAfter: ReadonlyMap<string, ClauseTexts>;

  constructor(
    oldPolicy: CheckedPolicy,
    newPolicy: CheckedPolicy,
    private readonly compiled: { readonly before: GuardModule; readonly after: GuardModule } | undefined,
  ) {
    this.before = policyReads(oldPolicy);
    this.after = policyReads(newPolicy);
    this.oldGuard = interpret(oldPolicy);
    this.newGuard = interpret(newPolicy);
    this.groups = correspond(this.before, this.after);
    const changed = (policy: CheckedPolicy, mine: PolicyReads, theirs: PolicyReads): Map<string, ClauseTexts> => {
      const other = new Set(theirs.items.map((i) => i.identity));
      const ids = new Set(mine.items.filter((i) => !other.has(i.identity)).map((i) => i.id));
      return new Map(outline(policy).flatMap((item) => (item.kind === "rule" && ids.has(item.rule.id) ? [[item.rule.id, clausesOf(item)] as const] : [])));
    };
    this.changedBefore = changed(oldPolicy, this.before, this.after);
    this.changedAfter = changed(newPolicy, this.after, this.before);
  }

  decide(p: Probe): Decided {
    this.decided++;
    const r = requestOf(p);
    const call = { tool: r.tool, args: r.args };
    const oldDecision = this.oldGuard.guard(call, r.context);
    const newDecision = this.newGuard.guard(call, r.context);
    if (this.compiled !== undefined && this.disagreements.length < MAX_DISAGREEMENTS) {
      this.agree("before", p, r, oldDecision, this.compiled.before);
      this.agree("after", p, r, newDecision, this.compiled.after);
    }
    const before = outcomeOf(oldDecision, this.groups.before);
    const after = outcomeOf(newDecision, this.groups.after);
    const closeness = Math.max(closenessOf(oldDecision, this.changedBefore), closenessOf(newDecision, this.changedAfter));
    return { before, after, change: changeOf(p.tool, before, after), closeness };
  }

  private agree(policy: "before" | "after", p: Probe, r: GeneratedRequest, interpreted: Decision, guard: GuardModule): void {
    let compiled: string;
    try {
      compiled = said(guard.guard({ tool: r.tool, args: r.args }, r.context));
    } catch (error) {
      compiled = `threw \`${error instanceof Error ? error.message : String(error)}\``;
    }
    if (compiled !== said(interpreted)) this.disagreements.push({ policy, probe: p, compiled, interpreted: said(interpreted) });
  }

  /** The group of the requirement that decided an outcome, or undefined when no requirement did. */
  private requirementOf(o: Outcome, side: "before" | "after"): string | undefined {
    const first = o.rules[0] ?? "";
    const reads = side === "before" ? this.before : this.after;
    if (!reads.requirements.some((r) => r.id === first)) return undefined;
    return (side === "before" ? this.groups.before : this.groups.after).get(first)?.group ?? first;
  }

  /** Whether the request got past the requirements of either policy. */
  passedRequirements(d: Decided): boolean {
    return this.requirementOf(d.before, "before") === undefined || this.requirementOf(d.after, "after") === undefined;
  }

  /** Which requirement decided in each policy (matched across them), or `pass`; the two differ where the requirements do. */
  requirementOutcomes(p: Probe): { readonly before: string; readonly after: string } {
    const d = this.decide(p);
    return { before: this.requirementOf(d.before, "before") ?? "pass", after: this.requirementOf(d.after, "after") ?? "pass" };
  }
}
