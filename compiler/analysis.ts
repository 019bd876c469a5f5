// Static analysis of a checked policy, shared by the reference interpreter and the code generator: the outline (rules
// and limits in source order, conditions split into clauses with their texts), the types the checker proved, the
// tools a session could call and the longest window the policy counts calls over. Nothing here evaluates a call;
// the differential tests check these functions on their own, since both back ends read them (see
// test/compiler/analysis.test.ts and windows.test.ts).
import { AGGREGATES, type Expr, type LimitScope, type PathSegment, type Quantifier } from "../grammar/ast.js";
import { pathStyleFor, type PathStyle } from "../runtime/guard/paths.js";
import { pointerOf } from "../runtime/state/values.js";
import type { CheckedLimit, CheckedPolicy, CheckedRule, Type } from "./ir.js";

// ---------------------------------------------------------------------------------------------------------
// Outline: rules and limits in source order, clauses and their texts

/** Collapses whitespace runs, as explanations quote conditions. */
export function collapse(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}

const texts = new WeakMap<Expr, string>();

export function exprText(policy: CheckedPolicy, expr: Expr): string {
  let text = texts.get(expr);
  if (text === undefined) {
    text = collapse(policy.source.slice(expr.span.start, expr.span.end));
    texts.set(expr, text);
  }
  return text;
}

/** The top-level `and` conjuncts of a condition, looking through parentheses. */
export function conjuncts(expr: Expr): Expr[] {
  let inner = expr;
  while (inner.kind === "Paren") inner = inner.inner;
  if (inner.kind === "Binary" && inner.op === "and") return [...conjuncts(inner.left), ...conjuncts(inner.right)];
  return [expr];
}

export interface Clause {
  readonly expr: Expr;
  readonly text: string;
}

export interface RuleOutline {
  readonly kind: "rule";
  readonly rule: CheckedRule;
  readonly position: number;
  readonly when: readonly Clause[];
  readonly unless: Clause | undefined;
}

export interface LimitOutline {
  readonly kind: "limit";
  readonly limit: CheckedLimit;
  readonly position: number;
  /** The window as written, `1h`. */
  readonly windowText: string;
}

export type CheckOutline = RuleOutline | LimitOutline;

function lineOf(id: string): number {
  const match = /:(\d+)$/.exec(id);
  return match === null ? 0 : Number(match[1]);
}

function formatWindow(ms: number): string {
  for (const [unit, size] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

const outlines = new WeakMap<CheckedPolicy, readonly CheckOutline[]>();

/** Call rules and limits merged in source order (the order of determining ids and explanations). */
export function outline(policy: CheckedPolicy): readonly CheckOutline[] {
  let items = outlines.get(policy);
  if (items === undefined) {
    items = buildOutline(policy);
    outlines.set(policy, items);
  }
  return items;
}

function buildOutline(policy: CheckedPolicy): CheckOutline[] {
  const astRules = policy.ast.statements.filter((s) => s.kind === "CallRule");
  const astLimits = policy.ast.statements.filter((s) => s.kind === "LimitRule");
  const rulesAligned = astRules.length === policy.rules.length;
  const limitsAligned = astLimits.length === policy.limits.length;
  const clause = (expr: Expr): Clause => ({ expr, text: exprText(policy, expr) });
  const items: CheckOutline[] = [
    ...policy.rules.map((rule, i): RuleOutline => ({
      kind: "rule",
      rule,
      position: rulesAligned ? astRules[i]!.span.start : lineOf(rule.id) * 1e9,
      when: rule.when === undefined ? [] : conjuncts(rule.when).map(clause),
      unless: rule.unless === undefined ? undefined : clause(rule.unless),
    })),
    ...policy.limits.map((limit, i): LimitOutline => {
      const ast = limitsAligned ? astLimits[i] : undefined;
      const written = ast !== undefined && ast.window.ms === limit.windowMs ? ast.window.text : formatWindow(limit.windowMs);
      return { kind: "limit", limit, position: ast !== undefined ? ast.span.start : lineOf(limit.id) * 1e9, windowText: written };
    }),
  ];
  return items.sort((a, b) => a.position - b.position);
}

export function targets(tools: readonly string[] | "*", tool: string): boolean {
  return tools === "*" || tools.includes(tool);
}

/** The path as explanations print it: `args.items[0].sku`, `client.claims["tenant"]`. */
export function pathText(root: string, segments: readonly PathSegment[]): string {
  let text = root;
  for (const s of segments) {
    if (s.kind === "Index") text += `[${s.index}]`;
    else if (s.quoted) text += `[${JSON.stringify(s.name)}]`;
    else text += `.${s.name}`;
  }
  return text;
}

const UNKNOWN: Type = { kind: "unknown" };

export function typeOf(policy: CheckedPolicy, expr: Expr): Type {
  const known = policy.types.get(expr);
  if (known !== undefined) return known;
  if (expr.kind === "Paren") return typeOf(policy, expr.inner);
  return UNKNOWN;
}

// ---------------------------------------------------------------------------------------------------------
// Callable tools and windows

/**
 * Manifest tools that some `permit` or `ask` targets and no unconditional `forbid` does: the most a session whose
 * requirements hold could call. Conditions are not looked at, so this can list a tool whose calls are all denied,
 * never hide one that a call could reach.
 */
export function callableTools(policy: CheckedPolicy): string[] {
  const unconditional = (r: CheckedRule): boolean => r.effect === "forbid" && r.when === undefined && r.unless === undefined;
  return policy.tools
    .map((t) => t.name)
    .filter(
      (name) =>
        policy.rules.some((r) => r.effect !== "forbid" && targets(r.tools, name)) &&
        !policy.rules.some((r) => unconditional(r) && targets(r.tools, name)),
    );
}

/**
 * The longest window, in ms, over which the policy counts calls: its limits and its `calls()` windows; 0 when it
 * counts none. A state store must keep calls this long or counts reaching further back fail at run time, so both back
 * ends report it and enforcement checks it at set-up. A window written with `session.age` is bounded by the
 * `session.age < D` requirements that must hold before it is evaluated (all of them for a rule, the earlier ones for
 * a requirement); without one it is unbounded, `Infinity`.
 */
export function longestWindowMs(policy: CheckedPolicy): number {
  let longest = 0;
  for (const limit of policy.limits) longest = Math.max(longest, limit.windowMs);
  let maxAge = Number.POSITIVE_INFINITY;
  for (const req of policy.requirements) {
    longest = Math.max(longest, callsWindow(req.condition, maxAge));
    maxAge = Math.min(maxAge, sessionAgeBound(req.condition, maxAge));
  }
  for (const rule of policy.rules) {
    if (rule.when !== undefined) longest = Math.max(longest, callsWindow(rule.when, maxAge));
    if (rule.unless !== undefined) longest = Math.max(longest, callsWindow(rule.unless, maxAge));
  }
  return longest;
}

/** The functions that read the call history over a window, their second argument. */
const WINDOWED: ReadonlySet<string> = new Set(["calls", ...AGGREGATES]);

/** The longest window of the `calls()`, `sum()`, `max()` and `min()` in an expression; one of zero or less reads nothing. */
function callsWindow(expr: Expr, maxAge: number): number {
  const own = expr.kind === "Call" && WINDOWED.has(expr.callee) && expr.args[1] !== undefined ? Math.max(0, durationRange(expr.args[1], maxAge)[1]) : 0;
  return childrenOf(expr).reduce((longest, child) => Math.max(longest, callsWindow(child, maxAge)), own);
}

const UNBOUNDED: readonly [number, number] = [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY];

/**
 * The least and greatest ms a duration expression can take, built from literals, `session.age` (from 0, as
 * enforcement never reports it negative, to `maxAge`), negation, `+` and `-`. A least bound is finite or `-Infinity`
 * and a greatest one finite or `Infinity`, so the arithmetic never meets `Infinity - Infinity` (NaN).
 */
function durationRange(expr: Expr, maxAge: number): readonly [number, number] {
  switch (expr.kind) {
    case "DurationLiteral":
      return [expr.ms, expr.ms];
    case "Paren":
      return durationRange(expr.inner, maxAge);
    case "Path":
      return isSessionAge(expr) ? [0, maxAge] : UNBOUNDED;
    case "Unary": {
      if (expr.op !== "-") return UNBOUNDED;
      const [lo, hi] = durationRange(expr.operand, maxAge);
      return [-hi, -lo];
    }
    case "Binary": {
      if (expr.op !== "+" && expr.op !== "-") return UNBOUNDED;
      const [llo, lhi] = durationRange(expr.left, maxAge);
      const [rlo, rhi] = durationRange(expr.right, maxAge);
      return expr.op === "+" ? [llo + rlo, lhi + rhi] : [llo - rhi, lhi - rlo];
    }
    default:
      return UNBOUNDED;
  }
}

function isSessionAge(expr: Expr): boolean {
  while (expr.kind === "Paren") expr = expr.inner;
  return expr.kind === "Path" && expr.root === "session" && expr.segments.length === 1 && expr.segments[0]!.kind === "Field" && expr.segments[0]!.name === "age";
}

/** The greatest `session.age` a requirement lets through: its `session.age < D` conjuncts (or `<=`, or `D > ...`). */
function sessionAgeBound(condition: Expr, maxAge: number): number {
  let bound = maxAge;
  for (const conjunct of conjuncts(condition)) {
    let c = conjunct;
    while (c.kind === "Paren") c = c.inner;
    if (c.kind !== "Binary") continue;
    if ((c.op === "<" || c.op === "<=") && isSessionAge(c.left)) bound = Math.min(bound, durationRange(c.right, maxAge)[1]);
    if ((c.op === ">" || c.op === ">=") && isSessionAge(c.right)) bound = Math.min(bound, durationRange(c.left, maxAge)[1]);
  }
  return bound;
}

/**
 * How an explanation says that the deciding element of a false `all` failed its condition: "was not under
 * `/srv/docs`" when the condition is `x under "/srv/docs"` (or `within`) on the variable itself, otherwise "did not
 * satisfy `CONDITION`". Shared by both back ends, so that their explanations agree word for word.
 */
export function elementPhrase(policy: CheckedPolicy, q: Quantifier): string {
  let body = q.body;
  while (body.kind === "Paren") body = body.inner;
  if (body.kind === "Binary" && (body.op === "under" || body.op === "within")) {
    let left = body.left;
    let right = body.right;
    while (left.kind === "Paren") left = left.inner;
    while (right.kind === "Paren") right = right.inner;
    if (left.kind === "Variable" && left.name === q.variable.name && left.segments.length === 0 && right.kind === "StringLiteral") {
      return `was not ${body.op} \`${right.value}\``;
    }
  }
  return `did not satisfy \`${exprText(policy, q.body)}\``;
}

/**
 * The style `LEFT under "ROOT"` reads LEFT in (pathStyleFor): from the schema's format of LEFT, as the checker typed
 * it, and the root literal. Shared by both back ends and the checker's reading of the root.
 */
export function underStyle(policy: CheckedPolicy, left: Expr, root: string): PathStyle {
  const t = typeOf(policy, left);
  return pathStyleFor(t.kind === "string" ? t.format : undefined, root);
}

/** The quantifier a clause is, looking through parentheses: an `all` names its deciding element when false. */
export function clauseQuantifier(expr: Expr): Quantifier | undefined {
  let inner = expr;
  while (inner.kind === "Paren") inner = inner.inner;
  return inner.kind === "Quantifier" && inner.quantifier === "all" ? inner : undefined;
}

// ---------------------------------------------------------------------------------------------------------
// History reads: scopes and aggregated arguments

/**
 * The scope a history read names in its last argument: `session` (also when absent), `client`, or `all` (every
 * caller, the scope of a `limit` without `per`). Undefined for anything else, which the checker reports.
 */
export function historyScope(arg: Expr | undefined): LimitScope | undefined {
  if (arg === undefined) return "session";
  if (arg.kind === "Path" && arg.segments.length === 0 && (arg.root === "client" || arg.root === "session")) return arg.root;
  if (arg.kind === "Name" && arg.name === "all" && arg.segments === undefined) return "global";
  return undefined;
}

/** The tool and JSON Pointer an aggregate's first argument names (`refund.amount` → `refund`, `/amount`). */
export function aggregatedField(arg: Expr | undefined): { readonly tool: string; readonly pointer: string } | undefined {
  if (arg?.kind !== "Name" || arg.segments === undefined || arg.segments.length === 0) return undefined;
  const fields: string[] = [];
  for (const s of arg.segments) {
    if (s.kind !== "Field") return undefined;
    fields.push(s.name);
  }
  return { tool: arg.name, pointer: pointerOf(fields) };
}

/** The expressions directly inside `e`, in source order: the one place that knows where sub-expressions sit. */
export function childrenOf(e: Expr): readonly Expr[] {
  switch (e.kind) {
    case "Call":
      return e.args;
    case "Binary":
      return [e.left, e.right];
    case "Unary":
      return [e.operand];
    case "Paren":
      return [e.inner];
    case "ListLiteral":
      return e.elements;
    case "Quantifier":
      return [e.list, e.body];
    default:
      return [];
  }
}

/** Calls `visit` on every function call in `e`, at any depth (inside quantifiers, lists and other calls too). */
export function forEachCall(e: Expr | undefined, visit: (call: Extract<Expr, { kind: "Call" }>) => void): void {
  if (e === undefined) return;
  if (e.kind === "Call") visit(e);
  for (const child of childrenOf(e)) forEachCall(child, visit);
}

/** Tool → the JSON Pointers of its arguments the policy aggregates, sorted: all a state store may keep of arguments. */
export function aggregatedValues(policy: CheckedPolicy): Record<string, string[]> {
  const found = new Map<string, Set<string>>();
  const walk = (e: Expr | undefined): void =>
    forEachCall(e, (call) => {
      const field = (AGGREGATES as readonly string[]).includes(call.callee) ? aggregatedField(call.args[0]) : undefined;
      if (field === undefined) return;
      const pointers = found.get(field.tool) ?? new Set<string>();
      pointers.add(field.pointer);
      found.set(field.tool, pointers);
    });
  for (const r of policy.requirements) walk(r.condition);
  for (const r of [...policy.rules, ...policy.resultRules]) {
    walk(r.when);
    walk(r.unless);
  }
  const out: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  for (const tool of [...found.keys()].sort()) out[tool] = [...found.get(tool)!].sort();
  return out;
}
