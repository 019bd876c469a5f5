// Checking of result rules (`refuse`, `redact /re/ in`, `mark result of`): their clauses, and the typing of `result.*`
// paths: `result.text` and `result.isError` on every result, `result.structured.*` by the targeted tools' outputSchema.
import type { Expr, Path, ResultRule } from "../../grammar/ast.js";
import type { CheckedResultRule } from "../ir.js";
import { schemaShape, type ManifestTool } from "../manifests.js";
import type { CheckContext, Scope } from "./context.js";
import type { Declarations } from "./declarations.js";
import type { ExpressionTyper } from "./expressions.js";
import { argsPath } from "./paths.js";
import { BOOLEAN, ERROR, STRING } from "./types.js";
import type { Type } from "../ir.js";

/** The replacement `redact` writes when the rule names none. */
export const DEFAULT_REDACTION = "[redacted]";

/** What a `seen` label may be: it is stored in the session's history, so it stays short and plain. */
const SEEN_LABEL = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The argument of `seen()`: a string literal that is a valid label. */
export function seenLabel(ctx: CheckContext, arg: Expr): boolean {
  if (arg.kind === "StringLiteral" && SEEN_LABEL.test(arg.value)) {
    ctx.types.set(arg, STRING);
    return true;
  }
  ctx.report("badSeenLabel", arg, { expr: ctx.quote(arg) });
  return false;
}

/** Checks one result rule and builds what the back ends read of it. */
export function checkResultRule(ctx: CheckContext, declarations: Declarations, typer: ExpressionTyper, rule: ResultRule): CheckedResultRule {
  const targeted = declarations.target(rule.target);
  const scope: Scope = { tools: targeted.tools, incomplete: targeted.incomplete, result: true };
  if (rule.when !== undefined) typer.condition(rule.when, scope);
  if (rule.unless !== undefined) typer.condition(rule.unless, scope);
  const bad = (detail: string, at: { readonly span: ResultRule["span"] }): void => ctx.report("badResultClause", at, { detail });
  if (rule.pattern !== undefined && typer.regexLiteral(rule.pattern) && new RegExp(rule.pattern.pattern, rule.pattern.flags).test("")) {
    bad(`pattern \`/${rule.pattern.pattern}/${rule.pattern.flags}\` matches the empty string, so it would redact between every character`, rule.pattern);
  }
  if (rule.action === "refuse" && rule.label !== undefined) bad("`refuse` takes no `as` clause; give its reason with `because`", rule.label);
  if (rule.action === "mark" && rule.label === undefined) bad('`mark` needs a label: `as "untrusted"` or `as seen "private-key"`', rule);
  if (rule.seen !== undefined) {
    if (rule.seen.word !== "seen") bad(`expected \`seen\` or a string after \`as\`, found \`${rule.seen.word}\``, rule.seen);
    else if (rule.action !== "mark") bad("only `mark` records a label as seen", rule.seen);
  }
  if (rule.label !== undefined && (rule.action === "mark" || rule.seen !== undefined) && !SEEN_LABEL.test(rule.label.value)) {
    bad(`label \`${rule.label.value}\` must be 1 to 64 letters, digits, \`-\`, \`_\` or \`.\``, rule.label);
  }
  return {
    id: ctx.id(rule.span),
    action: rule.action,
    tools: targeted.names,
    pattern: rule.pattern === undefined ? undefined : { source: rule.pattern.pattern, flags: rule.pattern.flags },
    when: rule.when,
    unless: rule.unless,
    label: rule.label?.value ?? (rule.action === "redact" ? DEFAULT_REDACTION : undefined),
    seen: rule.seen?.word === "seen",
    because: rule.because?.value,
    whenText: rule.when === undefined ? undefined : ctx.text(rule.when.span),
    unlessText: rule.unless === undefined ? undefined : ctx.text(rule.unless.span),
  };
}

/** The type of a `result` path: `result.text`, `result.isError`, or `result.structured...` by the outputSchemas. */
export function resultPath(ctx: CheckContext, p: Path, scope: Scope): Type {
  if (scope.result !== true) {
    ctx.report("resultOutsideResultRule", p, { path: ctx.quote(p) });
    return ERROR;
  }
  const [first, ...rest] = p.segments;
  const name = first?.kind === "Field" ? first.name : undefined;
  if ((name === "text" || name === "isError") && rest.length === 0) return name === "text" ? STRING : BOOLEAN;
  if (name !== "structured" || first === undefined) {
    ctx.report("unknownPath", p, { path: ctx.quote(p) }, "a result has `result.text`, `result.isError` and `result.structured.*`");
    return ERROR;
  }
  if (scope.incomplete === true || scope.tools === undefined) return ERROR;
  const tools: ManifestTool[] = [];
  for (const tool of scope.tools) {
    const schema = tool.definition["outputSchema"];
    if (typeof schema !== "object" || schema === null || Array.isArray(schema)) {
      ctx.report("noOutputSchema", p, { path: ctx.quote(p), tool: tool.name });
      return ERROR;
    }
    const root = schema as Record<string, unknown>;
    tools.push({ ...tool, args: schemaShape(root, root, 0) });
  }
  if (rest.length === 0) return { kind: "object" };
  // `result.structured` is then typed as the arguments are: a step must exist, with one type, in every targeted tool.
  const below: Path = { ...p, root: "args", rootSpan: first.span, segments: rest };
  return argsPath(ctx, below, { tools });
}
