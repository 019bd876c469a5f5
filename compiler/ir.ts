// The checked policy: what the checker hands to the interpreter and the code generator once a policy has no errors.
// It keeps the AST expressions (both back ends walk them) and adds what checking proved: ids, resolved tools, types.
import type { Expr, LimitScope, PolicyFile, RequireDimension, ResultAction, RuleEffect } from "../grammar/ast.js";

/** The static type of an expression, as the checker proved it. */
export type Type =
  | { readonly kind: "number" }
  /** `format`: the schema's JSON Schema format of a string argument (`uri` makes `under` read a `file:` URI). */
  | { readonly kind: "string"; readonly enum?: readonly string[]; readonly format?: string }
  | { readonly kind: "boolean" }
  | { readonly kind: "duration" }
  | { readonly kind: "timestamp" }
  | { readonly kind: "regex" }
  /** A negotiated algorithm name; comparisons with `<`..`>=` order by NIST security category. */
  | { readonly kind: "algorithm"; readonly family: "kem" | "signature" | "aead" }
  /** A tool reference, the first argument of `calls()` and `called()`. */
  | { readonly kind: "tool" }
  /** Whose calls a history read folds: `session`, `client` or `all`, the last argument of `calls()` and `sum()`. */
  | { readonly kind: "scope" }
  | { readonly kind: "list"; readonly element: Type }
  /** What `ip(x)` gives: an IP address or a host name, for `in "CIDR"` and `in SET`. */
  | { readonly kind: "address" }
  /** A JSON object or a value the schema leaves open: only `has`, `==`, `!=` and further paths apply. */
  | { readonly kind: "object" }
  | { readonly kind: "unknown" };

/** One tool from a manifest, as the policy was checked and compiled against it. */
export interface ToolInfo {
  readonly name: string;
  /** The definition as found: name, description, inputSchema, outputSchema, annotations. */
  readonly definition: Readonly<Record<string, unknown>>;
  /** SHA3-256 (hex) of the canonical JSON of the definition; see runtime/manifest/digest.ts. */
  readonly digest: string;
  readonly annotations: Readonly<Record<string, unknown>>;
  /** The manifest file it came from, as written in the policy. */
  readonly manifest: string;
}

export interface CheckedRequirement {
  /** `payments.policy:7`: the policy file's base name and the requirement's line. */
  readonly id: string;
  readonly dimension: RequireDimension;
  readonly condition: Expr;
  /** The condition as written, for explanations: `client.role in ["billing-agent", "support-agent"]`. */
  readonly text: string;
}

export interface CheckedRule {
  readonly id: string;
  readonly effect: RuleEffect;
  /** Tool names in source order, or `"*"` for every tool. */
  readonly tools: readonly string[] | "*";
  readonly when: Expr | undefined;
  readonly unless: Expr | undefined;
  readonly because: string | undefined;
  /** Source text of `when` and `unless`, for explanations. */
  readonly whenText: string | undefined;
  readonly unlessText: string | undefined;
}

/** A rule on a tool's result: `refuse`, `redact /re/ in` or `mark result of TARGET`. */
export interface CheckedResultRule {
  readonly id: string;
  readonly action: ResultAction;
  readonly tools: readonly string[] | "*";
  /** The pattern `redact` replaces (its source and flags, without `g`); undefined for the other actions. */
  readonly pattern: { readonly source: string; readonly flags: string } | undefined;
  readonly when: Expr | undefined;
  readonly unless: Expr | undefined;
  /** `redact`: the replacement (default `[redacted]`); `mark`: the label. */
  readonly label: string | undefined;
  /** `mark ... as seen "label"`: the label is recorded in the session's history for `seen()`. */
  readonly seen: boolean;
  readonly because: string | undefined;
  readonly whenText: string | undefined;
  readonly unlessText: string | undefined;
}

export interface CheckedLimit {
  readonly id: string;
  readonly tools: readonly string[] | "*";
  readonly count: number;
  readonly windowMs: number;
  readonly scope: LimitScope;
}

/** What anyone may read of a checked policy (the public `CheckedPolicy` of `pqguard/compiler` shows only this). */
export interface PolicyOutline {
  readonly name: string;
  readonly version: number | undefined;
  /** Base name of the policy file, the prefix of every rule id (`payments.policy:18`). */
  readonly fileName: string;
  /** IANA zone in which `time.hour`, `time.minute` and `time.weekday` are read; `UTC` by default. */
  readonly timezone: string;
  /** SHA3-256 (hex) of the policy source, UTF-8 with LF newlines. */
  readonly digest: string;
  /** Every tool the manifests define, sorted by name. */
  readonly tools: readonly ToolInfo[];
}

export interface CheckedPolicy extends PolicyOutline {
  readonly ast: PolicyFile;
  /** The policy text; explanations quote conditions as written, sliced from it by span. */
  readonly source: string;
  readonly requirements: readonly CheckedRequirement[];
  /** Call rules in source order. */
  readonly rules: readonly CheckedRule[];
  readonly limits: readonly CheckedLimit[];
  /** Result rules in source order. */
  readonly resultRules: readonly CheckedResultRule[];
  /** The type of every expression node in requirements and rules. */
  readonly types: ReadonlyMap<Expr, Type>;
}
