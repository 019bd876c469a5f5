// Lints: warnings about rules that can never apply as written, either because an unconditional forbid covers them
// or because two conjuncts of a condition contradict each other on their face.
import type { CallRule, Expr, Path, ToolTarget } from "../../grammar/ast.js";
import { conjuncts } from "../analysis.js";
import type { CheckContext } from "./context.js";
import { unwrap } from "./types.js";

/** Warns about every permit or ask rule that an unconditional forbid covers: it can never apply. */
export function shadowedRules(ctx: CheckContext, rules: readonly CallRule[]): void {
  const unconditional = rules.filter((r) => r.effect === "forbid" && r.when === undefined && r.unless === undefined);
  if (unconditional.length === 0) return;
  for (const rule of rules) {
    if (rule.effect === "forbid") continue;
    const covering = unconditional.find((f) => covers(f.target, rule.target));
    if (covering === undefined) continue;
    const tools = rule.target.kind === "AnyTool" ? "every tool" : rule.target.tools.map((t) => `\`${t.name}\``).join(", ");
    ctx.report("shadowedRule", rule, { target: ctx.text(covering.target.span), line: covering.span.line, tools });
  }
}

/** Flags the first pair of top-level conjuncts that contradict each other on their face. */
export function contradictions(ctx: CheckContext, e: Expr): void {
  const facts: { key: string; fact: Comparison; node: Expr }[] = [];
  for (const c of conjuncts(e).map(unwrap)) {
    const f = comparisonFact(c, (x) => ctx.text(x.span).replace(/\s+/g, ""));
    if (f === undefined) continue;
    const clash = facts.find((other) => other.key === f.key && contradicts(other.fact, f.fact));
    if (clash !== undefined) {
      ctx.report("contradiction", c, { first: ctx.quote(clash.node), second: ctx.quote(c) });
      return;
    }
    facts.push({ key: f.key, fact: f.fact, node: c });
  }
}

function covers(forbid: ToolTarget, rule: ToolTarget): boolean {
  if (forbid.kind === "AnyTool") return true;
  if (rule.kind === "AnyTool") return false;
  const names = new Set(forbid.tools.map((t) => t.name));
  return rule.tools.every((t) => names.has(t.name));
}

type Literal = number | string | boolean;
type Comparison = { readonly op: "==" | "!=" | "<" | "<=" | ">" | ">="; readonly value: Literal };

const FLIPPED = { "==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<=" } as const;

function literalValue(e: Expr): { value: Literal; kind: string } | undefined {
  const x = unwrap(e);
  switch (x.kind) {
    case "NumberLiteral":
      return { value: x.value, kind: "number" };
    case "DurationLiteral":
      return { value: x.ms, kind: "duration" };
    case "StringLiteral":
      return { value: x.value, kind: "string" };
    case "BooleanLiteral":
      return { value: x.value, kind: "boolean" };
    case "Unary": {
      const v = x.op === "-" ? literalValue(x.operand) : undefined;
      return v !== undefined && typeof v.value === "number" ? { value: -v.value, kind: v.kind } : undefined;
    }
    default:
      return undefined;
  }
}

/** `path OP literal` (or `literal OP path`) as a fact about the path; anything else says nothing. */
function comparisonFact(e: Expr, key: (p: Path) => string): { key: string; fact: Comparison } | undefined {
  if (e.kind !== "Binary" || !(e.op in FLIPPED)) return undefined;
  const op = e.op as keyof typeof FLIPPED;
  const left = unwrap(e.left);
  const right = unwrap(e.right);
  if (left.kind === "Path") {
    const v = literalValue(right);
    return v === undefined ? undefined : { key: `${key(left)}:${v.kind}`, fact: { op, value: v.value } };
  }
  if (right.kind === "Path") {
    const v = literalValue(left);
    return v === undefined ? undefined : { key: `${key(right)}:${v.kind}`, fact: { op: FLIPPED[op], value: v.value } };
  }
  return undefined;
}

function satisfies(value: Literal, fact: Comparison): boolean {
  switch (fact.op) {
    case "==":
      return value === fact.value;
    case "!=":
      return value !== fact.value;
    default:
      if (typeof value !== "number" || typeof fact.value !== "number") return true;
      return fact.op === "<" ? value < fact.value : fact.op === "<=" ? value <= fact.value : fact.op === ">" ? value > fact.value : value >= fact.value;
  }
}

function contradicts(a: Comparison, b: Comparison): boolean {
  if (a.op === "==") return !satisfies(a.value, b);
  if (b.op === "==") return !satisfies(b.value, a);
  if (typeof a.value !== "number" || typeof b.value !== "number") return false;
  const lower = (f: Comparison) => f.op === ">" || f.op === ">=";
  const upper = (f: Comparison) => f.op === "<" || f.op === "<=";
  const [lo, hi] = lower(a) && upper(b) ? [a, b] : lower(b) && upper(a) ? [b, a] : [undefined, undefined];
  if (lo === undefined || hi === undefined) return false;
  const l = lo.value as number;
  const h = hi.value as number;
  return l > h || (l === h && (lo.op === ">" || hi.op === "<"));
}
