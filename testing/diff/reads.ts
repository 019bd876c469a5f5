// What a checked policy reads, rule by rule: each input (an argument, a client fact, the suite, the clock, a count of
// earlier calls) and how it is used. A use that compares an input with a constant splits the input's values into a
// few classes that decide alike; any other use is opaque, and only searching can explore it. Each requirement, rule
// and limit also gets an identity from its content, so rules match across versions whatever their line.
import type { Expr, Path, RuleEffect } from "../../grammar/ast.js";
import { aggregatedField, historyScope, pathText, typeOf, underStyle } from "../../compiler/analysis.js";
import type { CheckedPolicy, Type } from "../../compiler/ir.js";
import type { AggregateFunction, LimitScope } from "../../runtime/guard/types.js";

export type CompareOp = "==" | "!=" | "<" | "<=" | ">" | ">=";

/** A constant near an opaque read, from which search draws values: `startsWith "/workspace/"` gives a prefix. */
export type Hint =
  | { readonly kind: "string" | "prefix" | "suffix" | "substring"; readonly value: string }
  | { readonly kind: "regex"; readonly pattern: string; readonly flags: string }
  | { readonly kind: "number" | "length"; readonly value: number }
  | { readonly kind: "element"; readonly value: unknown };

export type Use =
  /** `input OP constant`, the input written on the left (a constant on the left flips the operator). */
  | { readonly kind: "compare"; readonly op: CompareOp; readonly value: unknown }
  /** `input in [constants]` (or `not in`: it splits values the same way). */
  | { readonly kind: "in"; readonly values: readonly unknown[] }
  /** A boolean input used as a condition. */
  | { readonly kind: "truth" }
  /** `has input`. */
  | { readonly kind: "has" }
  | { readonly kind: "opaque"; readonly hints: readonly Hint[] };

/** One count of earlier calls a decision reads: `calls(T, W)`, `called(T)`, a limit, `session.calls`. */
export interface Query {
  readonly tools: readonly string[] | "*";
  /** Infinity for `called()` and `session.calls`, which look at the whole session. */
  readonly windowMs: number;
  readonly scope: LimitScope;
  readonly called: boolean;
}

/** One aggregate of earlier calls' values a decision reads: `sum(process_refund.amount, 24h, client)`. */
export interface AggregateQuery {
  readonly fn: AggregateFunction;
  readonly tool: string;
  /** JSON Pointer of the argument, `/amount`. */
  readonly pointer: string;
  readonly windowMs: number;
  readonly scope: LimitScope;
}

export interface Read {
  readonly key: string;
  /** The static type the checker gave the input (args paths); `unknown` where the input has a fixed kind. */
  readonly type: Type;
  readonly use: Use;
  readonly path?: Path;
  readonly query?: Query;
  readonly aggregate?: AggregateQuery;
}

export type ItemKind = "requirement" | "rule" | "limit";

export interface ItemReads {
  readonly id: string;
  readonly kind: ItemKind;
  /** The same for two rules that decide alike and report alike, wherever they stand in their files. */
  readonly identity: string;
  readonly tools: readonly string[] | "*";
  readonly reads: readonly Read[];
  /** A call rule's effect. */
  readonly effect?: RuleEffect;
  /** What the item says when it decides, beside its id: a rule's `because`, a limit's terms. */
  readonly reason?: string;
}

export interface PolicyReads {
  readonly policy: CheckedPolicy;
  readonly requirements: readonly ItemReads[];
  /** Call rules and limits. */
  readonly items: readonly ItemReads[];
  /** Rule, requirement and limit ids to identities. */
  readonly identities: ReadonlyMap<string, string>;
}

const UNKNOWN: Type = { kind: "unknown" };
const COMPARISONS = new Set(["==", "!=", "<", "<=", ">", ">="]);
const FLIPPED: Readonly<Record<CompareOp, CompareOp>> = { "==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<=" };

// ---------------------------------------------------------------------------------------------------------
// Input keys

export const ARGS_PREFIX = "args:";
export const CLAIMS_PREFIX = "client.claims:";
export const HISTORY_PREFIX = "history:";
export const OPAQUE_HISTORY = "history:opaque";

/** The input key of a count; two policies reading the same count read the same key. */
export function queryKey(query: Query): string {
  const tools = query.tools === "*" ? "*" : [...query.tools].sort().join(",");
  return `${HISTORY_PREFIX}${query.called ? "called" : "count"}|${tools}|${query.windowMs}|${query.scope}`;
}

/** The input key of an aggregate; two policies reading the same aggregate read the same key. */
export function aggregateKey(a: AggregateQuery): string {
  return `${HISTORY_PREFIX}${a.fn}|${a.tool}|${a.pointer}|${a.windowMs}|${a.scope}`;
}

/** `session.calls` is the count of every earlier call of this session. */
export const SESSION_CALLS: Query = { tools: "*", windowMs: Number.POSITIVE_INFINITY, scope: "session", called: false };

function segmentsOf(path: Path): (string | number)[] {
  return path.segments.map((s) => (s.kind === "Field" ? s.name : s.index));
}

/** The input a path reads; undefined for facts fixed by the tool (`tool.name`, annotations). */
function pathKey(path: Path, zone: string): string | undefined {
  const fields = segmentsOf(path);
  const first = fields[0];
  switch (path.root) {
    case "args":
      return `${ARGS_PREFIX}${JSON.stringify(fields)}`;
    case "tool":
      return undefined;
    case "client":
      if (first === "claims") return fields.length > 1 ? `${CLAIMS_PREFIX}${JSON.stringify(fields.slice(1))}` : "client.claims";
      return `client.${String(first)}`;
    case "time":
      return first === "now" ? "time.now" : `time.${String(first)}@${zone}`;
    case "session":
      return first === "calls" ? queryKey(SESSION_CALLS) : `session.${String(first)}`;
    default:
      return `${path.root}.${String(first)}`;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Constants

/** The value of an expression made of literals alone, or undefined. Durations are milliseconds. */
function constantOf(expr: Expr): unknown {
  switch (expr.kind) {
    case "NumberLiteral":
    case "StringLiteral":
    case "BooleanLiteral":
      return expr.value;
    case "DurationLiteral":
      return expr.ms;
    case "Paren":
      return constantOf(expr.inner);
    case "Unary": {
      const inner = expr.op === "-" ? constantOf(expr.operand) : undefined;
      return typeof inner === "number" ? -inner : undefined;
    }
    case "ListLiteral": {
      const values = expr.elements.map(constantOf);
      return values.every((v) => v !== undefined) ? values : undefined;
    }
    default:
      return undefined;
  }
}

function unparen(expr: Expr): Expr {
  let e = expr;
  while (e.kind === "Paren") e = e.inner;
  return e;
}

/** The tool a `calls()`/`called()` argument names. */
function toolRef(expr: Expr | undefined): string | undefined {
  if (expr === undefined) return undefined;
  const e = unparen(expr);
  if (e.kind === "Name") return e.name === "*" ? "*" : e.name;
  if (e.kind === "StringLiteral") return e.value;
  return undefined;
}

function historyQuery(call: Expr & { kind: "Call" }): Query | undefined {
  const tool = toolRef(call.args[0]);
  if (tool === undefined) return undefined;
  const tools = tool === "*" ? "*" : [tool];
  if (call.callee === "called") return { tools, windowMs: Number.POSITIVE_INFINITY, scope: "session", called: true };
  const window = call.args[1] === undefined ? undefined : constantOf(call.args[1]);
  const scope = historyScope(call.args[2]);
  return typeof window === "number" && window > 0 && scope !== undefined ? { tools, windowMs: window, scope, called: false } : undefined;
}

function isHistoryCall(expr: Expr): expr is Expr & { kind: "Call" } {
  return expr.kind === "Call" && (expr.callee === "calls" || expr.callee === "called");
}

const AGGREGATE_FUNCTIONS: ReadonlySet<string> = new Set(["sum", "max", "min"]);

/** `sum(T.F, W[, S])` with a constant window; undefined when the window is not one. */
function aggregateQuery(call: Expr & { kind: "Call" }): AggregateQuery | undefined {
  const field = aggregatedField(call.args[0]);
  const window = call.args[1] === undefined ? undefined : constantOf(call.args[1]);
  const scope = historyScope(call.args[2]);
  if (field === undefined || typeof window !== "number" || !(window > 0) || scope === undefined) return undefined;
  return { fn: call.callee as AggregateFunction, tool: field.tool, pointer: field.pointer, windowMs: window, scope };
}

function isAggregateCall(expr: Expr): expr is Expr & { kind: "Call" } {
  return expr.kind === "Call" && AGGREGATE_FUNCTIONS.has(expr.callee);
}

// ---------------------------------------------------------------------------------------------------------
// The walk

class ReadCollector {
  readonly reads: Read[] = [];

  constructor(
    private readonly policy: CheckedPolicy,
    private readonly zone: string,
  ) {}

  condition(expr: Expr): void {
    const e = unparen(expr);
    if (e.kind === "Binary" && (e.op === "and" || e.op === "or")) {
      this.condition(e.left);
      this.condition(e.right);
    } else if (e.kind === "Unary" && e.op === "not") {
      this.condition(e.operand);
    } else if (e.kind === "Has") {
      // A field of a quantifier's variable is read through the list, which the quantifier reads as a whole.
      if (e.path.kind === "Path") this.emitPath(e.path, { kind: "has" });
    } else if (e.kind === "Path") {
      this.emitPath(e, { kind: "truth" });
    } else if (isHistoryCall(e) && e.callee === "called") {
      this.emitHistory(e, { kind: "truth" });
    } else if (e.kind === "Binary" && COMPARISONS.has(e.op)) {
      this.comparison(e.op as CompareOp, e.left, e.right);
    } else if (e.kind === "Binary" && (e.op === "in" || e.op === "not in")) {
      this.membership(e.left, e.right);
    } else if (e.kind === "Binary" && (e.op === "matches" || e.op === "startsWith" || e.op === "endsWith" || e.op === "contains")) {
      this.textual(e.op, e.left, e.right);
    } else {
      this.opaque(e, []);
    }
  }

  private comparison(op: CompareOp, left: Expr, right: Expr): void {
    const rightConstant = constantOf(right);
    const leftConstant = constantOf(left);
    if (rightConstant !== undefined && this.simple(left)) return this.emitSimple(left, { kind: "compare", op, value: rightConstant });
    if (leftConstant !== undefined && this.simple(right)) return this.emitSimple(right, { kind: "compare", op: FLIPPED[op], value: leftConstant });
    this.opaque(left, hintsOf(rightConstant, unparen(left)));
    this.opaque(right, hintsOf(leftConstant, unparen(right)));
  }

  private membership(left: Expr, right: Expr): void {
    const list = constantOf(right);
    if (Array.isArray(list) && this.simple(left)) return this.emitSimple(left, { kind: "in", values: list });
    this.opaque(left, Array.isArray(list) ? list.flatMap((v) => hintsOf(v, unparen(left))) : []);
    this.opaque(right, []);
  }

  private textual(op: "matches" | "startsWith" | "endsWith" | "contains", left: Expr, right: Expr): void {
    const r = unparen(right);
    const hints: Hint[] = [];
    if (op === "matches" && r.kind === "RegexLiteral") hints.push({ kind: "regex", pattern: r.pattern, flags: r.flags });
    const value = constantOf(r);
    if (typeof value === "string") hints.push({ kind: op === "startsWith" ? "prefix" : op === "endsWith" ? "suffix" : "substring", value });
    if (op === "contains" && value !== undefined) hints.push({ kind: "element", value });
    this.opaque(left, hints);
    if (r.kind !== "RegexLiteral") this.opaque(right, constantOf(left) === undefined ? [] : hintsOf(constantOf(left), r));
  }

  /** A path or a history count, compared as it is. */
  private simple(expr: Expr): boolean {
    const e = unparen(expr);
    if (e.kind === "Path") return pathKey(e, this.zone) !== undefined;
    if (isAggregateCall(e)) return aggregateQuery(e) !== undefined;
    return isHistoryCall(e) && e.callee === "calls" && historyQuery(e) !== undefined;
  }

  private emitSimple(expr: Expr, use: Use): void {
    const e = unparen(expr);
    if (e.kind === "Path") this.emitPath(e, use);
    else if (isAggregateCall(e)) this.emitAggregate(e, use);
    else if (isHistoryCall(e)) this.emitHistory(e, use);
  }

  /** An aggregate of earlier calls' values: part of the history, read by value, so search explores it. */
  private emitAggregate(call: Expr & { kind: "Call" }, use: Use): void {
    const aggregate = aggregateQuery(call);
    if (aggregate === undefined) {
      this.reads.push({ key: OPAQUE_HISTORY, type: UNKNOWN, use: { kind: "opaque", hints: [] } });
      for (const arg of call.args.slice(1)) this.opaque(arg, []);
      return;
    }
    this.reads.push({ key: aggregateKey(aggregate), type: { kind: "number" }, use, aggregate });
  }

  private emitPath(path: Path, use: Use): void {
    const key = pathKey(path, this.zone);
    if (key === undefined) return;
    if (key.startsWith(HISTORY_PREFIX)) {
      this.reads.push({ key, type: { kind: "number" }, use, query: SESSION_CALLS });
      return;
    }
    this.reads.push({ key, type: typeOf(this.policy, path), use, path });
  }

  private emitHistory(call: Expr & { kind: "Call" }, use: Use): void {
    const query = historyQuery(call);
    if (query === undefined) {
      this.reads.push({ key: OPAQUE_HISTORY, type: UNKNOWN, use: { kind: "opaque", hints: [] } });
      for (const arg of call.args) this.opaque(arg, []);
      return;
    }
    this.reads.push({ key: queryKey(query), type: query.called ? { kind: "boolean" } : { kind: "number" }, use, query });
  }

  /** Every input under `expr` is read in a way no class of values captures: search only, with these hints. */
  private opaque(expr: Expr, hints: readonly Hint[]): void {
    const e = unparen(expr);
    switch (e.kind) {
      case "Path":
        this.emitPath(e, { kind: "opaque", hints });
        return;
      case "Has":
        if (e.path.kind === "Path") this.emitPath(e.path, { kind: "has" });
        return;
      case "Call":
        if (isAggregateCall(e)) {
          this.emitAggregate(e, { kind: "opaque", hints });
          return;
        }
        if (isHistoryCall(e)) {
          const query = historyQuery(e);
          if (query === undefined) this.emitHistory(e, { kind: "opaque", hints });
          else this.reads.push({ key: queryKey(query), type: UNKNOWN, use: { kind: "opaque", hints }, query });
          return;
        }
        for (const arg of e.args) this.opaque(arg, e.callee === "len" ? hints.map(asLength) : hints);
        return;
      case "Unary":
        this.opaque(e.operand, hints);
        return;
      case "Binary":
        if (e.op === "and" || e.op === "or") {
          this.condition(e.left);
          this.condition(e.right);
          return;
        }
        if (e.op === "under" || e.op === "within") {
          // The root or domain is where search finds values the rule tells apart: inside it, and beside it.
          const literal = unparen(e.right);
          const text = literal.kind === "StringLiteral" ? literal.value : "";
          const root = e.op === "under" ? searchRoot(this.policy, e.left, text) : text;
          this.opaque(e.left, e.op === "under" ? [{ kind: "prefix", value: `${root.replace(/[\\/]+$/, "")}/` }, { kind: "string", value: `${root}-x` }] : [{ kind: "suffix", value: `.${text}` }, { kind: "string", value: text }]);
          return;
        }
        if (COMPARISONS.has(e.op) || e.op === "in" || e.op === "not in" || e.op === "matches" || e.op === "startsWith" || e.op === "endsWith" || e.op === "contains") {
          this.condition(e);
          return;
        }
        this.opaque(e.left, hints);
        this.opaque(e.right, hints);
        return;
      case "ListLiteral":
        for (const element of e.elements) this.opaque(element, hints);
        return;
      case "Quantifier":
        // The list is read element by element through the variable, which no class of values captures.
        this.opaque(e.list, hints);
        this.opaque(e.body, hints);
        return;
      default:
        return;
    }
  }
}

/** The root of `LEFT under "ROOT"` as search writes values below it: an argument read as a `file:` URI, as a URI. */
function searchRoot(policy: CheckedPolicy, left: Expr, root: string): string {
  if (underStyle(policy, left, root) !== "file-uri" || /^file:/i.test(root)) return root;
  return `file://${/^[A-Za-z]:/.test(root) ? "/" : ""}${root.replace(/\\/g, "/")}`;
}

function asLength(hint: Hint): Hint {
  return hint.kind === "number" ? { kind: "length", value: hint.value } : hint;
}

/** What a constant compared with an expression suggests about the inputs inside it. */
function hintsOf(constant: unknown, around: Expr): Hint[] {
  const isLength = around.kind === "Call" && around.callee === "len";
  if (typeof constant === "number") return [{ kind: isLength ? "length" : "number", value: constant }];
  if (typeof constant === "string") {
    const instant = Date.parse(constant);
    return Number.isNaN(instant) || !/^\d{4}-\d{2}-\d{2}/.test(constant) ? [{ kind: "string", value: constant }] : [{ kind: "number", value: instant }];
  }
  if (Array.isArray(constant)) return constant.flatMap((c) => hintsOf(c, around));
  return [];
}

function readsOf(policy: CheckedPolicy, exprs: readonly (Expr | undefined)[]): Read[] {
  const collector = new ReadCollector(policy, policy.timezone);
  for (const expr of exprs) if (expr !== undefined) collector.condition(expr);
  return collector.reads;
}

// ---------------------------------------------------------------------------------------------------------
// Identities

/**
 * Canonical text of an expression for identities: parentheses dropped, `and`/`or` chains flattened and sorted, the
 * members of an `in` list sorted, literals by value. Two conditions with the same text are the same condition written
 * differently, up to the order in which clauses are tried; that order changes which clause an explanation names, and
 * which rules apply only when a clause cannot be evaluated, and such a change shows in the decisions compared.
 */
function canonicalText(expr: Expr): string {
  const e = unparen(expr);
  switch (e.kind) {
    case "NumberLiteral":
    case "BooleanLiteral":
      return String(e.value);
    case "StringLiteral":
      return JSON.stringify(e.value);
    case "DurationLiteral":
      return `${e.ms}ms`;
    case "RegexLiteral":
      return `/${e.pattern}/${[...e.flags].sort().join("")}`;
    case "ListLiteral":
      return `[${e.elements.map(canonicalText).join(", ")}]`;
    case "Name":
      return e.segments === undefined ? e.name : pathText(e.name, e.segments);
    case "Path":
      return pathText(e.root, e.segments);
    case "Has":
      return `has ${canonicalText(e.path)}`;
    case "Call": {
      // `session` is the scope a history read has when none is written.
      const args = (e.callee === "calls" || AGGREGATE_FUNCTIONS.has(e.callee)) && historyScope(e.args[2]) === "session" ? e.args.slice(0, 2) : e.args;
      return `${e.callee}(${args.map(canonicalText).join(", ")})${e.field === undefined ? "" : `.${e.field.name}`}`;
    }
    case "Quantifier":
      return `(${e.quantifier} ${e.variable.name} in ${canonicalText(e.list)}: ${canonicalText(e.body)})`;
    case "Variable":
      return pathText(e.name, e.segments);
    case "Unary":
      return `(${e.op === "not" ? "not " : "-"}${canonicalText(e.operand)})`;
    case "Binary": {
      if (e.op === "and" || e.op === "or") {
        const parts = chain(e, e.op).map(canonicalText).sort();
        return `(${parts.join(` ${e.op} `)})`;
      }
      const right = unparen(e.right);
      if ((e.op === "in" || e.op === "not in") && right.kind === "ListLiteral") {
        return `(${canonicalText(e.left)} ${e.op} [${right.elements.map(canonicalText).sort().join(", ")}])`;
      }
      return `(${canonicalText(e.left)} ${e.op} ${canonicalText(e.right)})`;
    }
    case "Missing":
      return "<missing>";
    default:
      return "<unknown>";
  }
}

function chain(expr: Expr, op: "and" | "or"): Expr[] {
  const e = unparen(expr);
  if (e.kind === "Binary" && e.op === op) return [...chain(e.left, op), ...chain(e.right, op)];
  return [e];
}

function toolsKey(tools: readonly string[] | "*"): string {
  return tools === "*" ? "*" : JSON.stringify([...tools].sort());
}

/** Reads and identities of every requirement, rule and limit of a policy. */
export function policyReads(policy: CheckedPolicy): PolicyReads {
  const requirements = policy.requirements.map(
    (req): ItemReads => ({
      id: req.id,
      kind: "requirement",
      identity: `${req.dimension} require ${canonicalText(req.condition)}`,
      tools: "*",
      reads: readsOf(policy, [req.condition]),
    }),
  );
  const rules = policy.rules.map(
    (rule): ItemReads => ({
      id: rule.id,
      kind: "rule",
      identity: `${rule.effect} when ${rule.when === undefined ? "-" : canonicalText(rule.when)} unless ${rule.unless === undefined ? "-" : canonicalText(rule.unless)} because ${JSON.stringify(rule.because ?? null)}`,
      tools: rule.tools,
      reads: readsOf(policy, [rule.when, rule.unless]),
      effect: rule.effect,
      reason: rule.because ?? "",
    }),
  );
  const limits = policy.limits.map((limit): ItemReads => {
    const query: Query = { tools: limit.tools, windowMs: limit.windowMs, scope: limit.scope, called: false };
    return {
      id: limit.id,
      kind: "limit",
      identity: `limit ${toolsKey(limit.tools)} to ${limit.count} per ${limit.windowMs}ms per ${limit.scope}`,
      tools: limit.tools,
      reads: [{ key: queryKey(query), type: { kind: "number" }, use: { kind: "compare", op: ">=", value: limit.count }, query }],
      reason: `${limit.count} calls per ${limit.windowMs}ms per ${limit.scope}`,
    };
  });
  const identities = new Map<string, string>([...requirements, ...rules, ...limits].map((item) => [item.id, item.identity]));
  return { policy, requirements, items: [...rules, ...limits], identities };
}

/** Whether an item decides calls to `tool`. */
export function targetsTool(item: ItemReads, tool: string): boolean {
  return item.tools === "*" || item.tools.includes(tool);
}
