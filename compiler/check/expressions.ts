// Typing of expressions: literals, operators, function calls and `has`, each checked against the types its operands
// must have; the type of every expression is recorded for the back ends. Paths are typed in ./paths.ts.
import type { AggregateName, Binary, Call, Expr, Has, Quantifier, RegexLiteral, StringLiteral } from "../../grammar/ast.js";
import { historyScope } from "../analysis.js";
import { ipRange, ipSet } from "../../runtime/guard/addresses.js";
import { LiteralError } from "../../runtime/guard/literal-errors.js";
import { pathRoot, pathStyleFor } from "../../runtime/guard/paths.js";
import { domainName } from "../../runtime/guard/urls.js";
import { algorithmFacts, algorithmNames, type AlgorithmFamily } from "../../runtime/guard/algorithms.js";
import { MATCH_INPUT_LIMIT } from "../../runtime/guard/helpers.js";
import { didYouMean } from "../diagnostics.js";
import type { Type } from "../ir.js";
import { backtrackingVerdict } from "../regex-backtracking.js";
import { seenLabel } from "./results.js";
import type { CheckContext, Scope } from "./context.js";
import { contradictions, prefixOnPathOrUrl } from "./lints.js";
import { constantDuration, isIsoTimestamp, MAX_DURATION_MS, MIN_DURATION_MS } from "./literals.js";
import { itemShapes, typePath, typeToolField, typeVariable } from "./paths.js";
import { ADDRESS, algorithm, BOOLEAN, DURATION, ERROR, NUMBER, REGEX, sameType, SCOPE, STRING, TIMESTAMP, TOOL, typeName, UNKNOWN, unwrap } from "./types.js";

/** The functions a policy may call. */
const FUNCTIONS = ["calls", "called", "sum", "max", "min", "len", "lower", "upper", "url", "host", "ip", "seen"] as const;

/** Argument counts: the history reads take an optional scope last. */
const ARITY: Readonly<Record<(typeof FUNCTIONS)[number], readonly [number, number]>> = {
  calls: [2, 3],
  sum: [2, 3],
  max: [2, 3],
  min: [2, 3],
  called: [1, 1],
  len: [1, 1],
  lower: [1, 1],
  upper: [1, 1],
  url: [1, 1],
  host: [1, 1],
  ip: [1, 1],
  seen: [1, 1],
};

/** The fields of `url(...)` and their types. */
const URL_FIELDS: ReadonlyMap<string, Type> = new Map<string, Type>([
  ["scheme", STRING],
  ["host", STRING],
  ["port", NUMBER],
  ["path", STRING],
  ["query", STRING],
  ["credentials", BOOLEAN],
]);

export class ExpressionTyper {
  constructor(private readonly ctx: CheckContext) {}

  /** Types a condition, which must be a boolean, and looks for conjuncts that contradict each other. */
  condition(e: Expr, scope: Scope): void {
    const t = this.expr(e, scope);
    if (t !== ERROR && t.kind !== "boolean") this.ctx.report("notBoolean", e, { expr: this.ctx.quote(e), type: typeName(t) });
    if (t.kind === "boolean") contradictions(this.ctx, e);
  }

  /** Types an expression and records its type. */
  expr(e: Expr, scope: Scope): Type {
    const t = this.compute(e, scope);
    this.ctx.types.set(e, t);
    return t;
  }

  private compute(e: Expr, scope: Scope): Type {
    switch (e.kind) {
      case "NumberLiteral":
        return NUMBER;
      case "StringLiteral":
        return STRING;
      case "BooleanLiteral":
        return BOOLEAN;
      case "DurationLiteral":
        this.ctx.duration(e);
        return DURATION;
      case "RegexLiteral":
        // The lexer reads a regex only right after `matches`; should one appear elsewhere, its operator rejects it.
        return REGEX;
      case "ListLiteral":
        return this.list(e.elements, scope);
      case "Name":
        if (e.name === "*") this.ctx.report("unexpectedStar", e, {});
        else this.ctx.report("unexpectedName", e, { name: e.name }, this.nameHelp(e.name, scope));
        return ERROR;
      case "Path":
        return typePath(this.ctx, e, scope);
      case "Unary": {
        const t = this.expr(e.operand, scope);
        if (t === ERROR) return ERROR;
        if (e.op === "not") return this.expect(t, ["boolean"], "not", e.operand, "a boolean") ? BOOLEAN : ERROR;
        return this.expect(t, ["number", "duration"], "-", e.operand, "a number or a duration") ? t : ERROR;
      }
      case "Binary":
        return this.binary(e, scope);
      case "Call":
        return this.call(e, scope);
      case "Has":
        return this.has(e, scope);
      case "Paren":
        return this.expr(e.inner, scope);
      case "Quantifier":
        return this.quantifier(e, scope);
      case "Variable":
        return typeVariable(this.ctx, e, scope);
      case "Missing":
        return ERROR;
    }
  }

  /** `all x in LIST: C`: LIST a list, C a boolean with x bound to an element, typed by the item schema if known. */
  private quantifier(e: Quantifier, scope: Scope): Type {
    const listType = this.expr(e.list, scope);
    let element: Type = UNKNOWN;
    let ok = listType !== ERROR;
    if (listType.kind === "list") element = listType.element;
    else if (ok && listType.kind !== "unknown") {
      this.ctx.report("badOperand", e.list, { op: e.quantifier, type: typeName(listType), expr: this.ctx.quote(e.list), expected: "a list" });
      ok = false;
    }
    const list = unwrap(e.list);
    const shapes = list.kind === "Path" || list.kind === "Variable" ? itemShapes(list, scope) : undefined;
    const bound = new Map(scope.bound);
    bound.set(e.variable.name, { type: element, shapes });
    const body = this.expr(e.body, { ...scope, bound });
    if (body !== ERROR && body.kind !== "boolean") {
      this.ctx.report("notBoolean", e.body, { expr: this.ctx.quote(e.body), type: typeName(body) });
      ok = false;
    }
    return ok && body !== ERROR ? BOOLEAN : ERROR;
  }

  /** The literal right of `under`, `within` and `ip(...) in`: built once by the guard, so checked here, at the literal. */
  private literalOperand(op: string, right: Expr, scope: Scope, build: (text: string) => unknown): boolean {
    const literal = unwrap(right);
    if (literal.kind !== "StringLiteral") {
      const t = this.expr(right, scope);
      if (t !== ERROR) this.ctx.report("badOperand", right, { op, type: typeName(t), expr: this.ctx.quote(right), expected: "a string literal on its right" });
      return false;
    }
    this.expr(right, scope);
    return this.literal(literal, () => build(literal.value));
  }

  /** Runs a literal's constructor; a LiteralError becomes a diagnostic with its own code, at the literal. */
  private literal(at: Expr, build: () => unknown): boolean {
    try {
      build();
      return true;
    } catch (error) {
      if (!(error instanceof LiteralError)) throw error;
      this.ctx.literalError(error.code, error.message, at);
      return false;
    }
  }

  private nameHelp(name: string, scope: Scope): string | undefined {
    const fields = scope.tools?.[0]?.args.fields;
    if (fields?.has(name)) return `did you mean \`args.${name}\`?`;
    if (this.ctx.tools.has(name)) return `to test the tool being called, write \`tool.name == "${name}"\``;
    return undefined;
  }

  private expect(t: Type, kinds: readonly Type["kind"][], op: string, operand: Expr, expected: string): boolean {
    if (t === ERROR || kinds.includes(t.kind)) return true;
    this.ctx.report("badOperand", operand, { op, type: typeName(t), expr: this.ctx.quote(operand), expected });
    return false;
  }

  private list(elements: readonly Expr[], scope: Scope): Type {
    let first: Type | undefined;
    let failed = false;
    for (const el of elements) {
      const t = this.expr(el, scope);
      if (t === ERROR) {
        failed = true;
        continue;
      }
      if (first === undefined) first = t;
      else if (!sameType(first, t) && first.kind !== "unknown" && t.kind !== "unknown") {
        this.ctx.report("mixedList", el, { expr: this.ctx.quote(el), type: typeName(t), first: typeName(first) });
        failed = true;
      }
    }
    if (failed) return ERROR;
    return { kind: "list", element: first ?? UNKNOWN };
  }

  private binary(e: Binary, scope: Scope): Type {
    switch (e.op) {
      case "and":
      case "or": {
        const l = this.expr(e.left, scope);
        const r = this.expr(e.right, scope);
        const ok = this.expect(l, ["boolean"], e.op, e.left, "booleans") && this.expect(r, ["boolean"], e.op, e.right, "booleans");
        return ok && l !== ERROR && r !== ERROR ? BOOLEAN : ERROR;
      }
      case "==":
      case "!=": {
        const l = this.expr(e.left, scope);
        const r = this.expr(e.right, scope);
        return this.equality(e.op, e.left, l, e.right, r) ? BOOLEAN : ERROR;
      }
      case "<":
      case "<=":
      case ">":
      case ">=":
        return this.ordering(e, scope);
      case "in":
      case "not in":
        return this.membership(e, scope);
      case "matches":
        return this.matches(e, scope);
      case "contains":
        return this.contains(e, scope);
      case "startsWith":
      case "endsWith": {
        const l = this.expr(e.left, scope);
        const r = this.expr(e.right, scope);
        const ok = this.expect(l, ["string"], e.op, e.left, "strings") && this.expect(r, ["string"], e.op, e.right, "strings");
        if (ok && e.op === "startsWith") prefixOnPathOrUrl(this.ctx, e);
        return ok && l !== ERROR && r !== ERROR ? BOOLEAN : ERROR;
      }
      case "under": {
        const l = this.expr(e.left, scope);
        const format = l.kind === "string" ? l.format : undefined;
        const ok = this.expect(l, ["string"], e.op, e.left, "a path") && this.literalOperand(e.op, e.right, scope, (text) => pathRoot(text, pathStyleFor(format, text)));
        return ok && l !== ERROR ? BOOLEAN : ERROR;
      }
      case "within": {
        const l = this.expr(e.left, scope);
        const ok = this.expect(l, ["string"], e.op, e.left, "a host, as `host(...)` or `url(...).host` give") && this.literalOperand(e.op, e.right, scope, domainName);
        return ok && l !== ERROR ? BOOLEAN : ERROR;
      }
      case "+":
      case "-":
      case "*":
      case "/":
      case "%":
        return this.arithmetic(e, scope);
    }
  }

  /**
   * Whether `a == b` is well typed, reporting why not. Strings meet enums (a literal outside the enum is a warning),
   * algorithms meet literals naming an algorithm of their family, unknown and object values meet anything JSON.
   */
  private equality(op: string, a: Expr, at: Type, b: Expr, bt: Type): boolean {
    if (at === ERROR || bt === ERROR) return false;
    for (const [x, xt] of [[a, at], [b, bt]] as const) {
      if (xt.kind === "regex" || xt.kind === "tool") {
        this.ctx.report("badOperand", x, { op, type: typeName(xt), expr: this.ctx.quote(x), expected: "values" });
        return false;
      }
    }
    if (at.kind === "unknown" || bt.kind === "unknown" || at.kind === "object" || bt.kind === "object") return true;
    if (at.kind === "algorithm" || bt.kind === "algorithm") {
      const [alg, algType, other, otherType] = at.kind === "algorithm" ? [a, at, b, bt] : [b, bt, a, at];
      if (algType.kind !== "algorithm") return false;
      if (otherType.kind === "algorithm") return otherType.family === algType.family || this.mismatch(a, at, b, bt);
      const literal = unwrap(other);
      if (literal.kind === "StringLiteral") return this.algorithmLiteral(literal, algType.family, alg);
      return this.mismatch(a, at, b, bt);
    }
    if (at.kind === "string" && bt.kind === "string") {
      this.enumMembership(a, at, b);
      this.enumMembership(b, bt, a);
      return true;
    }
    if (at.kind === "timestamp" || bt.kind === "timestamp") return this.timestampOperands(a, at, b, bt);
    return sameType(at, bt) || this.mismatch(a, at, b, bt);
  }

  private mismatch(a: Expr, at: Type, b: Expr, bt: Type): false {
    this.ctx.report("typeMismatch", b, { left: this.ctx.quote(a), leftType: typeName(at), right: this.ctx.quote(b), rightType: typeName(bt) });
    return false;
  }

  /** Warns when a string literal is compared with an enum-typed value whose enum does not list it. */
  private enumMembership(valued: Expr, t: Type, other: Expr): void {
    if (t.kind !== "string" || t.enum === undefined) return;
    const literal = unwrap(other);
    if (literal.kind !== "StringLiteral" || t.enum.includes(literal.value)) return;
    const values = t.enum.map((v) => `\`${v}\``).join(", ");
    this.ctx.report("notInEnum", literal, { value: literal.value, path: this.ctx.quote(valued), values }, didYouMean(literal.value, t.enum));
  }

  private algorithmLiteral(literal: StringLiteral, family: AlgorithmFamily, against: Expr): boolean {
    this.ctx.types.set(literal, algorithm(family));
    const facts = algorithmFacts(literal.value);
    if (facts === undefined) {
      this.ctx.report("unknownAlgorithm", literal, { family, name: literal.value }, didYouMean(literal.value, algorithmNames(family)));
      return false;
    }
    if (facts.family !== family) {
      this.ctx.report("algorithmFamily", literal, { name: literal.value, actual: facts.family, path: this.ctx.quote(against), expected: family });
      return false;
    }
    return true;
  }

  private timestampOperands(a: Expr, at: Type, b: Expr, bt: Type): boolean {
    if (at.kind === "timestamp" && bt.kind === "timestamp") return true;
    const other = at.kind === "timestamp" ? b : a;
    const literal = unwrap(other);
    if (literal.kind !== "StringLiteral") return this.mismatch(a, at, b, bt);
    this.ctx.types.set(literal, TIMESTAMP);
    if (!isIsoTimestamp(literal.value)) {
      this.ctx.report("badTimestamp", literal, { text: literal.value });
      return false;
    }
    return true;
  }

  private ordering(e: Binary, scope: Scope): Type {
    const l = this.expr(e.left, scope);
    const r = this.expr(e.right, scope);
    if (l === ERROR || r === ERROR) return ERROR;
    const orderable: Type["kind"][] = ["number", "duration", "timestamp", "algorithm"];
    const expected = "numbers, durations, timestamps or algorithms";
    if (l.kind === "algorithm" || r.kind === "algorithm") {
      return this.equality(e.op, e.left, l, e.right, r) ? BOOLEAN : ERROR;
    }
    if (l.kind === "timestamp" || r.kind === "timestamp") return this.timestampOperands(e.left, l, e.right, r) ? BOOLEAN : ERROR;
    if (!this.expect(l, orderable, e.op, e.left, expected) || !this.expect(r, orderable, e.op, e.right, expected)) return ERROR;
    return sameType(l, r) || this.mismatch(e.left, l, e.right, r) ? BOOLEAN : ERROR;
  }

  private membership(e: Binary, scope: Scope): Type {
    const l = this.expr(e.left, scope);
    const right = unwrap(e.right);
    if (l.kind === "address") return this.addressIn(e, right, scope) ? BOOLEAN : ERROR;
    if (right.kind === "ListLiteral") {
      // Each element is checked as if compared with `==`: so `transport.kem in ["ML-KEM-768"]` validates the names.
      let ok = l !== ERROR;
      let element: Type | undefined;
      for (const el of right.elements) {
        const t = this.expr(el, scope);
        if (ok && !this.equality(e.op, e.left, l, el, t)) ok = false;
        element ??= t;
      }
      const listType: Type = { kind: "list", element: l.kind === "algorithm" ? l : (element ?? UNKNOWN) };
      this.ctx.types.set(right, listType);
      if (right !== e.right) this.recordParens(e.right, listType);
      return ok ? BOOLEAN : ERROR;
    }
    const r = this.expr(e.right, scope);
    if (l === ERROR || r === ERROR) return ERROR;
    if (r.kind !== "list") {
      if (r.kind === "unknown") return BOOLEAN;
      this.ctx.report("badOperand", e.right, { op: e.op, type: typeName(r), expr: this.ctx.quote(e.right), expected: "a list on its right" });
      return ERROR;
    }
    return this.elementOf(e.op, e.left, l, e.right, r.element) ? BOOLEAN : ERROR;
  }

  private recordParens(e: Expr, t: Type): void {
    let inner = e;
    while (inner.kind === "Paren") {
      this.ctx.types.set(inner, t);
      inner = inner.inner;
    }
  }

  /** `ip(x) in "CIDR"` and `ip(x) in SET`: a range literal or the name of an address set. */
  private addressIn(e: Binary, right: Expr, scope: Scope): boolean {
    if (right.kind === "Name") {
      this.ctx.types.set(right, STRING);
      return this.literal(right, () => ipSet(right.name));
    }
    if (right.kind === "StringLiteral") {
      this.expr(e.right, scope);
      return this.literal(right, () => ipRange(right.value));
    }
    const t = this.expr(e.right, scope);
    if (t !== ERROR) {
      this.ctx.report("badOperand", e.right, { op: e.op, type: typeName(t), expr: this.ctx.quote(e.right), expected: "a CIDR range literal such as `\"10.0.0.0/8\"` or an address set such as `private`" });
    }
    return false;
  }

  /** `x in list` and `list contains x` where the list is not a literal: the element types must agree. */
  private elementOf(op: string, value: Expr, vt: Type, list: Expr, element: Type): boolean {
    if (vt.kind === "unknown" || element.kind === "unknown" || element.kind === "object" || vt.kind === "object") return true;
    if (vt.kind === "string" && element.kind === "string") {
      if (element.enum !== undefined) this.enumMembership(list, element, value);
      return true;
    }
    if (sameType(vt, element)) return true;
    this.ctx.report("badOperand", value, { op, type: typeName(vt), expr: this.ctx.quote(value), expected: `${typeName(element).replace(/^an? /, "")} to match the elements of \`${this.ctx.quote(list)}\`` });
    return false;
  }

  private matches(e: Binary, scope: Scope): Type {
    const l = this.expr(e.left, scope);
    const right = unwrap(e.right);
    let ok = this.expect(l, ["string"], "matches", e.left, "a string");
    if (right.kind === "RegexLiteral") {
      this.ctx.types.set(right, REGEX);
      this.recordParens(e.right, REGEX);
      ok = this.regexLiteral(right) && ok;
    } else {
      const r = this.expr(e.right, scope);
      if (r !== ERROR) this.ctx.report("badOperand", e.right, { op: "matches", type: typeName(r), expr: this.ctx.quote(e.right), expected: "a regular expression literal such as `/^[a-z]+$/`" });
      ok = false;
    }
    return ok && l !== ERROR ? BOOLEAN : ERROR;
  }

  /** Whether a regex literal compiles and cannot backtrack catastrophically, reporting it when not. */
  regexLiteral(regex: RegexLiteral): boolean {
    try {
      new RegExp(regex.pattern, regex.flags);
      return this.backtracking(regex);
    } catch (error) {
      const detail = error instanceof SyntaxError ? error.message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, "") : "does not compile";
      this.ctx.report("badRegex", regex, { regex: `/${regex.pattern}/${regex.flags}`, detail: detail.toLowerCase() });
      return false;
    }
  }

  /**
   * A regex that can backtrack catastrophically lets whoever controls the string block the guard's thread: an error.
   * One the analyser cannot decide is only a warning; `matches` still reads at most MATCH_INPUT_LIMIT characters.
   */
  private backtracking(regex: RegexLiteral): boolean {
    const shown = `/${regex.pattern}/${regex.flags}`;
    const verdict = backtrackingVerdict(regex.pattern, regex.flags);
    if (verdict.status === "vulnerable") {
      this.ctx.report("regexBacktracking", regex, { regex: shown, complexity: verdict.complexity, attack: verdict.attack });
      return false;
    }
    if (verdict.status === "unknown") {
      this.ctx.report("regexNotProvenSafe", regex, { regex: shown, detail: verdict.reason }, `at run time \`matches\` reads at most ${MATCH_INPUT_LIMIT} characters`);
    }
    return true;
  }

  private contains(e: Binary, scope: Scope): Type {
    const l = this.expr(e.left, scope);
    const r = this.expr(e.right, scope);
    if (l === ERROR || r === ERROR) return ERROR;
    if (l.kind === "string") return this.expect(r, ["string"], "contains", e.right, "a string after a string") ? BOOLEAN : ERROR;
    if (l.kind === "list") return this.elementOf("contains", e.right, r, e.left, l.element) ? BOOLEAN : ERROR;
    if (l.kind === "unknown") return BOOLEAN;
    this.ctx.report("badOperand", e.left, { op: "contains", type: typeName(l), expr: this.ctx.quote(e.left), expected: "a list or a string" });
    return ERROR;
  }

  private arithmetic(e: Binary, scope: Scope): Type {
    const l = this.expr(e.left, scope);
    const r = this.expr(e.right, scope);
    const additive = e.op === "+" || e.op === "-";
    const kinds: Type["kind"][] = additive ? ["number", "duration"] : ["number"];
    const expected = additive ? "numbers or durations" : "numbers";
    if (!this.expect(l, kinds, e.op, e.left, expected) || !this.expect(r, kinds, e.op, e.right, expected)) return ERROR;
    if (l === ERROR || r === ERROR) return ERROR;
    return sameType(l, r) || this.mismatch(e.left, l, e.right, r) ? l : ERROR;
  }

  private call(e: Call, scope: Scope): Type {
    const name = (FUNCTIONS as readonly string[]).includes(e.callee) ? (e.callee as (typeof FUNCTIONS)[number]) : undefined;
    if (name === undefined) {
      this.ctx.report("unknownFunction", e.calleeSpan, { name: e.callee }, didYouMean(e.callee, FUNCTIONS));
      for (const a of e.args) if (a.kind !== "Name") this.expr(a, scope);
      return ERROR;
    }
    if (e.field !== undefined && name !== "url") {
      this.ctx.report("noFields", e.field.span, { path: this.ctx.text({ ...e.span, end: e.field.span.start }), type: `the result of \`${name}()\`` });
      return ERROR;
    }
    const [least, most] = ARITY[name];
    if (e.args.length < least || e.args.length > most) {
      const expected = least === most ? (least === 1 ? "1 argument" : `${least} arguments`) : `${least} or ${most} arguments`;
      this.ctx.report("wrongArity", e, { name, expected, actual: String(e.args.length) });
      return ERROR;
    }
    const first = e.args[0]!;
    switch (name) {
      case "calls": {
        const tool = this.toolRef(first, name, scope);
        const ok = this.window(e, name, scope);
        return tool && ok ? NUMBER : ERROR;
      }
      case "sum":
      case "max":
      case "min": {
        const field = this.aggregatedField(first, name);
        const ok = this.window(e, name, scope);
        return field && ok ? NUMBER : ERROR;
      }
      case "called":
        return this.toolRef(first, name, scope) ? BOOLEAN : ERROR;
      case "seen":
        return seenLabel(this.ctx, first) ? BOOLEAN : ERROR;
      case "len": {
        const t = this.expr(first, scope);
        return this.argument(t, ["string", "list"], 1, name, first, "a string or a list") ? NUMBER : ERROR;
      }
      case "lower":
      case "upper": {
        const t = this.expr(first, scope);
        return this.argument(t, ["string"], 1, name, first, "a string") ? STRING : ERROR;
      }
      case "url":
        return this.urlCall(e, first, scope);
      case "host": {
        const t = this.expr(first, scope);
        return this.argument(t, ["string", "unknown"], 1, name, first, "a string") ? STRING : ERROR;
      }
      case "ip": {
        const t = this.expr(first, scope);
        return this.argument(t, ["string", "unknown"], 1, name, first, "a string") ? ADDRESS : ERROR;
      }
    }
  }

  /** The window and optional scope of a history read: `calls(T, 10m)`, `sum(T.amount, 1d, client)`. */
  private window(e: Call, name: string, scope: Scope): boolean {
    const window = e.args[1]!;
    const ok = this.argument(this.expr(window, scope), ["duration"], 2, name, window, "a duration") && this.constantWindow(window);
    const who = e.args[2];
    if (who === undefined) return ok;
    if (historyScope(who) !== undefined) {
      this.ctx.types.set(who, SCOPE);
      return ok;
    }
    this.ctx.report("badHistoryScope", who, { name, expr: this.ctx.quote(who) });
    return false;
  }

  /** The first argument of an aggregate: `TOOL.FIELD`, a number or integer in that tool's input schema. */
  private aggregatedField(arg: Expr, name: AggregateName): boolean {
    if (arg.kind !== "Name" || arg.segments === undefined || arg.segments.length === 0 || arg.segments.some((s) => s.kind === "Index")) {
      this.ctx.report("badAggregateField", arg, { name, expr: this.ctx.quote(arg) });
      return false;
    }
    const rootSpan = { ...arg.span, end: arg.segments[0]!.span.start, endLine: arg.span.line, endColumn: arg.span.column + arg.name.length };
    const tool = this.ctx.resolveTool(arg.name, { span: rootSpan });
    if (tool === undefined) return false;
    const t = typeToolField(this.ctx, { ...arg, segments: arg.segments }, rootSpan, tool);
    if (t === ERROR) return false;
    if (t.kind === "number") {
      this.ctx.types.set(arg, NUMBER);
      return true;
    }
    this.ctx.report("aggregateNotNumber", arg, { name, expr: this.ctx.quote(arg), type: typeName(t), tool: tool.name });
    return false;
  }

  /** `url(X).field`: a URL is read only through one of its fields. */
  private urlCall(e: Call, first: Expr, scope: Scope): Type {
    const t = this.expr(first, scope);
    const ok = this.argument(t, ["string", "unknown"], 1, "url", first, "a string");
    if (e.field === undefined) {
      this.ctx.report("urlNeedsField", e, { expr: this.ctx.quote(e) });
      return ERROR;
    }
    const fieldType = URL_FIELDS.get(e.field.name);
    if (fieldType === undefined) {
      this.ctx.report("unknownUrlField", e.field.span, { field: e.field.name }, didYouMean(e.field.name, URL_FIELDS.keys()));
      return ERROR;
    }
    return ok ? fieldType : ERROR;
  }

  /**
   * A window computed from duration literals alone (`-10m`, `10m - 10m`) must lie in range as a literal must: one of
   * zero or less counts no call, so a `forbid` on it could never apply.
   */
  private constantWindow(window: Expr): boolean {
    if (unwrap(window).kind === "DurationLiteral") return true;
    const ms = constantDuration(window);
    if (ms === undefined || (ms >= MIN_DURATION_MS && ms <= MAX_DURATION_MS)) return true;
    this.ctx.report("durationRange", window, { duration: this.ctx.quote(window) });
    return false;
  }

  private argument(t: Type, kinds: readonly Type["kind"][], position: number, name: string, arg: Expr, expected: string): boolean {
    if (t === ERROR) return false;
    if (kinds.includes(t.kind)) return true;
    this.ctx.report("badArgument", arg, { position, name, expected, expr: this.ctx.quote(arg), type: typeName(t) });
    return false;
  }

  /** The tool argument of `calls()`/`called()`: `*`, a bare tool name or a string naming a tool. */
  private toolRef(arg: Expr, fn: string, scope: Scope): boolean {
    this.ctx.types.set(arg, TOOL);
    if (arg.kind === "Name") return arg.name === "*" || this.ctx.resolveTool(arg.name, arg) !== undefined;
    if (arg.kind === "StringLiteral") return this.ctx.resolveTool(arg.value, arg) !== undefined;
    this.ctx.types.delete(arg);
    const t = this.expr(arg, scope);
    if (t !== ERROR) this.ctx.report("badArgument", arg, { position: 1, name: fn, expected: "a tool name or `*`", expr: this.ctx.quote(arg), type: typeName(t) });
    return false;
  }

  /**
   * `has` tests a value whose presence is in question: an `args` path, a claim, or a step into a quantifier's variable
   * (`has e.oldText`, typed by the list's item schema). The variable itself always stands for an element.
   */
  private has(e: Has, scope: Scope): Type {
    const p = e.path;
    const claims = p.kind === "Path" && p.root === "client" && p.segments.length === 2 && p.segments[0]!.kind === "Field" && p.segments[0]!.name === "claims";
    const args = p.kind === "Path" && p.root === "args" && p.segments.length > 0;
    const element = p.kind === "Variable" && p.segments.length > 0;
    if (!args && !claims && !element) {
      this.ctx.report("badHas", p, { path: this.ctx.quote(p) });
      return ERROR;
    }
    return this.expr(p, scope) === ERROR ? ERROR : BOOLEAN;
  }
}
