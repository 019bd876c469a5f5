// The policy checker: resolves tools against the manifests and `args.*` paths against their schemas, types every
// expression, validates literals, warns about rules that can never apply, and builds the CheckedPolicy. The work is
// split by concern: declarations.ts (header, manifests, time zone, statements), expressions.ts and paths.ts (typing),
// lints.ts (warnings), with literals.ts and types.ts beneath them and context.ts holding what they share.
import { createHash } from "node:crypto";
import type { CallRule, RequireBlock } from "../../grammar/ast.js";
import type { CheckedLimit, CheckedPolicy, CheckedRequirement, CheckedResultRule, CheckedRule, ToolInfo } from "../ir.js";
import { CheckContext, type CheckInput, type CheckResult } from "./context.js";
import { Declarations } from "./declarations.js";
import { ExpressionTyper } from "./expressions.js";
import { annotationDefaults, identityOnPlainSession, shadowedRules } from "./lints.js";
import { checkResultRule } from "./results.js";

export type { CheckInput, CheckResult, ManifestSource, ManifestVerifier } from "./context.js";

export function checkPolicy(input: CheckInput): CheckResult {
  const ctx = new CheckContext(input);
  const typer = new ExpressionTyper(ctx);
  const declarations = new Declarations(ctx, typer);
  const { ast } = input;
  declarations.checkDeclarations(ast);
  const requirements: CheckedRequirement[] = [];
  const rules: CheckedRule[] = [];
  const limits: CheckedLimit[] = [];
  const resultRules: CheckedResultRule[] = [];
  for (const s of ast.statements) {
    if (s.kind === "RequireBlock") requirements.push(...declarations.requireBlock(s));
    else if (s.kind === "CallRule") rules.push(declarations.callRule(s));
    else if (s.kind === "LimitRule") limits.push(declarations.limitRule(s));
    else if (s.kind === "ResultRule") resultRules.push(checkResultRule(ctx, declarations, typer, s));
  }
  const callRules = ast.statements.filter((s): s is CallRule => s.kind === "CallRule");
  shadowedRules(ctx, callRules);
  const identity = ast.statements.filter((s): s is RequireBlock => s.kind === "RequireBlock").flatMap((b) => b.requirements);
  identityOnPlainSession(ctx, identity, callRules);
  annotationDefaults(ctx, callRules);
  const failed = ctx.diagnostics.some((d) => d.severity === "error") || ast.header === undefined;
  if (failed) return { policy: undefined, diagnostics: ctx.diagnostics };
  const tools: ToolInfo[] = [...ctx.tools.values()]
    .map(({ tool, manifest }) => ({ name: tool.name, definition: tool.definition, digest: tool.digest, annotations: tool.annotations, manifest }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const policy: CheckedPolicy = {
    name: ast.header!.name.name,
    version: ast.header!.version?.value,
    fileName: input.baseName,
    timezone: declarations.timezone,
    digest: policyDigest(input.source),
    ast,
    source: input.source,
    tools,
    requirements,
    rules,
    limits,
    resultRules,
    types: ctx.types,
  };
  return { policy, diagnostics: ctx.diagnostics };
}

/** SHA3-256 of the policy text as UTF-8 with LF newlines, so a checkout with CRLF digests the same. */
export function policyDigest(source: string): string {
  return createHash("sha3-256").update(source.replace(/\r\n?/g, "\n"), "utf8").digest("hex");
}
