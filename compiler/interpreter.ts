// The reference interpreter: evaluates a checked policy by walking its AST. It is the oracle compiled guards are
// tested against and what `pqguard eval --interpret` runs, so it favours being obviously right over being fast.
import type { Expr, Path, PathSegment } from "../grammar/ast.js";
import { algorithmFacts, type AlgorithmFacts } from "../runtime/guard/algorithms.js";
import {
  EvaluationFailure,
  evaluationDetail,
  explainText,
  instant,
  isJsonObject,
  jsonEqual,
  matchSubject,
  zoneFormat,
  zonedTimeOf,
} from "../runtime/guard/helpers.js";
import type { Decision, Explanation, GuardContext, GuardModule, GuardRequest } from "../runtime/guard/types.js";
import type { CheckedLimit, CheckedPolicy, CheckedRule, ToolInfo, Type } from "./ir.js";

// ---------------------------------------------------------------------------------------------------------
// The outline of a policy both back ends share: rules and limits in source order, clauses and their texts.

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

/** The MCP defaults for tool annotation hints a manifest leaves out. */
export const ANNOTATION_DEFAULTS: Readonly<Record<string, boolean>> = {
  readOnlyHint: false,
  destructiveHint: true,
  idempotentHint: false,
  openWorldHint: true,
};

const UNKNOWN: Type = { kind: "unknown" };

export function typeOf(policy: CheckedPolicy, expr: Expr): Type {
  const known = policy.types.get(expr);
  if (known !== undefined) return known;
  if (expr.kind === "Paren") return typeOf(policy, expr.inner);
  return UNKNOWN;
}

// ---------------------------------------------------------------------------------------------------------
// Expression evaluation

function missing(text: string): never {
  throw new EvaluationFailure(`\`${text}\` is missing`);
}

function expect(value: unknown, kind: "number" | "string" | "boolean" | "list" | "object", text: string): unknown {
  if (value === undefined) missing(text);
  // NaN is not a number: every comparison with it is false, so a `forbid` on it would never apply.
  const ok =
    kind === "list" ? Array.isArray(value) : kind === "object" ? isJsonObject(value) : typeof value === kind && value === value;
  if (!ok) throw new EvaluationFailure(`\`${text}\` is ${kind === "list" || kind === "object" ? (kind === "list" ? "not a list" : "not an object") : `not a ${kind}`}`);
  return value;
}

/** The run-time check a value of a static type must pass. */
function checkType(value: unknown, type: Type, text: string): unknown {
  switch (type.kind) {
    case "number":
    case "duration":
      return expect(value, "number", text);
    case "string":
      return expect(value, "string", text);
    case "boolean":
      return expect(value, "boolean", text);
    case "list":
      return expect(value, "list", text);
    case "object":
      return expect(value, "object", text);
    default:
      return value === undefined ? missing(text) : value;
  }
}

class Evaluator {
  private zoned: { hour: number; minute: number; weekday: string } | undefined;

  constructor(
    private readonly policy: CheckedPolicy,
    private readonly format: Intl.DateTimeFormat,
    private readonly request: GuardRequest,
    private readonly ctx: GuardContext,
    private readonly tool: ToolInfo | undefined,
  ) {}

  truth(expr: Expr): boolean {
    return expect(this.value(expr), "boolean", exprText(this.policy, expr)) as boolean;
  }

  private type(expr: Expr): Type {
    return typeOf(this.policy, expr);
  }

  private number(expr: Expr): number {
    return expect(this.value(expr), "number", exprText(this.policy, expr)) as number;
  }

  private string(expr: Expr): string {
    return expect(this.value(expr), "string", exprText(this.policy, expr)) as string;
  }

  value(expr: Expr): unknown {
    switch (expr.kind) {
      case "NumberLiteral":
        return expr.value;
      case "StringLiteral":
        return expr.value;
      case "BooleanLiteral":
        return expr.value;
      case "DurationLiteral":
        return expr.ms;
      case "RegexLiteral":
        return new RegExp(expr.pattern, expr.flags);
      case "ListLiteral":
        return expr.elements.map((e) => this.value(e));
      case "Name":
        return expr.name;
      case "Paren":
        return this.value(expr.inner);
      case "Path":
        return this.path(expr);
      case "Has":
        return this.has(expr.path);
      case "Unary":
        return expr.op === "not" ? !this.truth(expr.operand) : -this.number(expr.operand);
      case "Binary":
        return this.binary(expr);
      case "Call":
        return this.call(expr);
      case "Missing":
        throw new EvaluationFailure("the policy has a syntax error here");
    }
  }

  private binary(expr: Expr & { kind: "Binary" }): unknown {
    const { op, left, right } = expr;
    switch (op) {
      case "and":
        return this.truth(left) && this.truth(right);
      case "or":
        return this.truth(left) || this.truth(right);
      case "==":
        return this.equal(left, right);
      case "!=":
        return !this.equal(left, right);
      case "<":
      case "<=":
      case ">":
      case ">=": {
        const [a, b] = this.ordered(left, right);
        return op === "<" ? a < b : op === "<=" ? a <= b : op === ">" ? a > b : a >= b;
      }
      case "in":
        return this.member(left, right);
      case "not in":
        return !this.member(left, right);
      case "matches": {
        const subject = matchSubject(this.string(left), exprText(this.policy, left));
        const re = this.value(right) as RegExp;
        return re.test(subject);
      }
      case "contains": {
        const container = this.value(left);
        const text = exprText(this.policy, left);
        if (container === undefined) missing(text);
        if (typeof container === "string") return container.includes(this.string(right));
        if (!Array.isArray(container)) throw new EvaluationFailure(`\`${text}\` is not a list`);
        const item = this.value(right);
        if (this.isAlgorithm(right) || this.isAlgorithm(left)) {
          const canonical = this.facts(item).canonical;
          return container.some((c) => this.facts(c).canonical === canonical);
        }
        return container.some((c) => jsonEqual(c, item));
      }
      case "startsWith":
        return this.string(left).startsWith(this.string(right));
      case "endsWith":
        return this.string(left).endsWith(this.string(right));
      case "+":
        return this.arithmetic(expr, this.number(left) + this.number(right));
      case "-":
        return this.arithmetic(expr, this.number(left) - this.number(right));
      case "*":
        return this.arithmetic(expr, this.number(left) * this.number(right));
      case "/":
      case "%": {
        const a = this.number(left);
        const b = this.number(right);
        if (b === 0) throw new EvaluationFailure("division by zero");
        return this.arithmetic(expr, op === "/" ? a / b : a % b);
      }
    }
  }

  /** Operands past the double range (`1e400 - 1e400`) can yield NaN, which is not a number. */
  private arithmetic(expr: Expr, result: number): number {
    if (Number.isNaN(result)) throw new EvaluationFailure(`\`${exprText(this.policy, expr)}\` is not a number`);
    return result;
  }

  private isAlgorithm(expr: Expr): boolean {
    const t = this.type(expr);
    return t.kind === "algorithm" || (t.kind === "list" && t.element.kind === "algorithm");
  }

  private facts(name: unknown): AlgorithmFacts {
    const facts = typeof name === "string" ? algorithmFacts(name) : undefined;
    if (facts === undefined) throw new EvaluationFailure(`\`${String(name)}\` is not a known algorithm`);
    return facts;
  }

  private isTimestamp(expr: Expr): boolean {
    return this.type(expr).kind === "timestamp";
  }

  private timestamp(value: unknown, expr: Expr): number {
    if (typeof value === "number") return value;
    const ms = typeof value === "string" ? Date.parse(value) : Number.NaN;
    if (Number.isNaN(ms)) throw new EvaluationFailure(`\`${exprText(this.policy, expr)}\` is not a timestamp`);
    return ms;
  }

  private equal(left: Expr, right: Expr): boolean {
    const a = this.value(left);
    const b = this.value(right);
    if (this.isAlgorithm(left) || this.isAlgorithm(right)) return this.facts(a).canonical === this.facts(b).canonical;
    if (this.isTimestamp(left) || this.isTimestamp(right)) return this.timestamp(a, left) === this.timestamp(b, right);
    return jsonEqual(a, b);
  }

  private ordered(left: Expr, right: Expr): [number, number] {
    if (this.isAlgorithm(left) || this.isAlgorithm(right)) {
      const a = this.value(left);
      const b = this.value(right);
      return [this.facts(a).level, this.facts(b).level];
    }
    if (this.isTimestamp(left) || this.isTimestamp(right)) {
      const a = this.value(left);
      const b = this.value(right);
      return [this.timestamp(a, left), this.timestamp(b, right)];
    }
    return [this.number(left), this.number(right)];
  }

  private member(left: Expr, right: Expr): boolean {
    const item = this.value(left);
    const container = this.value(right);
    const text = exprText(this.policy, right);
    if (!Array.isArray(container)) {
      if (container === undefined) missing(text);
      throw new EvaluationFailure(`\`${text}\` is not a list`);
    }
    if (this.isAlgorithm(left) || this.isAlgorithm(right)) {
      const canonical = this.facts(item).canonical;
      return container.some((c) => this.facts(c).canonical === canonical);
    }
    return container.some((c) => jsonEqual(c, item));
  }

  private call(expr: Expr & { kind: "Call" }): unknown {
    const [first, second] = expr.args;
    switch (expr.callee) {
      case "calls": {
        const tool = this.toolRef(first);
        const window = this.number(second!);
        return this.ctx.history.count(tool === "*" ? "*" : [tool], this.ctx.now - window, "session");
      }
      case "called":
        return this.ctx.history.called(this.toolRef(first));
      case "len": {
        const value = this.value(first!);
        const text = exprText(this.policy, first!);
        if (typeof value === "string" || Array.isArray(value)) return value.length;
        if (value === undefined) missing(text);
        throw new EvaluationFailure(`\`${text}\` is not a string or a list`);
      }
      case "lower":
        return this.string(first!).toLowerCase();
      case "upper":
        return this.string(first!).toUpperCase();
      default:
        throw new EvaluationFailure(`\`${expr.callee}\` is not a function`);
    }
  }

  private toolRef(expr: Expr | undefined): string {
    if (expr?.kind === "Name" || expr?.kind === "StringLiteral") return expr.kind === "Name" ? expr.name : expr.value;
    throw new EvaluationFailure("a tool reference is missing");
  }

  private has(path: Path): boolean {
    try {
      const value = this.walk(path);
      return value !== undefined;
    } catch (error) {
      if (evaluationDetail(error) !== undefined) return false;
      throw error;
    }
  }

  private path(expr: Path): unknown {
    return checkType(this.walk(expr), this.type(expr), pathText(expr.root, expr.segments));
  }

  /** Reads a path; intermediate steps must be objects or lists; the final value may be absent (undefined). */
  private walk(expr: Path): unknown {
    const { root, segments } = expr;
    const fields = segments.map((s) => (s.kind === "Field" ? s.name : String(s.index)));
    if (root === "args") return this.descend(this.request.args, "args", segments);
    if (root === "client" && fields[0] === "claims" && segments.length > 1) {
      const claims = this.ctx.client.claims;
      if (claims === undefined) missing("client.claims");
      return this.descend(claims, "client.claims", segments.slice(1));
    }
    const name = `${root}.${fields.join(".")}`;
    const { ctx } = this;
    switch (name) {
      case "tool.name":
        return this.request.tool;
      case "client.id":
        return ctx.client.id;
      case "client.role":
        return ctx.client.role;
      case "client.fingerprint":
        return ctx.client.fingerprint;
      case "client.authenticated":
        return ctx.client.authenticated === true;
      case "client.claims":
        return ctx.client.claims;
      case "peer.fingerprint":
        return ctx.peer.fingerprint;
      case "peer.label":
        return ctx.peer.label;
      case "transport.kem":
      case "transport.signature":
      case "transport.aead": {
        const family = fields[0] as "kem" | "signature" | "aead";
        const value = ctx.transport[family];
        if (value === undefined) missing(name);
        const facts = algorithmFacts(value);
        if (facts === undefined || facts.family !== family) throw new EvaluationFailure(`\`${value}\` is not a known algorithm`);
        return value;
      }
      case "transport.hybrid":
        return ctx.transport.hybrid === true;
      case "transport.level":
        return ctx.transport.level;
      case "session.id":
        return ctx.session.id;
      case "session.age":
        return ctx.session.ageMs;
      case "session.calls":
        return ctx.session.calls;
      case "time.now":
        return instant(ctx.now);
      case "time.hour":
        return this.clock().hour;
      case "time.minute":
        return this.clock().minute;
      case "time.weekday":
        return this.clock().weekday;
      default:
        if (root === "tool" && fields[0] === "annotations" && fields.length === 2) return this.annotation(fields[1]!);
        throw new EvaluationFailure(`\`${name}\` is not a known fact`);
    }
  }

  private annotation(hint: string): unknown {
    if (this.tool === undefined) throw new EvaluationFailure(`tool \`${this.request.tool}\` is not in the manifests`);
    const value = Object.hasOwn(this.tool.annotations, hint) ? this.tool.annotations[hint] : undefined;
    if (value !== undefined) return value;
    return Object.hasOwn(ANNOTATION_DEFAULTS, hint) ? ANNOTATION_DEFAULTS[hint] : undefined;
  }

  private clock(): { hour: number; minute: number; weekday: string } {
    this.zoned ??= zonedTimeOf(this.format, instant(this.ctx.now));
    return this.zoned;
  }

  private descend(start: unknown, rootText: string, segments: readonly PathSegment[]): unknown {
    let value = start;
    let text = rootText;
    for (const segment of segments) {
      if (value === undefined) missing(text);
      if (segment.kind === "Index") {
        if (!Array.isArray(value)) throw new EvaluationFailure(`\`${text}\` is not a list`);
        value = value[segment.index];
      } else {
        if (!isJsonObject(value)) throw new EvaluationFailure(`\`${text}\` is not an object`);
        value = Object.hasOwn(value, segment.name) ? value[segment.name] : undefined;
      }
      text = pathText(text, [segment]);
    }
    return value;
  }
}

// ---------------------------------------------------------------------------------------------------------
// The decision procedure

type Outcome = { readonly ok: true; readonly value: boolean } | { readonly ok: false; readonly detail: string };

function attempt(run: () => boolean): Outcome {
  try {
    return { ok: true, value: run() };
  } catch (error) {
    const detail = evaluationDetail(error);
    if (detail !== undefined) return { ok: false, detail };
    throw error;
  }
}

/** Whether a rule applies, and the explanation sentence saying why. */
function applyRule(ev: Evaluator, item: RuleOutline): { applies: boolean; detail: string } {
  const failClosed = item.rule.effect === "forbid";
  if (item.when.length === 0 && item.unless === undefined) return { applies: true, detail: explainText.noConditions };
  for (const clause of item.when) {
    const outcome = attempt(() => ev.truth(clause.expr));
    if (!outcome.ok) return { applies: failClosed, detail: explainText.notEvaluated(clause.text, outcome.detail) };
    if (!outcome.value) return { applies: false, detail: explainText.wasFalse(clause.text) };
  }
  if (item.unless !== undefined) {
    const unless = item.unless;
    const outcome = attempt(() => ev.truth(unless.expr));
    if (!outcome.ok) return { applies: failClosed, detail: explainText.notEvaluated(unless.text, outcome.detail) };
    if (outcome.value) return { applies: false, detail: explainText.unlessHeld(unless.text) };
  }
  return { applies: true, detail: explainText.allHeld };
}

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

/** The longest window of the `calls()` in an expression; a window of zero or less counts nothing. */
function callsWindow(expr: Expr, maxAge: number): number {
  switch (expr.kind) {
    case "Call": {
      const window = expr.callee === "calls" && expr.args[1] !== undefined ? durationRange(expr.args[1], maxAge)[1] : 0;
      return expr.args.reduce((longest, arg) => Math.max(longest, callsWindow(arg, maxAge)), Math.max(0, window));
    }
    case "Paren":
      return callsWindow(expr.inner, maxAge);
    case "Unary":
      return callsWindow(expr.operand, maxAge);
    case "Binary":
      return Math.max(callsWindow(expr.left, maxAge), callsWindow(expr.right, maxAge));
    case "ListLiteral":
      return expr.elements.reduce((longest, e) => Math.max(longest, callsWindow(e, maxAge)), 0);
    default:
      return 0;
  }
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

/** Whether every session requirement holds for this context; an evaluation error counts as failed. */
function requirementsHold(policy: CheckedPolicy, ctx: GuardContext, format: Intl.DateTimeFormat): boolean {
  const ev = new Evaluator(policy, format, { tool: "", args: {} }, ctx, undefined);
  return policy.requirements.every((req) => {
    const outcome = attempt(() => ev.truth(req.condition));
    return outcome.ok && outcome.value;
  });
}

/** Evaluates one call against a policy, exactly as docs/language.md's decision procedure says. */
export function evaluate(
  policy: CheckedPolicy,
  request: GuardRequest,
  ctx: GuardContext,
  format: Intl.DateTimeFormat = zoneFormat(policy.timezone),
): Decision {
  const tool = policy.tools.find((t) => t.name === request.tool);
  // Arguments that are not an object are read as `{}`: every `args` path is then missing, which fails closed.
  const call = isJsonObject(request.args) ? request : { tool: request.tool, args: {} };
  const ev = new Evaluator(policy, format, call, ctx, tool);
  const explain: Explanation[] = [];

  for (const req of policy.requirements) {
    const outcome = attempt(() => ev.truth(req.condition));
    if (outcome.ok && outcome.value) {
      explain.push({ rule: req.id, effect: "require", matched: false, detail: explainText.held(req.text) });
      continue;
    }
    const detail = outcome.ok ? explainText.wasFalse(req.text) : explainText.notEvaluated(req.text, outcome.detail);
    explain.push({ rule: req.id, effect: "require", matched: true, detail });
    const reason = outcome.ok
      ? explainText.requirementFailed(req.dimension, req.text)
      : explainText.requirementNotEvaluated(req.dimension, req.text, outcome.detail);
    return { decision: "deny", determining: [req.id], reason, explain };
  }

  const items = outline(policy).filter((i) => targets(i.kind === "rule" ? i.rule.tools : i.limit.tools, request.tool));

  const denying: { id: string; reason: string }[] = [];
  for (const item of items) {
    if (item.kind === "limit") {
      const { limit } = item;
      const count = ctx.history.count(limit.tools, ctx.now - limit.windowMs, limit.scope);
      const exceeded = count >= limit.count;
      explain.push({ rule: limit.id, effect: "limit", matched: exceeded, detail: explainText.limitCount(count, item.windowText, limit.count) });
      if (exceeded) denying.push({ id: limit.id, reason: explainText.rateLimit(limit.count, item.windowText, limit.scope) });
    } else if (item.rule.effect === "forbid") {
      const { applies, detail } = applyRule(ev, item);
      explain.push({ rule: item.rule.id, effect: "forbid", matched: applies, detail });
      if (applies) denying.push({ id: item.rule.id, reason: item.rule.because ?? explainText.forbidden(item.rule.id) });
    }
  }
  if (denying.length > 0) {
    return { decision: "deny", determining: denying.map((d) => d.id), reason: denying[0]!.reason, explain };
  }

  for (const effect of ["ask", "permit"] as const) {
    const applying: CheckedRule[] = [];
    for (const item of items) {
      if (item.kind !== "rule" || item.rule.effect !== effect) continue;
      const { applies, detail } = applyRule(ev, item);
      explain.push({ rule: item.rule.id, effect, matched: applies, detail });
      if (applies) applying.push(item.rule);
    }
    const first = applying[0];
    if (first !== undefined) {
      const reason = first.because ?? (effect === "ask" ? explainText.approval(first.id) : explainText.permitted(first.id));
      return { decision: effect === "ask" ? "ask" : "allow", determining: applying.map((r) => r.id), reason, explain };
    }
  }

  const reason = explainText.noPermit(request.tool);
  explain.push({ rule: "default", effect: "forbid", matched: true, detail: reason });
  return { decision: "deny", determining: [], reason, explain };
}

/** The interpreter as a guard module, interchangeable with a compiled one. */
export function interpret(policy: CheckedPolicy): GuardModule {
  const format = zoneFormat(policy.timezone);
  const callable = Object.freeze(callableTools(policy));
  return {
    policyName: policy.name,
    policyDigest: policy.digest,
    toolDigests: Object.fromEntries(policy.tools.map((t) => [t.name, t.digest])),
    longestWindowMs: longestWindowMs(policy),
    guard: (request, context) => evaluate(policy, request, context, format),
    reachableTools: (context) => (requirementsHold(policy, context, format) ? callable : []),
  };
}
