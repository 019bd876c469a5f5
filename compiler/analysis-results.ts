// Static analysis of result rules that both back ends read: each rule's clauses (`when` split at top-level `and`, as
// for call rules) with their texts, and the rules that target a tool.
import { conjuncts, exprText, forEachCall, targets, type Clause } from "./analysis.js";
import type { Expr } from "../grammar/ast.js";
import type { CheckedPolicy, CheckedResultRule } from "./ir.js";

export interface ResultOutline {
  readonly rule: CheckedResultRule;
  readonly when: readonly Clause[];
  readonly unless: Clause | undefined;
}

const outlines = new WeakMap<CheckedPolicy, readonly ResultOutline[]>();

/** The result rules in source order with their clauses. */
export function resultOutline(policy: CheckedPolicy): readonly ResultOutline[] {
  let items = outlines.get(policy);
  if (items === undefined) {
    const clause = (expr: CheckedResultRule["when"] & object): Clause => ({ expr, text: exprText(policy, expr) });
    items = (policy.resultRules ?? []).map((rule) => ({
      rule,
      when: rule.when === undefined ? [] : conjuncts(rule.when).map(clause),
      unless: rule.unless === undefined ? undefined : clause(rule.unless),
    }));
    outlines.set(policy, items);
  }
  return items;
}

/** The result rules that apply to results of `tool`, in source order. */
export function resultRulesFor(policy: CheckedPolicy, tool: string): readonly ResultOutline[] {
  return resultOutline(policy).filter((item) => targets(item.rule.tools, tool));
}

/** Tools some result rule targets by name, sorted; `*` rules apply to every other tool too. */
export function resultRuleTools(policy: CheckedPolicy): string[] {
  const named = new Set<string>();
  for (const item of resultOutline(policy)) if (item.rule.tools !== "*") for (const t of item.rule.tools) named.add(t);
  return [...named].sort();
}

/** Tool name → outputSchema, for every tool with one that a `redact` rule targets: redactions are checked against it. */
export function redactedOutputSchemas(policy: CheckedPolicy): Record<string, unknown> {
  const redacts = resultOutline(policy).filter((i) => i.rule.action === "redact");
  const schemas: Record<string, unknown> = {};
  for (const tool of policy.tools) {
    const schema = tool.definition["outputSchema"];
    if (schema !== undefined && redacts.some((i) => targets(i.rule.tools, tool.name))) schemas[tool.name] = schema;
  }
  return schemas;
}

/** Every `seen` label the policy records (`mark ... as seen`) or reads (`seen("...")`), sorted. */
export function seenLabels(policy: CheckedPolicy): string[] {
  const labels = new Set<string>();
  const walk = (e: Expr | undefined): void =>
    forEachCall(e, (call) => {
      if (call.callee === "seen" && call.args[0]?.kind === "StringLiteral") labels.add(call.args[0].value);
    });
  for (const r of policy.requirements) walk(r.condition);
  for (const r of policy.rules) {
    walk(r.when);
    walk(r.unless);
  }
  for (const r of policy.resultRules) {
    walk(r.when);
    walk(r.unless);
    if (r.seen && r.label !== undefined) labels.add(r.label);
  }
  return [...labels].sort();
}
