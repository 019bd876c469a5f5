// Policies one edit away from a checked policy, to measure `pqguard diff` with: mutants that change what the policy
// means (an operator flipped, a constant moved, a list member swapped or removed, a window or limit changed, a regex
// altered, a rule dropped, an effect changed, an aggregate's fold or scope changed), and rewrites that must not (rules reordered, conditions commuted, a
// rule split per tool, comments and layout). Each is the policy's text edited at the spans of its syntax tree;
// callers check it and keep the ones that still check.
import type { Binary, Call, CallRule, DurationLiteral, Expr, ListLiteral, NumberLiteral, RegexLiteral, Span, StringLiteral } from "../../grammar/ast.js";
import { conjuncts, pathText } from "../../compiler/analysis.js";
import type { CheckedPolicy, Type } from "../../compiler/ir.js";
import { ALGORITHMS } from "../../runtime/guard/algorithms.js";
import { regexSites, widenClass } from "./regex.js";
import { WEEKDAYS } from "./wallclock.js";

export type MutationKind = "operator" | "constant" | "member" | "window" | "regex" | "drop" | "effect" | "aggregate";
export type RewriteKind = "reorder" | "commute" | "split" | "layout";

export interface Mutant {
  readonly kind: MutationKind;
  /** `payments.policy:18: \`<=\` → \`<\``. */
  readonly description: string;
  readonly source: string;
}

export interface Rewrite {
  readonly kind: RewriteKind;
  readonly description: string;
  readonly source: string;
}

const FLIP: Readonly<Record<string, string>> = { "<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "==" };
const EFFECTS = ["permit", "ask", "forbid"] as const;

function edit(source: string, span: { start: number; end: number }, text: string): string {
  return `${source.slice(0, span.start)}${text}${source.slice(span.end)}`;
}

function unparen(expr: Expr): Expr {
  let e = expr;
  while (e.kind === "Paren") e = e.inner;
  return e;
}

/** Every sub-expression, with its parent. */
function* walk(expr: Expr, parent: Expr | undefined = undefined): Generator<{ expr: Expr; parent: Expr | undefined }> {
  yield { expr, parent };
  switch (expr.kind) {
    case "Paren":
      yield* walk(expr.inner, expr);
      return;
    case "Unary":
      yield* walk(expr.operand, expr);
      return;
    case "Binary":
      yield* walk(expr.left, expr);
      yield* walk(expr.right, expr);
      return;
    case "Call":
      for (const arg of expr.args) yield* walk(arg, expr);
      return;
    case "ListLiteral":
      for (const element of expr.elements) yield* walk(element, expr);
      return;
    case "Quantifier":
      yield* walk(expr.list, expr);
      yield* walk(expr.body, expr);
      return;
    default:
      return;
  }
}

class MutantWriter {
  readonly out: Mutant[] = [];
  private readonly file: string;

  constructor(private readonly policy: CheckedPolicy) {
    this.file = policy.fileName;
  }

  private line(span: Span): string {
    return `${this.file}:${span.line}`;
  }

  add(kind: MutationKind, span: Span, text: string, what: string): void {
    const before = this.policy.source.slice(span.start, span.end);
    if (before === text) return;
    this.out.push({ kind, description: `${this.line(span)}: ${what}`, source: edit(this.policy.source, span, text) });
  }

  /** The values a compared string could be swapped for: the enum, the weekdays, the algorithms, or the policy's other literals. */
  private domain(subject: Expr): string[] {
    const s = unparen(subject);
    const type: Type | undefined = this.policy.types.get(s) ?? this.policy.types.get(subject);
    if (s.kind === "Path" && s.root === "time" && s.segments[0]?.kind === "Field" && s.segments[0].name === "weekday") return [...WEEKDAYS];
    if (type?.kind === "string" && type.enum !== undefined) return [...type.enum];
    if (type?.kind === "algorithm") return Object.keys(ALGORITHMS).filter((n) => ALGORITHMS[n]!.family === type.family);
    if (s.kind !== "Path") return [];
    const text = pathText(s.root, s.segments);
    return [...new Set(this.comparedLiterals().filter((c) => c.path === text).map((c) => c.value))];
  }

  /** Every string literal compared with a path (`==`, `!=`, `in`), anywhere in the policy. */
  private comparedLiterals(): { path: string; value: string }[] {
    const out: { path: string; value: string }[] = [];
    for (const expr of this.conditions()) {
      for (const { expr: e } of walk(expr)) {
        if (e.kind !== "Binary" || !["==", "!=", "in", "not in"].includes(e.op)) continue;
        const left = unparen(e.left);
        const right = unparen(e.right);
        const pathSide = left.kind === "Path" ? left : right.kind === "Path" ? right : undefined;
        const other = pathSide === left ? right : left;
        if (pathSide?.kind !== "Path") continue;
        const strings = other.kind === "StringLiteral" ? [other] : other.kind === "ListLiteral" ? other.elements.filter((x): x is StringLiteral => x.kind === "StringLiteral") : [];
        for (const s of strings) out.push({ path: pathText(pathSide.root, pathSide.segments), value: s.value });
      }
    }
    return out;
  }

  conditions(): Expr[] {
    return [...this.policy.requirements.map((r) => r.condition), ...this.policy.rules.flatMap((r) => [r.when, r.unless].filter((e): e is Expr => e !== undefined))];
  }

  expression(expr: Expr): void {
    for (const { expr: e, parent } of walk(expr)) {
      if (e.kind === "Binary") this.operator(e);
      if (e.kind === "NumberLiteral") this.number(e);
      if (e.kind === "DurationLiteral") this.duration(e, parent);
      if (e.kind === "ListLiteral" && parent?.kind === "Binary") this.members(e, parent);
      if (e.kind === "StringLiteral" && parent?.kind === "Binary" && (parent.op === "==" || parent.op === "!=")) this.swapString(e, parent);
      if (e.kind === "RegexLiteral") this.regex(e);
      if (e.kind === "Call" && (e.callee === "sum" || e.callee === "max" || e.callee === "min")) this.aggregate(e);
    }
  }

  /** Another fold of the same values (`sum` ↔ `max`, `min` → `max`), and another scope: client ↔ session. */
  private aggregate(e: Call): void {
    const other = e.callee === "sum" ? "max" : e.callee === "max" ? "sum" : "max";
    this.add("aggregate", e.calleeSpan, other, `\`${e.callee}()\` → \`${other}()\``);
    const scope = e.args[2];
    const window = e.args[1];
    if (scope === undefined && window !== undefined) this.add("aggregate", { ...window.span, start: window.span.end }, ", client", `scope \`session\` → \`client\``);
    else if (scope !== undefined) {
      const next = scope.kind === "Path" && scope.root === "client" ? "session" : "client";
      this.add("aggregate", scope.span, next, `scope \`${this.policy.source.slice(scope.span.start, scope.span.end)}\` → \`${next}\``);
    }
  }

  private operator(e: Binary): void {
    const flipped = FLIP[e.op];
    if (flipped !== undefined) this.add("operator", e.opSpan, flipped, `\`${e.op}\` → \`${flipped}\``);
  }

  private number(e: NumberLiteral): void {
    const show = (n: number): string => (e.integer ? String(n) : String(Number(n.toPrecision(12))));
    for (const [value, what] of [[e.value + 1, "+1"], [e.value - 1, "-1"], [e.value * 10, "×10"]] as const) {
      if (value < 0) continue;
      this.add("constant", e.span, show(value), `\`${e.text}\` ${what} → \`${show(value)}\``);
    }
  }

  private duration(e: DurationLiteral, parent: Expr | undefined): void {
    const text = (amount: number): string => `${amount}${e.unit}`;
    if (parent?.kind === "Call" && ["calls", "sum", "max", "min"].includes(parent.callee)) {
      this.add("window", e.span, text(e.amount * 2), `window \`${e.text}\` ×2 → \`${text(e.amount * 2)}\``);
      return;
    }
    for (const [amount, what] of [[e.amount + 1, "+1"], [e.amount - 1, "-1"], [e.amount * 10, "×10"]] as const) {
      if (amount < 1) continue;
      this.add("constant", e.span, text(amount), `\`${e.text}\` ${what} → \`${text(amount)}\``);
    }
  }

  private members(list: ListLiteral, parent: Binary): void {
    const subject = parent.right === list || unparen(parent.right) === list ? parent.left : parent.right;
    const values = list.elements.map((x) => (x.kind === "StringLiteral" ? x.value : undefined));
    const domain = this.domain(subject);
    list.elements.forEach((element, i) => {
      const shown = this.policy.source.slice(element.span.start, element.span.end);
      const next = list.elements[i + 1];
      const previous = list.elements[i - 1];
      const span = next !== undefined ? { ...element.span, end: next.span.start } : previous !== undefined ? { ...element.span, start: previous.span.end } : element.span;
      this.add("member", span, "", `\`${shown}\` removed from the list`);
      if (element.kind !== "StringLiteral") return;
      const swap = domain.find((d) => !values.includes(d));
      if (swap !== undefined) this.add("member", element.span, JSON.stringify(swap), `\`${shown}\` swapped for \`${JSON.stringify(swap)}\``);
    });
  }

  private swapString(literal: StringLiteral, parent: Binary): void {
    const subject = unparen(parent.left) === literal ? parent.right : parent.left;
    const swap = this.domain(subject).find((d) => d !== literal.value);
    if (swap !== undefined) this.add("member", literal.span, JSON.stringify(swap), `\`${JSON.stringify(literal.value)}\` swapped for \`${JSON.stringify(swap)}\``);
  }

  private regex(e: RegexLiteral): void {
    const start = e.span.start + 1;
    for (const site of regexSites(e.pattern)) {
      const at = { ...e.span, start: start + site.start, end: start + site.end };
      const shown = e.pattern.slice(site.start, site.end);
      const becomes = (text: string): string => `\`/${e.pattern.slice(0, site.start)}${text}${e.pattern.slice(site.end)}/\``;
      if (site.kind === "anchor") this.add("regex", at, "", `anchor \`${shown}\` dropped: ${becomes("")}`);
      if (site.kind === "digit") this.add("regex", at, "\\w", `\`\\d\` widened to \`\\w\`: ${becomes("\\w")}`);
      if (site.kind === "class") {
        const widened = widenClass(e.pattern, site, e.flags);
        if (widened !== undefined) this.add("regex", { ...e.span, start, end: start + e.pattern.length }, widened, `class \`${shown}\` widened: \`/${widened}/\``);
      }
    }
  }
}

/** Every single mutation of the kinds above, unchecked. */
export function mutants(policy: CheckedPolicy): Mutant[] {
  const writer = new MutantWriter(policy);
  for (const statement of policy.ast.statements) {
    if (statement.kind === "RequireBlock") {
      for (const requirement of statement.requirements) {
        writer.add("drop", requirement.span, "", `requirement \`${policy.source.slice(requirement.condition.span.start, requirement.condition.span.end)}\` dropped`);
        writer.expression(requirement.condition);
      }
    } else if (statement.kind === "CallRule") {
      writer.add("drop", statement.span, "", `rule \`${statement.effect} tool …\` dropped`);
      const keyword = { ...statement.span, end: statement.span.start + statement.effect.length };
      for (const effect of EFFECTS) if (effect !== statement.effect) writer.add("effect", keyword, effect, `\`${statement.effect}\` → \`${effect}\``);
      if (statement.when !== undefined) writer.expression(statement.when);
      if (statement.unless !== undefined) writer.expression(statement.unless);
    } else if (statement.kind === "LimitRule") {
      writer.add("drop", statement.span, "", "limit dropped");
      const count = statement.count;
      for (const n of [count.value + 1, count.value - 1]) writer.add("window", count.span, String(n), `limit count \`${count.text}\` → \`${n}\``);
      const window = statement.window;
      writer.add("window", window.span, `${window.amount * 2}${window.unit}`, `limit window \`${window.text}\` ×2 → \`${window.amount * 2}${window.unit}\``);
    }
  }
  return writer.out;
}

// ---------------------------------------------------------------------------------------------------------
// Rewrites

function text(policy: CheckedPolicy, span: Span): string {
  return policy.source.slice(span.start, span.end);
}

/** The `and` conjuncts of a condition written in reverse order, when it has two or more. */
function commuted(policy: CheckedPolicy, condition: Expr | undefined): { span: Span; text: string } | undefined {
  if (condition === undefined) return undefined;
  const parts = conjuncts(condition);
  if (parts.length < 2) return undefined;
  return { span: condition.span, text: [...parts].reverse().map((p) => text(policy, p.span)).join(" and ") };
}

/** Rewrites that keep what the policy decides, unchecked. */
export function rewrites(policy: CheckedPolicy): Rewrite[] {
  const out: Rewrite[] = [];
  const { source } = policy;
  const where = (span: Span): string => `${policy.fileName}:${span.line}`;
  const rules = policy.ast.statements.filter((s) => s.kind === "CallRule" || s.kind === "LimitRule");
  for (let i = 0; i + 1 < rules.length; i++) {
    const a = rules[i]!.span;
    const b = rules[i + 1]!.span;
    const swapped = `${source.slice(0, a.start)}${text(policy, b)}${source.slice(a.end, b.start)}${text(policy, a)}${source.slice(b.end)}`;
    out.push({ kind: "reorder", description: `${where(a)} and ${where(b)} swapped`, source: swapped });
  }
  for (const statement of policy.ast.statements) {
    if (statement.kind === "RequireBlock") {
      for (const requirement of statement.requirements) {
        const c = commuted(policy, requirement.condition);
        if (c !== undefined) out.push({ kind: "commute", description: `${where(requirement.span)}: conjuncts reversed`, source: edit(source, c.span, c.text) });
      }
    }
    if (statement.kind !== "CallRule") continue;
    // A forbid applies when its condition cannot be evaluated, so only its `unless` commutes freely, and a permit's or
    // an ask's `when` (docs/language.md, "Decisions"); the other conditions are left as they are.
    const c = statement.effect === "forbid" ? commuted(policy, statement.unless) : commuted(policy, statement.when);
    if (c !== undefined) out.push({ kind: "commute", description: `${where(statement.span)}: conjuncts reversed`, source: edit(source, c.span, c.text) });
    const split = splitRule(policy, statement);
    if (split !== undefined) out.push({ kind: "split", description: `${where(statement.span)}: split into one rule per tool`, source: edit(source, statement.span, split) });
  }
  out.push({ kind: "layout", description: "comments added and lines re-indented", source: relaid(policy) });
  return out;
}

function splitRule(policy: CheckedPolicy, rule: CallRule): string | undefined {
  if (rule.target.kind !== "ToolList" || rule.target.tools.length < 2) return undefined;
  const whole = text(policy, rule.span);
  const offset = rule.target.span.start - rule.span.start;
  const length = rule.target.span.end - rule.target.span.start;
  return rule.target.tools
    .map((tool) => `${whole.slice(0, offset)}${text(policy, tool.span)}${whole.slice(offset + length)}`)
    .join("\n\n");
}

/** The same statements with a comment before each, a comment after each, and continuation lines indented deeper. */
function relaid(policy: CheckedPolicy): string {
  let source = policy.source;
  const statements = [...policy.ast.statements].sort((a, b) => b.span.start - a.span.start);
  for (const statement of statements) {
    source = `${source.slice(0, statement.span.end)} /* end of ${statement.kind} */${source.slice(statement.span.end)}`;
    source = `${source.slice(0, statement.span.start)}// ${statement.kind}, rewritten\n\n${source.slice(statement.span.start)}`;
  }
  return source.replace(/\n([ \t]+)(?=\S)/g, "\n$1    ");
}
