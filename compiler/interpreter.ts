// The reference interpreter: evaluates a checked policy by walking its AST. It is the oracle compiled guards are
// tested against and what `pqguard eval --interpret` runs, so it favours being obviously right over being fast.
// It shares no evaluation code with the code generator or the helpers generated guards call: JSON equality, the
// `matches` input bound, the validity of `time.now` and the wall clock are computed here on their own. What it does
// share is the static analysis (./analysis.ts), the fact table's paths and types (./facts.ts, whose `read` column is
// this interpreter's), the algorithm table, the explanation wording and the evaluation-failure type.
import type { Binary, Call, Expr, Path, PathSegment, Quantifier, Variable } from "../grammar/ast.js";
import { hostInRange, hostInSet, ipRange, ipSet, type HostAddress } from "../runtime/guard/addresses.js";
import { algorithmFacts, type AlgorithmFacts } from "../runtime/guard/algorithms.js";
import { EvaluationFailure, evaluationDetail, explainText, MATCH_INPUT_LIMIT } from "../runtime/guard/helpers.js";
import { pathRoot, pathUnder } from "../runtime/guard/paths.js";
import { domainName, hostAddressFrom, hostOf, hostWithin, urlHost, urlOf, urlPort } from "../runtime/guard/urls.js";
import type { Decision, Explanation, GuardContext, GuardModule, GuardRequest } from "../runtime/guard/types.js";
import { aggregatedField, aggregatedValues, historyScope, callableTools, clauseQuantifier, elementPhrase, exprText, longestWindowMs, outline, pathText, targets, typeOf, underStyle, type RuleOutline } from "./analysis.js";
import { ANNOTATION_DEFAULTS, factOf, type FactSource } from "./facts.js";
import type { CheckedPolicy, CheckedRule, ToolInfo, Type } from "./ir.js";
import { evaluateResult } from "./interpret-results.js";
import { redactedOutputSchemas, seenLabels } from "./analysis-results.js";

// ---------------------------------------------------------------------------------------------------------
// Values

function isObject(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Structural equality of JSON values: primitives by `===`, lists element by element, objects key by key. */
function sameJson(a: unknown, b: unknown): boolean {
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return a === b;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameJson(x, b[i]));
  }
  const x = a as Readonly<Record<string, unknown>>;
  const y = b as Readonly<Record<string, unknown>>;
  const keys = Object.keys(x);
  return keys.length === Object.keys(y).length && keys.every((k) => Object.hasOwn(y, k) && sameJson(x[k], y[k]));
}

/** `time.now`: an instant a Date can hold (ECMA-262 gives any other the time value NaN). */
function validInstant(now: number): number {
  if (Number.isNaN(new Date(now).getTime())) throw new EvaluationFailure("`time.now` is not a valid time");
  return now;
}

const SHORT_WEEKDAYS = new Map([["Mon", "mon"], ["Tue", "tue"], ["Wed", "wed"], ["Thu", "thu"], ["Fri", "fri"], ["Sat", "sat"], ["Sun", "sun"]]);

/** A formatter of the wall-clock fields in one zone, 24-hour. */
function wallClockFormat(timeZone: string): Intl.DateTimeFormat {
  return new Intl.DateTimeFormat("en-GB", { timeZone, hourCycle: "h23", weekday: "short", hour: "numeric", minute: "numeric" });
}

/** Hour, minute and weekday of an instant, read afresh from Intl for every call. */
function wallClock(format: Intl.DateTimeFormat, now: number): { hour: number; minute: number; weekday: string } {
  const parts = new Map(format.formatToParts(new Date(now)).map((p) => [p.type, p.value]));
  const weekday = SHORT_WEEKDAYS.get(parts.get("weekday") ?? "");
  if (weekday === undefined) throw new EvaluationFailure("`time.weekday` could not be read");
  return { hour: Number(parts.get("hour")), minute: Number(parts.get("minute")), weekday };
}

function missing(text: string): never {
  throw new EvaluationFailure(`\`${text}\` is missing`);
}

function expect(value: unknown, kind: "number" | "string" | "boolean" | "list" | "object", text: string): unknown {
  if (value === undefined) missing(text);
  // NaN is not a number: every comparison with it is false, so a `forbid` on it would never apply.
  const ok =
    kind === "list" ? Array.isArray(value) : kind === "object" ? isObject(value) : typeof value === kind && value === value;
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

export class Evaluator implements FactSource {
  private zoned: { hour: number; minute: number; weekday: string } | undefined;
  /** The element each enclosing quantifier's variable stands for, by name; an inner variable hides an outer one. */
  private readonly bound = new Map<string, unknown>();

  constructor(
    readonly policy: CheckedPolicy,
    private readonly format: Intl.DateTimeFormat,
    readonly request: GuardRequest,
    readonly context: GuardContext,
    private readonly tool: ToolInfo | undefined,
    /** What `result.*` reads, inside a result rule: `{ text, isError, structured }`. */
    private readonly result?: Readonly<Record<string, unknown>>,
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
      case "Quantifier":
        return expr.quantifier === "all" ? this.firstFailing(expr) === undefined : this.anyHolds(expr);
      case "Variable":
        return this.variable(expr);
      case "Missing":
        throw new EvaluationFailure("the policy has a syntax error here");
    }
  }

  private list(expr: Expr): readonly unknown[] {
    return expect(this.value(expr), "list", exprText(this.policy, expr)) as readonly unknown[];
  }

  /** Evaluates a quantifier's condition with its variable standing for `element`, restoring what it hid after. */
  private holdsFor(q: Quantifier, element: unknown): boolean {
    const name = q.variable.name;
    const hidden = this.bound.has(name);
    const outer = this.bound.get(name);
    this.bound.set(name, element);
    try {
      return this.truth(q.body);
    } finally {
      if (hidden) this.bound.set(name, outer);
      else this.bound.delete(name);
    }
  }

  /** The first element for which an `all` quantifier's condition is false, with the list; undefined when none is. */
  firstFailing(q: Quantifier): { index: number; list: readonly unknown[] } | undefined {
    const list = this.list(q.list);
    for (let index = 0; index < list.length; index++) {
      if (!this.holdsFor(q, list[index])) return { index, list };
    }
    return undefined;
  }

  private anyHolds(q: Quantifier): boolean {
    const list = this.list(q.list);
    for (const element of list) if (this.holdsFor(q, element)) return true;
    return false;
  }

  private variable(expr: Variable): unknown {
    if (!this.bound.has(expr.name)) throw new EvaluationFailure(`\`${expr.name}\` is not bound`);
    const value = this.descend(this.bound.get(expr.name), expr.name, expr.segments);
    const type = this.type(expr);
    const text = pathText(expr.name, expr.segments);
    if (type.kind === "algorithm") return this.algorithm(value, type.family, text);
    return checkType(value, type, text);
  }

  /** The left of `within`: a host as `host()` and `url().host` give it, canonical; any other string is read as one. */
  private host(expr: Expr): string {
    let inner = expr;
    while (inner.kind === "Paren") inner = inner.inner;
    const canonical = inner.kind === "Call" && (inner.callee === "host" || (inner.callee === "url" && inner.field?.name === "host"));
    const value = this.string(expr);
    return canonical ? value : hostOf(value, exprText(this.policy, expr));
  }

  /** `ip(x) in "CIDR"` and `ip(x) in SET`, the range or set built afresh from its literal. */
  private addressIn(expr: Binary): boolean {
    const address = this.value(expr.left) as HostAddress;
    let right = expr.right;
    while (right.kind === "Paren") right = right.inner;
    if (right.kind === "Name") return hostInSet(address, ipSet(right.name));
    if (right.kind === "StringLiteral") return hostInRange(address, ipRange(right.value));
    throw new EvaluationFailure(`\`${exprText(this.policy, expr.right)}\` is not an address range or set`);
  }

  private url(expr: Call): unknown {
    const arg = expr.args[0]!;
    const text = exprText(this.policy, arg);
    const parsed = urlOf(this.value(arg), text);
    switch (expr.field?.name) {
      case "scheme":
        return parsed.scheme;
      case "host":
        return urlHost(parsed, text);
      case "port":
        return urlPort(parsed, text);
      case "path":
        return parsed.path;
      case "query":
        return parsed.query;
      case "credentials":
        return parsed.credentials;
      default:
        throw new EvaluationFailure(`\`${exprText(this.policy, expr)}\` is not a field of a URL`);
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
        return this.type(left).kind === "address" ? this.addressIn(expr) : this.member(left, right);
      case "not in":
        return this.type(left).kind === "address" ? !this.addressIn(expr) : !this.member(left, right);
      case "under": {
        const root = this.string(right);
        return pathUnder(this.value(left), pathRoot(root, underStyle(this.policy, left, root)), exprText(this.policy, left));
      }
      case "within":
        return hostWithin(this.host(left), domainName(this.string(right)));
      case "matches": {
        const subject = this.matchSubject(left);
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
        return container.some((c) => sameJson(c, item));
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

  /** The subject of `matches`, which reads at most MATCH_INPUT_LIMIT characters so that no match can stall the guard. */
  private matchSubject(expr: Expr): string {
    const subject = this.string(expr);
    if (subject.length > MATCH_INPUT_LIMIT) {
      throw new EvaluationFailure(`\`${exprText(this.policy, expr)}\` has ${subject.length} characters, more than the ${MATCH_INPUT_LIMIT} that \`matches\` reads`);
    }
    return subject;
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
    return sameJson(a, b);
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
    return container.some((c) => sameJson(c, item));
  }

  private call(expr: Expr & { kind: "Call" }): unknown {
    const [first, second] = expr.args;
    switch (expr.callee) {
      case "calls": {
        const tool = this.toolRef(first);
        const window = this.number(second!);
        return this.context.history.count(tool === "*" ? "*" : [tool], this.context.now - window, historyScope(expr.args[2])!);
      }
      case "sum":
      case "max":
      case "min": {
        const field = aggregatedField(first)!;
        const window = this.number(second!);
        const history = this.context.history;
        if (history.aggregate === undefined) throw new EvaluationFailure("the call history keeps no argument values");
        const value = history.aggregate(expr.callee, field.tool, field.pointer, this.context.now - window, historyScope(expr.args[2])!);
        if (!Number.isFinite(value)) throw new EvaluationFailure(`the ${expr.callee} of the recorded values is not a finite number`);
        return value;
      }
      case "called":
        return this.context.history.called(this.toolRef(first));
      case "seen": {
        const history = this.context.history;
        if (history.seen === undefined) throw new EvaluationFailure("the call history keeps no `seen` marks");
        return history.seen(this.string(first!));
      }
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
      case "url":
        return this.url(expr);
      case "host":
        return hostOf(this.value(first!), exprText(this.policy, first!));
      case "ip":
        return hostAddressFrom(this.value(first!), exprText(this.policy, first!));
      default:
        throw new EvaluationFailure(`\`${expr.callee}\` is not a function`);
    }
  }

  private toolRef(expr: Expr | undefined): string {
    if (expr?.kind === "Name" || expr?.kind === "StringLiteral") return expr.kind === "Name" ? expr.name : expr.value;
    throw new EvaluationFailure("a tool reference is missing");
  }

  private has(path: Path | Variable): boolean {
    try {
      if (path.kind === "Variable") {
        if (!this.bound.has(path.name)) throw new EvaluationFailure(`\`${path.name}\` is not bound`);
        return this.descend(this.bound.get(path.name), path.name, path.segments) !== undefined;
      }
      return this.walk(path).value !== undefined;
    } catch (error) {
      if (evaluationDetail(error) !== undefined) return false;
      throw error;
    }
  }

  private path(expr: Path): unknown {
    const read = this.walk(expr);
    const type = this.type(expr);
    if (type.kind === "algorithm") return this.algorithm(read.value, type.family, read.text);
    return checkType(read.value, type, read.text);
  }

  /** A negotiated algorithm's name, which must be known and of the family the fact promises. */
  private algorithm(value: unknown, family: "kem" | "signature" | "aead", text: string): unknown {
    if (value === undefined) missing(text);
    const facts = typeof value === "string" ? algorithmFacts(value) : undefined;
    if (facts === undefined || facts.family !== family) throw new EvaluationFailure(`\`${String(value)}\` is not a known algorithm`);
    return value;
  }

  /**
   * Reads a path, and the text its value is named by in messages; intermediate steps must be objects or lists; the
   * final value may be absent (undefined).
   */
  private walk(expr: Path): { value: unknown; text: string } {
    const { root, segments } = expr;
    if (root === "args") return { value: this.descend(this.request.args, "args", segments), text: pathText(root, segments) };
    if (root === "result") {
      if (this.result === undefined) throw new EvaluationFailure("`result` is read only by result rules");
      return { value: this.descend(this.result, "result", segments), text: pathText(root, segments) };
    }
    const fields = segments.map((s) => (s.kind === "Field" ? s.name : String(s.index)));
    const found = factOf(root, fields);
    if (found === undefined) throw new EvaluationFailure(`\`${root}.${fields.join(".")}\` is not a known fact`);
    const value = found.fact.read(this);
    if (found.below.length === 0) return { value, text: found.fact.path };
    return { value: this.descend(value, found.fact.path, segments.slice(segments.length - found.below.length)), text: pathText(root, segments) };
  }

  now(): number {
    return validInstant(this.context.now);
  }

  annotation(hint: string): unknown {
    if (this.tool === undefined) throw new EvaluationFailure(`tool \`${this.request.tool}\` is not in the manifests`);
    const value = Object.hasOwn(this.tool.annotations, hint) ? this.tool.annotations[hint] : undefined;
    if (value !== undefined) return value;
    return Object.hasOwn(ANNOTATION_DEFAULTS, hint) ? ANNOTATION_DEFAULTS[hint] : undefined;
  }

  clock(): { hour: number; minute: number; weekday: string } {
    this.zoned ??= wallClock(this.format, this.now());
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
        if (!isObject(value)) throw new EvaluationFailure(`\`${text}\` is not an object`);
        value = Object.hasOwn(value, segment.name) ? value[segment.name] : undefined;
      }
      text = pathText(text, [segment]);
    }
    return value;
  }
}

// ---------------------------------------------------------------------------------------------------------
// The decision procedure

export type Outcome = { readonly ok: true; readonly value: boolean } | { readonly ok: false; readonly detail: string };

export function attempt(run: () => boolean): Outcome {
  try {
    return { ok: true, value: run() };
  } catch (error) {
    const detail = evaluationDetail(error);
    if (detail !== undefined) return { ok: false, detail };
    throw error;
  }
}

/**
 * The explanation of a `when` clause that was false. An `all` quantifier names the element that decided it, found
 * again by the same walk (evaluation has no effects, so the walk gives the same answer).
 */
function falseClause(ev: Evaluator, policy: CheckedPolicy, expr: Expr, text: string): string {
  const q = clauseQuantifier(expr);
  const failing = q === undefined ? undefined : ev.firstFailing(q);
  if (q === undefined || failing === undefined) return explainText.wasFalse(text);
  const element = `${exprText(policy, q.list)}[${failing.index}]`;
  return explainText.elementFailed(text, element, failing.list[failing.index], elementPhrase(policy, q));
}

/** Whether a rule applies, and the explanation sentence saying why. */
function applyRule(ev: Evaluator, item: RuleOutline): { applies: boolean; detail: string } {
  const failClosed = item.rule.effect === "forbid";
  if (item.when.length === 0 && item.unless === undefined) return { applies: true, detail: explainText.noConditions };
  for (const clause of item.when) {
    const outcome = attempt(() => ev.truth(clause.expr));
    if (!outcome.ok) return { applies: failClosed, detail: explainText.notEvaluated(clause.text, outcome.detail) };
    if (!outcome.value) return { applies: false, detail: falseClause(ev, ev.policy, clause.expr, clause.text) };
  }
  if (item.unless !== undefined) {
    const unless = item.unless;
    const outcome = attempt(() => ev.truth(unless.expr));
    if (!outcome.ok) return { applies: failClosed, detail: explainText.notEvaluated(unless.text, outcome.detail) };
    if (outcome.value) return { applies: false, detail: explainText.unlessHeld(unless.text) };
  }
  return { applies: true, detail: explainText.allHeld };
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
  format: Intl.DateTimeFormat = wallClockFormat(policy.timezone),
): Decision {
  const tool = policy.tools.find((t) => t.name === request.tool);
  // Arguments that are not an object are read as `{}`: every `args` path is then missing, which fails closed.
  const call = isObject(request.args) ? request : { tool: request.tool, args: {} };
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
  const format = wallClockFormat(policy.timezone);
  const callable = Object.freeze(callableTools(policy));
  return {
    policyName: policy.name,
    policyDigest: policy.digest,
    toolDigests: Object.fromEntries(policy.tools.map((t) => [t.name, t.digest])),
    longestWindowMs: longestWindowMs(policy),
    guard: (request, context) => evaluate(policy, request, context, format),
    inspectResult: (request, result, context) => evaluateResult(policy, request, result, context, format),
    resultRuleCount: policy.resultRules.length,
    seenLabels: Object.freeze(seenLabels(policy)),
    aggregatedValues: Object.freeze(aggregatedValues(policy)),
    outputSchemas: Object.freeze(redactedOutputSchemas(policy)),
    reachableTools: (context) => (requirementsHold(policy, context, format) ? callable : []),
  };
}
