// The policy checker: resolves tools against the manifests and `args.*` paths against their schemas, types every
// expression, validates literals, warns about rules that can never apply, and builds the CheckedPolicy.
import { createHash } from "node:crypto";
import type {
  Binary,
  Call,
  CallRule,
  Expr,
  Has,
  LimitRule,
  ManifestDecl,
  Path,
  PolicyFile,
  RegexLiteral,
  Requirement,
  RequireBlock,
  Span,
  StringLiteral,
  ToolTarget,
} from "../grammar/ast.js";
import { algorithmFacts, algorithmNames, type AlgorithmFamily } from "../runtime/guard/algorithms.js";
import { MATCH_INPUT_LIMIT } from "../runtime/guard/helpers.js";
import { diagnostic, didYouMean, type CheckDiagnosticKind, type Diagnostic, type DiagnosticParams } from "./diagnostics.js";
import type { CheckedLimit, CheckedPolicy, CheckedRequirement, CheckedRule, ToolInfo, Type } from "./ir.js";
import { parseManifest, type ArgShape, type Manifest, type ManifestTool } from "./manifests.js";
import { backtrackingVerdict } from "./regex-backtracking.js";

/** How the caller found a manifest named in the policy: its parsed JSON, or why there is none. */
export type ManifestSource =
  | { readonly kind: "json"; readonly value: unknown }
  | { readonly kind: "unreadable"; readonly detail: string }
  | { readonly kind: "invalid"; readonly detail: string };

/** Verifies a signed manifest envelope against the fingerprint the policy requires. */
export type ManifestVerifier = (envelope: Readonly<Record<string, unknown>>, fingerprint: string) => { ok: true } | { ok: false; detail: string };

export interface CheckInput {
  readonly ast: PolicyFile;
  readonly source: string;
  /** The file name diagnostics carry, as the user wrote it. */
  readonly file: string;
  /** The policy file's base name: the prefix of every rule id. */
  readonly baseName: string;
  readonly manifest: (pathAsWritten: string) => ManifestSource;
  readonly verify?: ManifestVerifier | undefined;
}

export interface CheckResult {
  readonly policy: CheckedPolicy | undefined;
  readonly diagnostics: Diagnostic[];
}

// ---------------------------------------------------------------------------------------------------------
// Types

const NUMBER: Type = { kind: "number" };
const STRING: Type = { kind: "string" };
const BOOLEAN: Type = { kind: "boolean" };
const DURATION: Type = { kind: "duration" };
const TIMESTAMP: Type = { kind: "timestamp" };
const REGEX: Type = { kind: "regex" };
const TOOL: Type = { kind: "tool" };
const OBJECT: Type = { kind: "object" };
const UNKNOWN: Type = { kind: "unknown" };
/** The type of an expression that already produced a diagnostic: it silences every follow-on complaint. */
const ERROR: Type = Object.freeze({ kind: "unknown" });

const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;
const HINTS = ["readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"] as const;

function algorithm(family: AlgorithmFamily): Type {
  return { kind: "algorithm", family };
}

/** Every fact path and its type (semantics: "Types of paths"). `client.claims[...]` is handled apart. */
const FACTS: ReadonlyMap<string, Type> = new Map<string, Type>([
  ["tool.name", STRING],
  ...HINTS.map((h): [string, Type] => [`tool.annotations.${h}`, BOOLEAN]),
  ["tool.annotations.title", STRING],
  ["client.id", STRING],
  ["client.role", STRING],
  ["client.fingerprint", STRING],
  ["client.authenticated", BOOLEAN],
  ["peer.fingerprint", STRING],
  ["peer.label", STRING],
  ["transport.kem", algorithm("kem")],
  ["transport.signature", algorithm("signature")],
  ["transport.aead", algorithm("aead")],
  ["transport.hybrid", BOOLEAN],
  ["transport.level", NUMBER],
  ["session.id", STRING],
  ["session.age", DURATION],
  ["session.calls", NUMBER],
  ["time.now", TIMESTAMP],
  ["time.hour", NUMBER],
  ["time.minute", NUMBER],
  ["time.weekday", { kind: "string", enum: WEEKDAYS }],
]);

const FUNCTIONS = ["calls", "called", "len", "lower", "upper"] as const;

/** Durations a policy may write: a zero window counts nothing and a window beyond a year is surely a typo. */
export const MIN_DURATION_MS = 1;
export const MAX_DURATION_MS = 365 * 24 * 3600 * 1000;

function sameType(a: Type, b: Type): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === "list" && b.kind === "list") return sameType(a.element, b.element);
  if (a.kind === "algorithm" && b.kind === "algorithm") return a.family === b.family;
  return true;
}

function article(word: string): string {
  return /^[aeiou]/.test(word) ? `an ${word}` : `a ${word}`;
}

function typeName(t: Type): string {
  switch (t.kind) {
    case "algorithm":
      return article(`${t.family} algorithm`);
    case "regex":
      return "a regular expression";
    case "tool":
      return "a tool reference";
    case "unknown":
      return "a value of unknown type";
    case "list":
      return t.element.kind === "unknown" ? "a list" : `a list of ${typeName(t.element).replace(/^an? /, "")}s`;
    default:
      return article(t.kind);
  }
}

function unwrap(e: Expr): Expr {
  let inner = e;
  while (inner.kind === "Paren") inner = inner.inner;
  return inner;
}

let timeZones: Set<string> | undefined;
function knownTimeZones(): Set<string> {
  timeZones ??= new Set([...Intl.supportedValuesOf("timeZone"), "UTC"]);
  return timeZones;
}

/**
 * Whether the running ICU accepts an IANA zone. `supportedValuesOf` lists one canonical name per zone (this ICU says
 * `Asia/Calcutta`, not `Asia/Kolkata`), so aliases are checked by constructing a formatter, as the guards will.
 */
function isTimeZone(zone: string): boolean {
  if (knownTimeZones().has(zone)) return true;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;

/**
 * A timestamp literal the back ends read with `Date.parse`: a date, or a date and time with a zone. `Date.parse`
 * rolls a day past the end of its month over (`2026-02-30` is March 2), so the day is checked against the month.
 */
export function isIsoTimestamp(text: string): boolean {
  if (!ISO_TIMESTAMP.test(text) || Number.isNaN(Date.parse(text))) return false;
  const year = Number(text.slice(0, 4));
  const month = Number(text.slice(5, 7));
  const day = Number(text.slice(8, 10));
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month);
}

function daysInMonth(year: number, month: number): number {
  if (month !== 2) return [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]!;
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
}

/** Expression text for messages: as written, comments dropped, whitespace collapsed, cut when long. */
const MAX_QUOTED_EXPR = 60;

// ---------------------------------------------------------------------------------------------------------

interface Scope {
  /** The tools a call rule targets; undefined inside a requirement, where there is no call. */
  readonly tools: readonly ManifestTool[] | undefined;
  /** A targeted tool is unknown (already reported): `args` paths cannot be checked and stay silent. */
  readonly incomplete?: boolean;
}

interface ToolEntry {
  readonly tool: ManifestTool;
  readonly manifest: string;
}

class Checker {
  readonly diagnostics: Diagnostic[] = [];
  readonly types = new Map<Expr, Type>();
  readonly tools = new Map<string, ToolEntry>();
  private timezone: { zone: string; line: number } | undefined;
  /** A manifest could not be used (already reported): unknown tool names are then expected and not reported again. */
  private manifestFailed = false;

  constructor(private readonly input: CheckInput) {}

  report<K extends CheckDiagnosticKind>(kind: K, at: Span | { readonly span: Span }, params: DiagnosticParams<K>, help?: string): void {
    this.diagnostics.push(diagnostic(kind, at, this.input.file, params, help));
  }

  /** Source text of a span: comments dropped and whitespace runs collapsed, as explanations quote it. */
  text(span: Span): string {
    let out = "";
    let at = span.start;
    for (const comment of this.input.ast.comments) {
      if (comment.span.start < span.start || comment.span.end > span.end) continue;
      out += `${this.input.source.slice(at, comment.span.start)} `;
      at = comment.span.end;
    }
    out += this.input.source.slice(at, span.end);
    return out.replace(/\s+/g, " ").trim();
  }

  quote(node: { readonly span: Span }): string {
    const t = this.text(node.span);
    return t.length > MAX_QUOTED_EXPR ? `${t.slice(0, MAX_QUOTED_EXPR - 3)}...` : t;
  }

  // -------------------------------------------------------------------------------------------------------
  // Declarations

  run(): CheckResult {
    const { ast } = this.input;
    const version = ast.header?.version;
    if (version !== undefined && (!version.integer || version.value < 0 || !Number.isSafeInteger(version.value))) {
      this.report("badVersion", version, { version: version.text });
    }
    // Manifests first, wherever they are written: rules may precede the manifest statement that defines their tools.
    const manifests = new Map<string, number>();
    for (const s of ast.statements) {
      if (s.kind === "ManifestDecl") this.manifestDecl(s, manifests);
      if (s.kind === "TimezoneDecl") this.timezoneDecl(s.zone);
    }
    const requirements: CheckedRequirement[] = [];
    const rules: CheckedRule[] = [];
    const limits: CheckedLimit[] = [];
    for (const s of ast.statements) {
      if (s.kind === "RequireBlock") requirements.push(...this.requireBlock(s));
      else if (s.kind === "CallRule") rules.push(this.callRule(s));
      else if (s.kind === "LimitRule") limits.push(this.limitRule(s));
    }
    this.shadowWarnings(ast.statements.filter((s): s is CallRule => s.kind === "CallRule"));
    const failed = this.diagnostics.some((d) => d.severity === "error") || ast.header === undefined;
    if (failed) return { policy: undefined, diagnostics: this.diagnostics };
    const tools: ToolInfo[] = [...this.tools.values()]
      .map(({ tool, manifest }) => ({ name: tool.name, definition: tool.definition, digest: tool.digest, annotations: tool.annotations, manifest }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const policy: CheckedPolicy = {
      name: ast.header!.name.name,
      version: version?.value,
      fileName: this.input.baseName,
      timezone: this.timezone?.zone ?? "UTC",
      digest: policyDigest(this.input.source),
      ast,
      source: this.input.source,
      tools,
      requirements,
      rules,
      limits,
      types: this.types,
    };
    return { policy, diagnostics: this.diagnostics };
  }

  private timezoneDecl(zone: StringLiteral): void {
    if (this.timezone !== undefined) {
      this.report("duplicateTimezone", zone, { line: this.timezone.line });
      return;
    }
    this.timezone = { zone: zone.value, line: zone.span.line };
    if (!isTimeZone(zone.value)) this.report("unknownTimeZone", zone, { zone: zone.value }, didYouMean(zone.value, knownTimeZones()));
  }

  private manifestDecl(decl: ManifestDecl, seen: Map<string, number>): void {
    const path = decl.path.value;
    const earlier = seen.get(path);
    if (earlier !== undefined) {
      this.report("duplicateManifest", decl.path, { path, line: earlier });
      return;
    }
    seen.set(path, decl.path.span.line);
    const manifest = this.loadManifest(decl);
    if (manifest === undefined) {
      this.manifestFailed = true;
      return;
    }
    for (const tool of manifest.tools) {
      const other = this.tools.get(tool.name);
      if (other !== undefined) {
        this.report("duplicateToolDefinition", decl.path, { tool: tool.name, first: other.manifest, second: path });
        continue;
      }
      this.tools.set(tool.name, { tool, manifest: path });
    }
  }

  private loadManifest(decl: ManifestDecl): Manifest | undefined {
    const path = decl.path.value;
    const found = this.input.manifest(path);
    if (found.kind === "unreadable") return void this.report("manifestNotFound", decl.path, { path, detail: found.detail });
    if (found.kind === "invalid") return void this.report("invalidManifest", decl.path, { path, detail: found.detail });
    const parsed = parseManifest(found.value);
    if (!parsed.ok) return void this.report("invalidManifest", decl.path, { path, detail: parsed.detail });
    if (decl.signedBy !== undefined && !this.signatureHolds(decl, parsed.manifest)) return undefined;
    return parsed.manifest;
  }

  private signatureHolds(decl: ManifestDecl, manifest: Manifest): boolean {
    const fingerprint = decl.signedBy!.value;
    const path = decl.path.value;
    if (manifest.signed === undefined || manifest.signed["signature"] === undefined) {
      this.report("manifestNotSigned", decl.path, { path, fingerprint });
      return false;
    }
    const verify = this.input.verify ?? verifyUnavailable;
    const verdict = verify(manifest.signed, fingerprint);
    if (!verdict.ok) {
      this.report("manifestSignature", decl.signedBy!, { path, detail: verdict.detail });
      return false;
    }
    return true;
  }

  // -------------------------------------------------------------------------------------------------------
  // Statements

  private requireBlock(block: RequireBlock): CheckedRequirement[] {
    return block.requirements.map((r: Requirement) => {
      this.condition(r.condition, { tools: undefined });
      return { id: this.id(r.span), dimension: block.dimension, condition: r.condition, text: this.text(r.condition.span) };
    });
  }

  private callRule(rule: CallRule): CheckedRule {
    const targeted = this.target(rule.target);
    const scope: Scope = { tools: targeted.tools, incomplete: targeted.incomplete };
    if (rule.when !== undefined) this.condition(rule.when, scope);
    if (rule.unless !== undefined) this.condition(rule.unless, scope);
    return {
      id: this.id(rule.span),
      effect: rule.effect,
      tools: targeted.names,
      when: rule.when,
      unless: rule.unless,
      because: rule.because?.value,
      whenText: rule.when === undefined ? undefined : this.text(rule.when.span),
      unlessText: rule.unless === undefined ? undefined : this.text(rule.unless.span),
    };
  }

  private limitRule(rule: LimitRule): CheckedLimit {
    const targeted = this.target(rule.target);
    const count = rule.count;
    if (count.kind === "NumberLiteral" && (!count.integer || count.value < 1 || !Number.isSafeInteger(count.value))) {
      this.report("badLimitCount", count, { count: count.text });
    }
    this.duration(rule.window);
    return { id: this.id(rule.span), tools: targeted.names, count: count.value, windowMs: rule.window.ms, scope: rule.scope };
  }

  private id(span: Span): string {
    return `${this.input.baseName}:${span.line}`;
  }

  /** Resolves a rule target: its tool names as written (or `*`) and the manifest tools they name. */
  private target(target: ToolTarget): { names: readonly string[] | "*"; tools: readonly ManifestTool[]; incomplete: boolean } {
    if (target.kind === "AnyTool") return { names: "*", tools: [...this.tools.values()].map((e) => e.tool), incomplete: false };
    const names: string[] = [];
    const tools: ManifestTool[] = [];
    for (const t of target.tools) {
      if (names.includes(t.name)) {
        this.report("duplicateTarget", t, { tool: t.name });
        continue;
      }
      names.push(t.name);
      const found = this.resolveTool(t.name, t);
      if (found !== undefined) tools.push(found);
    }
    return { names, tools, incomplete: tools.length < names.length };
  }

  private resolveTool(name: string, at: { readonly span: Span }): ManifestTool | undefined {
    const entry = this.tools.get(name);
    if (entry === undefined && !this.manifestFailed) {
      const help = this.tools.size === 0 ? "tools come from the policy's `manifest` statements, which define none" : didYouMean(name, this.tools.keys());
      this.report("unknownTool", at, { tool: name }, help);
    }
    return entry?.tool;
  }

  private duration(d: Expr): void {
    if (d.kind === "DurationLiteral" && (d.ms < MIN_DURATION_MS || d.ms > MAX_DURATION_MS)) this.report("durationRange", d, { duration: d.text });
  }

  private condition(e: Expr, scope: Scope): void {
    const t = this.expr(e, scope);
    if (t !== ERROR && t.kind !== "boolean") this.report("notBoolean", e, { expr: this.quote(e), type: typeName(t) });
    if (t.kind === "boolean") this.contradictions(e);
  }

  // -------------------------------------------------------------------------------------------------------
  // Expressions

  expr(e: Expr, scope: Scope): Type {
    const t = this.compute(e, scope);
    this.types.set(e, t);
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
        this.duration(e);
        return DURATION;
      case "RegexLiteral":
        // The lexer reads a regex only right after `matches`; should one appear elsewhere, its operator rejects it.
        return REGEX;
      case "ListLiteral":
        return this.list(e.elements, scope);
      case "Name":
        if (e.name === "*") this.report("unexpectedStar", e, {});
        else this.report("unexpectedName", e, { name: e.name }, this.nameHelp(e.name, scope));
        return ERROR;
      case "Path":
        return this.path(e, scope);
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
      case "Missing":
        return ERROR;
    }
  }

  private nameHelp(name: string, scope: Scope): string | undefined {
    const fields = scope.tools?.[0]?.args.fields;
    if (fields?.has(name)) return `did you mean \`args.${name}\`?`;
    if (this.tools.has(name)) return `to test the tool being called, write \`tool.name == "${name}"\``;
    return undefined;
  }

  private expect(t: Type, kinds: readonly Type["kind"][], op: string, operand: Expr, expected: string): boolean {
    if (t === ERROR || kinds.includes(t.kind)) return true;
    this.report("badOperand", operand, { op, type: typeName(t), expr: this.quote(operand), expected });
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
        this.report("mixedList", el, { expr: this.quote(el), type: typeName(t), first: typeName(first) });
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
        return ok && l !== ERROR && r !== ERROR ? BOOLEAN : ERROR;
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
        this.report("badOperand", x, { op, type: typeName(xt), expr: this.quote(x), expected: "values" });
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
    this.report("typeMismatch", b, { left: this.quote(a), leftType: typeName(at), right: this.quote(b), rightType: typeName(bt) });
    return false;
  }

  /** Warns when a string literal is compared with an enum-typed value whose enum does not list it. */
  private enumMembership(valued: Expr, t: Type, other: Expr): void {
    if (t.kind !== "string" || t.enum === undefined) return;
    const literal = unwrap(other);
    if (literal.kind !== "StringLiteral" || t.enum.includes(literal.value)) return;
    const values = t.enum.map((v) => `\`${v}\``).join(", ");
    this.report("notInEnum", literal, { value: literal.value, path: this.quote(valued), values }, didYouMean(literal.value, t.enum));
  }

  private algorithmLiteral(literal: StringLiteral, family: AlgorithmFamily, against: Expr): boolean {
    this.types.set(literal, algorithm(family));
    const facts = algorithmFacts(literal.value);
    if (facts === undefined) {
      this.report("unknownAlgorithm", literal, { family, name: literal.value }, didYouMean(literal.value, algorithmNames(family)));
      return false;
    }
    if (facts.family !== family) {
      this.report("algorithmFamily", literal, { name: literal.value, actual: facts.family, path: this.quote(against), expected: family });
      return false;
    }
    return true;
  }

  private timestampOperands(a: Expr, at: Type, b: Expr, bt: Type): boolean {
    if (at.kind === "timestamp" && bt.kind === "timestamp") return true;
    const other = at.kind === "timestamp" ? b : a;
    const literal = unwrap(other);
    if (literal.kind !== "StringLiteral") return this.mismatch(a, at, b, bt);
    this.types.set(literal, TIMESTAMP);
    if (!isIsoTimestamp(literal.value)) {
      this.report("badTimestamp", literal, { text: literal.value });
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
      this.types.set(right, listType);
      if (right !== e.right) this.recordParens(e.right, listType);
      return ok ? BOOLEAN : ERROR;
    }
    const r = this.expr(e.right, scope);
    if (l === ERROR || r === ERROR) return ERROR;
    if (r.kind !== "list") {
      if (r.kind === "unknown") return BOOLEAN;
      this.report("badOperand", e.right, { op: e.op, type: typeName(r), expr: this.quote(e.right), expected: "a list on its right" });
      return ERROR;
    }
    return this.elementOf(e.op, e.left, l, e.right, r.element) ? BOOLEAN : ERROR;
  }

  private recordParens(e: Expr, t: Type): void {
    let inner = e;
    while (inner.kind === "Paren") {
      this.types.set(inner, t);
      inner = inner.inner;
    }
  }

  /** `x in list` and `list contains x` where the list is not a literal: the element types must agree. */
  private elementOf(op: string, value: Expr, vt: Type, list: Expr, element: Type): boolean {
    if (vt.kind === "unknown" || element.kind === "unknown" || element.kind === "object" || vt.kind === "object") return true;
    if (vt.kind === "string" && element.kind === "string") {
      if (element.enum !== undefined) this.enumMembership(list, element, value);
      return true;
    }
    if (sameType(vt, element)) return true;
    this.report("badOperand", value, { op, type: typeName(vt), expr: this.quote(value), expected: `${typeName(element).replace(/^an? /, "")} to match the elements of \`${this.quote(list)}\`` });
    return false;
  }

  private matches(e: Binary, scope: Scope): Type {
    const l = this.expr(e.left, scope);
    const right = unwrap(e.right);
    let ok = this.expect(l, ["string"], "matches", e.left, "a string");
    if (right.kind === "RegexLiteral") {
      this.types.set(right, REGEX);
      this.recordParens(e.right, REGEX);
      try {
        new RegExp(right.pattern, right.flags);
        ok = this.backtracking(right) && ok;
      } catch (error) {
        const detail = error instanceof SyntaxError ? error.message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, "") : "does not compile";
        this.report("badRegex", right, { regex: `/${right.pattern}/${right.flags}`, detail: detail.toLowerCase() });
        ok = false;
      }
    } else {
      const r = this.expr(e.right, scope);
      if (r !== ERROR) this.report("badOperand", e.right, { op: "matches", type: typeName(r), expr: this.quote(e.right), expected: "a regular expression literal such as `/^[a-z]+$/`" });
      ok = false;
    }
    return ok && l !== ERROR ? BOOLEAN : ERROR;
  }

  /**
   * A regex that can backtrack catastrophically lets whoever controls the string block the guard's thread: an error.
   * One the analyser cannot decide is only a warning; `matches` still reads at most MATCH_INPUT_LIMIT characters.
   */
  private backtracking(regex: RegexLiteral): boolean {
    const shown = `/${regex.pattern}/${regex.flags}`;
    const verdict = backtrackingVerdict(regex.pattern, regex.flags);
    if (verdict.status === "vulnerable") {
      this.report("regexBacktracking", regex, { regex: shown, complexity: verdict.complexity, attack: verdict.attack });
      return false;
    }
    if (verdict.status === "unknown") {
      this.report("regexNotProvenSafe", regex, { regex: shown, detail: verdict.reason }, `at run time \`matches\` reads at most ${MATCH_INPUT_LIMIT} characters`);
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
    this.report("badOperand", e.left, { op: "contains", type: typeName(l), expr: this.quote(e.left), expected: "a list or a string" });
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
      this.report("unknownFunction", e.calleeSpan, { name: e.callee }, didYouMean(e.callee, FUNCTIONS));
      for (const a of e.args) if (a.kind !== "Name") this.expr(a, scope);
      return ERROR;
    }
    const arity = name === "calls" ? 2 : 1;
    if (e.args.length !== arity) {
      this.report("wrongArity", e, { name, expected: arity === 1 ? "1 argument" : `${arity} arguments`, actual: String(e.args.length) });
      return ERROR;
    }
    const [first, second] = e.args as [Expr, Expr | undefined];
    switch (name) {
      case "calls": {
        const tool = this.toolRef(first, name, scope);
        const window = this.expr(second!, scope);
        const ok = this.argument(window, ["duration"], 2, name, second!, "a duration") && this.constantWindow(second!);
        return tool && ok ? NUMBER : ERROR;
      }
      case "called":
        return this.toolRef(first, name, scope) ? BOOLEAN : ERROR;
      case "len": {
        const t = this.expr(first, scope);
        return this.argument(t, ["string", "list"], 1, name, first, "a string or a list") ? NUMBER : ERROR;
      }
      case "lower":
      case "upper": {
        const t = this.expr(first, scope);
        return this.argument(t, ["string"], 1, name, first, "a string") ? STRING : ERROR;
      }
    }
  }

  /**
   * A window computed from duration literals alone (`-10m`, `10m - 10m`) must lie in range as a literal must: one of
   * zero or less counts no call, so a `forbid` on it could never apply.
   */
  private constantWindow(window: Expr): boolean {
    if (unwrap(window).kind === "DurationLiteral") return true;
    const ms = constantDuration(window);
    if (ms === undefined || (ms >= MIN_DURATION_MS && ms <= MAX_DURATION_MS)) return true;
    this.report("durationRange", window, { duration: this.quote(window) });
    return false;
  }

  private argument(t: Type, kinds: readonly Type["kind"][], position: number, name: string, arg: Expr, expected: string): boolean {
    if (t === ERROR) return false;
    if (kinds.includes(t.kind)) return true;
    this.report("badArgument", arg, { position, name, expected, expr: this.quote(arg), type: typeName(t) });
    return false;
  }

  /** The tool argument of `calls()`/`called()`: `*`, a bare tool name or a string naming a tool. */
  private toolRef(arg: Expr, fn: string, scope: Scope): boolean {
    this.types.set(arg, TOOL);
    if (arg.kind === "Name") return arg.name === "*" || this.resolveTool(arg.name, arg) !== undefined;
    if (arg.kind === "StringLiteral") return this.resolveTool(arg.value, arg) !== undefined;
    this.types.delete(arg);
    const t = this.expr(arg, scope);
    if (t !== ERROR) this.report("badArgument", arg, { position: 1, name: fn, expected: "a tool name or `*`", expr: this.quote(arg), type: typeName(t) });
    return false;
  }

  private has(e: Has, scope: Scope): Type {
    const p = e.path;
    const claims = p.root === "client" && p.segments.length === 2 && p.segments[0]!.kind === "Field" && p.segments[0]!.name === "claims";
    if (!(p.root === "args" && p.segments.length > 0) && !claims) {
      this.report("badHas", p, { path: this.quote(p) });
      return ERROR;
    }
    return this.expr(p, scope) === ERROR ? ERROR : BOOLEAN;
  }

  // -------------------------------------------------------------------------------------------------------
  // Paths

  private path(p: Path, scope: Scope): Type {
    if (p.root === "args") return this.argsPath(p, scope);
    if (p.root === "tool" && scope.tools === undefined) {
      this.report("noToolContext", p, { path: this.quote(p) });
      return ERROR;
    }
    return this.factPath(p);
  }

  private factPath(p: Path): Type {
    if (p.root === "client" && p.segments[0]?.kind === "Field" && p.segments[0].name === "claims") {
      // Claims are whatever the client's certificate carries: a value of unknown type, whatever its depth.
      return p.segments.length === 1 ? OBJECT : UNKNOWN;
    }
    let key: string = p.root;
    for (const [i, seg] of p.segments.entries()) {
      const current = FACTS.get(key);
      if (current !== undefined) {
        const upTo = this.text({ ...p.span, end: p.segments[i - 1]?.span.end ?? p.rootSpan.end });
        if (seg.kind === "Index") this.report("notIndexable", seg, { path: upTo, type: typeName(current) });
        else this.report("noFields", seg, { path: upTo, type: typeName(current) });
        return ERROR;
      }
      if (seg.kind === "Index") break;
      key = `${key}.${seg.name}`;
    }
    const t = FACTS.get(key);
    if (t !== undefined && p.segments.every((s) => s.kind === "Field")) return t;
    const candidates = [...FACTS.keys(), "client.claims"].filter((k) => k.startsWith(`${p.root}.`));
    const help = p.segments.length === 0 ? `name a fact, as in \`${candidates[0]}\`` : didYouMean(key, candidates);
    this.report("unknownPath", p, { path: this.quote(p) }, help);
    return ERROR;
  }

  /** Types `args...` against every targeted tool: a step must exist, with one type, in all of them. */
  private argsPath(p: Path, scope: Scope): Type {
    if (scope.tools === undefined) {
      this.report("noToolContext", p, { path: this.quote(p) });
      return ERROR;
    }
    if (scope.incomplete === true) return ERROR;
    if (p.segments.length === 0) {
      this.report("unknownPath", p, { path: "args" }, "name an argument, as in `args.amount`");
      return ERROR;
    }
    if (scope.tools.length === 0) {
      const first = p.segments[0]!;
      this.report("unknownField", first, { field: first.kind === "Field" ? first.name : String(first.index), path: this.text({ ...p.span, end: first.span.end }) });
      return ERROR;
    }
    let shapes: (ArgShape | undefined)[] = scope.tools.map((t) => t.args);
    const names = scope.tools.map((t) => t.name);
    for (const [i, seg] of p.segments.entries()) {
      const upTo = this.text({ ...p.span, end: p.segments[i - 1]?.span.end ?? p.rootSpan.end });
      const here = this.text({ ...p.span, end: seg.span.end });
      const next: (ArgShape | undefined)[] = [];
      for (const shape of shapes) {
        if (shape === undefined) {
          next.push(undefined);
          continue;
        }
        const t = shape.type;
        if (t.kind === "unknown") next.push({ type: UNKNOWN });
        else if (seg.kind === "Field") {
          if (t.kind !== "object") {
            this.report("noFields", seg, { path: upTo, type: typeName(t) });
            return ERROR;
          }
          next.push(shape.fields === undefined ? { type: UNKNOWN } : shape.fields.get(seg.name)?.shape);
        } else {
          if (t.kind !== "list") {
            this.report("notIndexable", seg, { path: upTo, type: typeName(t) });
            return ERROR;
          }
          next.push(shape.element ?? { type: UNKNOWN });
        }
      }
      const missing = next.flatMap((s, k) => (s === undefined ? [names[k]!] : []));
      if (missing.length > 0) {
        const name = seg.kind === "Field" ? seg.name : String(seg.index);
        if (missing.length === next.length) {
          const known = new Set(shapes.flatMap((s) => [...(s?.fields?.keys() ?? [])]));
          this.report("unknownField", seg, { field: name, path: here }, didYouMean(name, known));
        } else {
          const shown = missing.slice(0, 3).map((m) => `\`${m}\``).join(", ") + (missing.length > 3 ? ` and ${missing.length - 3} more` : "");
          this.report("fieldNotCommon", seg, { path: here, detail: `${shown} ${missing.length === 1 ? "has" : "have"} no such argument` });
        }
        return ERROR;
      }
      shapes = next;
    }
    return this.commonType(p, shapes as ArgShape[], names);
  }

  private commonType(p: Path, shapes: readonly ArgShape[], names: readonly string[]): Type {
    if (shapes.length === 0) return UNKNOWN;
    const first = shapes[0]!.type;
    for (const [k, s] of shapes.entries()) {
      if (!sameType(first, s.type)) {
        this.report("fieldNotCommon", p, {
          path: this.quote(p),
          detail: `it is ${typeName(first)} in \`${names[0]}\` but ${typeName(s.type)} in \`${names[k]}\``,
        });
        return ERROR;
      }
    }
    if (first.kind !== "string") return first;
    // Enums of several tools merge; a plain string anywhere makes the whole a plain string.
    const enums = shapes.map((s) => (s.type.kind === "string" ? s.type.enum : undefined));
    if (enums.some((e) => e === undefined)) return STRING;
    return { kind: "string", enum: [...new Set(enums.flatMap((e) => e!))] };
  }

  // -------------------------------------------------------------------------------------------------------
  // Warnings: rules that can never apply

  private shadowWarnings(rules: readonly CallRule[]): void {
    const unconditional = rules.filter((r) => r.effect === "forbid" && r.when === undefined && r.unless === undefined);
    if (unconditional.length === 0) return;
    for (const rule of rules) {
      if (rule.effect === "forbid") continue;
      const covering = unconditional.find((f) => covers(f.target, rule.target));
      if (covering === undefined) continue;
      const tools = rule.target.kind === "AnyTool" ? "every tool" : rule.target.tools.map((t) => `\`${t.name}\``).join(", ");
      this.report("shadowedRule", rule, { target: this.text(covering.target.span), line: covering.span.line, tools });
    }
  }

  /** Flags the first pair of top-level conjuncts that contradict each other on their face. */
  private contradictions(e: Expr): void {
    const facts: { key: string; fact: Fact; node: Expr }[] = [];
    for (const c of conjuncts(e)) {
      const f = comparisonFact(c, (x) => this.text(x.span).replace(/\s+/g, ""));
      if (f === undefined) continue;
      const clash = facts.find((other) => other.key === f.key && contradicts(other.fact, f.fact));
      if (clash !== undefined) {
        this.report("contradiction", c, { first: this.quote(clash.node), second: this.quote(c) });
        return;
      }
      facts.push({ key: f.key, fact: f.fact, node: c });
    }
  }
}

/** The milliseconds of an expression made of in-range duration literals, `+`, `-` and parentheses; else undefined. */
function constantDuration(e: Expr): number | undefined {
  const x = unwrap(e);
  if (x.kind === "DurationLiteral") return x.ms >= MIN_DURATION_MS && x.ms <= MAX_DURATION_MS ? x.ms : undefined;
  if (x.kind === "Unary" && x.op === "-") {
    const v = constantDuration(x.operand);
    return v === undefined ? undefined : -v;
  }
  if (x.kind === "Binary" && (x.op === "+" || x.op === "-")) {
    const l = constantDuration(x.left);
    const r = constantDuration(x.right);
    if (l === undefined || r === undefined) return undefined;
    return x.op === "+" ? l + r : l - r;
  }
  return undefined;
}

function covers(forbid: ToolTarget, rule: ToolTarget): boolean {
  if (forbid.kind === "AnyTool") return true;
  if (rule.kind === "AnyTool") return false;
  const names = new Set(forbid.tools.map((t) => t.name));
  return rule.tools.every((t) => names.has(t.name));
}

function conjuncts(e: Expr): Expr[] {
  const inner = unwrap(e);
  if (inner.kind === "Binary" && inner.op === "and") return [...conjuncts(inner.left), ...conjuncts(inner.right)];
  return [inner];
}

type Literal = number | string | boolean;
type Fact = { readonly op: "==" | "!=" | "<" | "<=" | ">" | ">="; readonly value: Literal };

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
function comparisonFact(e: Expr, key: (p: Path) => string): { key: string; fact: Fact } | undefined {
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

function satisfies(value: Literal, fact: Fact): boolean {
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

function contradicts(a: Fact, b: Fact): boolean {
  if (a.op === "==") return !satisfies(a.value, b);
  if (b.op === "==") return !satisfies(b.value, a);
  if (typeof a.value !== "number" || typeof b.value !== "number") return false;
  const lower = (f: Fact) => f.op === ">" || f.op === ">=";
  const upper = (f: Fact) => f.op === "<" || f.op === "<=";
  const [lo, hi] = lower(a) && upper(b) ? [a, b] : lower(b) && upper(a) ? [b, a] : [undefined, undefined];
  if (lo === undefined || hi === undefined) return false;
  const l = lo.value as number;
  const h = hi.value as number;
  return l > h || (l === h && (lo.op === ">" || hi.op === "<"));
}

function verifyUnavailable(): { ok: false; detail: string } {
  return { ok: false, detail: "no signature verifier is available" };
}

/** SHA3-256 of the policy text as UTF-8 with LF newlines, so a checkout with CRLF digests the same. */
export function policyDigest(source: string): string {
  return createHash("sha3-256").update(source.replace(/\r\n?/g, "\n"), "utf8").digest("hex");
}

export function checkPolicy(input: CheckInput): CheckResult {
  return new Checker(input).run();
}
