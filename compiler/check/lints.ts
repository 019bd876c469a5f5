// Lints: warnings about rules that can never apply as written (an unconditional forbid covers them, two conjuncts
// contradict each other on their face) or that mean something their author may not see (a spec default, a plain
// session, a prefix test on a path or URL).
import type { CallRule, Expr, Path, Requirement, ToolTarget } from "../../grammar/ast.js";
import { conjuncts } from "../analysis.js";
import { readUrl } from "../../runtime/guard/urls.js";
import { ANNOTATION_DEFAULTS } from "../facts.js";
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

/** Argument names that hold a path or a URL, by the conventions MCP servers follow (`path`, `source_dir`, `url`). */
const PATH_NAME = /(^|_|[a-z])(path|paths|dir|directory|file|filename|folder|root|destination|source)$/i;
const URL_NAME = /(^|_|[a-z])(url|uri|href|endpoint|link)$/i;

/**
 * Warns about `X startsWith "..."` where X is a path or a URL: `"/srv/docs"` is also a prefix of `/srv/docs-evil` and
 * `/srv/docs/../etc`, and `"https://example.org"` of `https://example.org.evil.com/`. What the value is comes from the
 * literal (a leading `/`, a `scheme://`) or, failing that, from the argument's name.
 */
export function prefixOnPathOrUrl(ctx: CheckContext, e: Expr & { kind: "Binary" }): void {
  const prefix = unwrap(e.right);
  if (prefix.kind !== "StringLiteral") return;
  const subject = unwrap(e.left);
  const last = subject.kind === "Path" || subject.kind === "Variable" ? subject.segments[subject.segments.length - 1] : undefined;
  const name = last?.kind === "Field" ? last.name : subject.kind === "Variable" ? subject.name : "";
  const isUrl = /^[a-z][a-z0-9+.-]*:\/\//i.test(prefix.value) || (URL_NAME.test(name) && !prefix.value.startsWith("/"));
  const isPath = !isUrl && (/^(\/|[A-Za-z]:[\\/]|\\\\)/.test(prefix.value) || PATH_NAME.test(name));
  if (!isUrl && !isPath) return;
  const left = ctx.quote(e.left);
  const reading = isUrl ? readUrl(prefix.value) : undefined;
  const domain = reading?.ok === true && reading.url.host !== "" ? reading.url.host : "…";
  const suggestion = isUrl ? `host(${left}) within ${JSON.stringify(domain)}` : `${left} under ${JSON.stringify(prefix.value.replace(/(.)[\\/]+$/, "$1"))}`;
  ctx.report("prefixOnPathOrUrl", e, { expr: ctx.quote(e), what: isUrl ? "a URL" : "a path", suggestion });
}

/** Every expression inside `e`, `e` included, in source order. */
function* subexpressions(e: Expr): Generator<Expr> {
  yield e;
  switch (e.kind) {
    case "ListLiteral":
      for (const x of e.elements) yield* subexpressions(x);
      return;
    case "Unary":
      yield* subexpressions(e.operand);
      return;
    case "Binary":
      yield* subexpressions(e.left);
      yield* subexpressions(e.right);
      return;
    case "Call":
      for (const x of e.args) yield* subexpressions(x);
      return;
    case "Has":
      yield* subexpressions(e.path);
      return;
    case "Paren":
      yield* subexpressions(e.inner);
      return;
    case "Quantifier":
      yield* subexpressions(e.list);
      yield* subexpressions(e.body);
      return;
    default:
      return;
  }
}

function rulePaths(rule: CallRule): Path[] {
  const out: Path[] = [];
  for (const condition of [rule.when, rule.unless]) {
    if (condition === undefined) continue;
    for (const x of subexpressions(condition)) if (x.kind === "Path") out.push(x);
  }
  return out;
}

/** The identity facts a plain (unauthenticated) session never has; `client.authenticated` it always has. */
const IDENTITY_FIELDS: ReadonlySet<string> = new Set(["id", "role", "fingerprint", "claims"]);

function readsClient(e: Expr, fields: ReadonlySet<string> | undefined): Path | undefined {
  for (const x of subexpressions(e)) {
    if (x.kind !== "Path" || x.root !== "client") continue;
    const first = x.segments[0];
    if (fields === undefined || (first?.kind === "Field" && fields.has(first.name))) return x;
  }
  return undefined;
}

/**
 * Warns about a `forbid` that reads an identity fact (`client.role`, ...) when no requirement keeps plain sessions out:
 * on a plain session the fact cannot be read, so the forbid applies to every call, with a message about roles.
 */
export function identityOnPlainSession(ctx: CheckContext, requirements: readonly Requirement[], rules: readonly CallRule[]): void {
  if (requirements.some((r) => readsClient(r.condition, undefined) !== undefined)) return;
  for (const rule of rules) {
    if (rule.effect !== "forbid") continue;
    const path = [rule.when, rule.unless].flatMap((c) => (c === undefined ? [] : [readsClient(c, IDENTITY_FIELDS)])).find((p) => p !== undefined);
    if (path !== undefined) ctx.report("identityOnPlainSession", path, { path: ctx.quote(path) }, "require `client.authenticated` in an `identity` block, or test it in the rule");
  }
}

/**
 * Warns about a rule reading a tool annotation hint that a targeted tool does not state and that the MCP specification
 * then makes true (`destructiveHint`, `openWorldHint`): a server that says nothing has its read tools counted as
 * destructive. Hints whose default is false (`readOnlyHint`) read as "not stated", which is what an author expects.
 */
export function annotationDefaults(ctx: CheckContext, rules: readonly CallRule[]): void {
  for (const rule of rules) {
    const seen = new Set<string>();
    for (const path of rulePaths(rule)) {
      const [annotations, hint] = path.segments;
      if (path.root !== "tool" || annotations?.kind !== "Field" || annotations.name !== "annotations" || hint?.kind !== "Field") continue;
      if (ANNOTATION_DEFAULTS[hint.name] !== true || seen.has(hint.name)) continue;
      seen.add(hint.name);
      const names = rule.target.kind === "AnyTool" ? [...ctx.tools.keys()] : rule.target.tools.map((t) => t.name);
      const silent = names.filter((name) => {
        const tool = ctx.tools.get(name)?.tool;
        return tool !== undefined && tool.annotations[hint.name] === undefined;
      });
      if (silent.length === 0) continue;
      const tools = silent.slice(0, 3).map((t) => `\`${t}\``).join(", ") + (silent.length > 3 ? ` and ${silent.length - 3} more` : "");
      ctx.report("annotationDefault", path, { path: ctx.quote(path), value: String(ANNOTATION_DEFAULTS[hint.name]), tools });
    }
  }
}
