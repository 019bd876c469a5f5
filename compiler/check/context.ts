// What every part of the checker shares while checking one policy: its input, the diagnostics reported so far, the
// type of every expression, the manifest tools by name, and the helpers that quote source text in messages.
import type { Expr, PolicyFile, Span } from "../../grammar/ast.js";
import { diagnostic, didYouMean, type CheckDiagnosticKind, type Diagnostic, type DiagnosticParams } from "../diagnostics.js";
import type { CheckedPolicy, Type } from "../ir.js";
import type { ArgShape, ManifestTool } from "../manifests.js";
import { MAX_DURATION_MS, MIN_DURATION_MS } from "./literals.js";

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

/** Expression text for messages: as written, comments dropped, whitespace collapsed, cut when long. */
const MAX_QUOTED_EXPR = 60;

/** Where an expression is checked. */
export interface Scope {
  /** The tools a call rule targets; undefined inside a requirement, where there is no call. */
  readonly tools: readonly ManifestTool[] | undefined;
  /** A targeted tool is unknown (already reported): `args` paths cannot be checked and stay silent. */
  readonly incomplete?: boolean;
  /** Inside a result rule, where `result.*` reads what the tool sent back. */
  readonly result?: true;
  /** The variables of the quantifiers around the expression. */
  readonly bound?: ReadonlyMap<string, Binding>;
}

/** What a quantifier's variable stands for: an element of its list, typed by the list's item schema where there is one. */
export interface Binding {
  readonly type: Type;
  /** The item schemas, one per targeted tool, when the list is an `args` path; steps into the variable follow them. */
  readonly shapes: readonly ArgShape[] | undefined;
}

export interface ToolEntry {
  readonly tool: ManifestTool;
  readonly manifest: string;
}

export class CheckContext {
  readonly diagnostics: Diagnostic[] = [];
  readonly types = new Map<Expr, Type>();
  /** Manifest tools by name; the declarations fill it before any rule is checked. */
  readonly tools = new Map<string, ToolEntry>();
  /** A manifest could not be used (already reported): unknown tool names are then expected and not reported again. */
  manifestFailed = false;

  constructor(readonly input: CheckInput) {}

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

  /** The id of the statement at a span: `payments.policy:18`. */
  id(span: Span): string {
    return `${this.input.baseName}:${span.line}`;
  }

  /** The manifest tool of a name, reporting an unknown one (unless a manifest already failed). */
  resolveTool(name: string, at: { readonly span: Span }): ManifestTool | undefined {
    const entry = this.tools.get(name);
    if (entry === undefined && !this.manifestFailed) {
      const help = this.tools.size === 0 ? "tools come from the policy's `manifest` statements, which define none" : didYouMean(name, this.tools.keys());
      this.report("unknownTool", at, { tool: name }, help);
    }
    return entry?.tool;
  }

  /** Reports a literal the guard could not build (PQG76xx), with the LiteralError's own code and sentence. */
  literalError(code: string, message: string, at: { readonly span: Span }): void {
    this.diagnostics.push({ code, severity: "error", message, file: this.input.file, span: at.span });
  }

  /** Reports a duration literal outside the range a policy may write. */
  duration(d: Expr): void {
    if (d.kind === "DurationLiteral" && (d.ms < MIN_DURATION_MS || d.ms > MAX_DURATION_MS)) this.report("durationRange", d, { duration: d.text });
  }
}
