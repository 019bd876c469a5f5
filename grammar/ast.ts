// The typed abstract syntax tree of a policy file: what the CST visitor builds and every later stage reads.
// Every node carries its source span. Parts the parser could not recover are `Missing` nodes, never undefined.

/** A half-open range of source text. Lines and columns are 1-based, offsets 0-based (UTF-16 code units). */
export interface Span {
  readonly start: number;
  readonly end: number;
  readonly line: number;
  readonly column: number;
  readonly endLine: number;
  readonly endColumn: number;
}

export interface NodeBase {
  readonly span: Span;
}

// ---------------------------------------------------------------------------------------------------------
// Statements

export interface PolicyFile extends NodeBase {
  readonly kind: "PolicyFile";
  /** The `policy NAME [version N]` header; undefined when the file lacks one (a syntax error was reported). */
  readonly header: PolicyHeader | undefined;
  /** Every statement after the header, in source order. */
  readonly statements: readonly Statement[];
  /** Comments in source order, kept so that `pqguard fmt` can put them back. */
  readonly comments: readonly Comment[];
}

export interface Comment extends NodeBase {
  readonly kind: "Comment";
  /** The comment's full text, `//` or `/* ... *\/` included. */
  readonly text: string;
}

export interface PolicyHeader extends NodeBase {
  readonly kind: "PolicyHeader";
  readonly name: Identifier;
  readonly version: NumberLiteral | undefined;
}

/** A name written in the source, such as the policy name after `policy`. */
export interface Identifier extends NodeBase {
  readonly kind: "Identifier";
  readonly name: string;
}

export type Statement = TimezoneDecl | ManifestDecl | RequireBlock | CallRule | LimitRule | ResultRule;

export interface TimezoneDecl extends NodeBase {
  readonly kind: "TimezoneDecl";
  readonly zone: StringLiteral;
}

export interface ManifestDecl extends NodeBase {
  readonly kind: "ManifestDecl";
  readonly path: StringLiteral;
  /** The `signed by "FINGERPRINT"` clause. */
  readonly signedBy: StringLiteral | undefined;
}

export type RequireDimension = "identity" | "transport";

export interface RequireBlock extends NodeBase {
  readonly kind: "RequireBlock";
  readonly dimension: RequireDimension;
  readonly requirements: readonly Requirement[];
}

export interface Requirement extends NodeBase {
  readonly kind: "Requirement";
  readonly condition: Expr;
}

export type RuleEffect = "permit" | "forbid" | "ask";

export interface CallRule extends NodeBase {
  readonly kind: "CallRule";
  readonly effect: RuleEffect;
  readonly target: ToolTarget;
  readonly when: Expr | undefined;
  readonly unless: Expr | undefined;
  readonly because: StringLiteral | undefined;
}

export type ResultAction = "refuse" | "redact" | "mark";

/** A rule on what a tool sends back: `refuse result of`, `redact /re/ in result of`, `mark result of`. */
export interface ResultRule extends NodeBase {
  readonly kind: "ResultRule";
  readonly action: ResultAction;
  /** The pattern of `redact`; undefined for the other actions. */
  readonly pattern: RegexLiteral | undefined;
  readonly target: ToolTarget;
  readonly when: Expr | undefined;
  readonly unless: Expr | undefined;
  /** After `as`: the replacement of `redact`, the label of `mark`. */
  readonly label: StringLiteral | undefined;
  /** The word between `as` and the label (`as seen "private-key"`), which must be `seen`. */
  readonly seen: { readonly word: string; readonly span: Span } | undefined;
  readonly because: StringLiteral | undefined;
}

/** `*` or a list of tool names. A name is written bare (`get_balance`) or quoted (`"read-file"`). */
export type ToolTarget = AnyTool | ToolList;

export interface AnyTool extends NodeBase {
  readonly kind: "AnyTool";
}

export interface ToolList extends NodeBase {
  readonly kind: "ToolList";
  readonly tools: readonly ToolName[];
}

export interface ToolName extends NodeBase {
  readonly kind: "ToolName";
  readonly name: string;
  readonly quoted: boolean;
}

/** Who a rate limit is counted for. `global` is the default: all callers share the budget. */
export type LimitScope = "global" | "client" | "session";

export interface LimitRule extends NodeBase {
  readonly kind: "LimitRule";
  readonly target: ToolTarget;
  readonly count: NumberLiteral;
  readonly window: DurationLiteral;
  readonly scope: LimitScope;
  /** Span of the `per client` / `per session` clause, when written. */
  readonly scopeSpan: Span | undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Expressions

export type Expr =
  | NumberLiteral
  | StringLiteral
  | BooleanLiteral
  | DurationLiteral
  | RegexLiteral
  | ListLiteral
  | Name
  | Path
  | Unary
  | Binary
  | Call
  | Has
  | Paren
  | Quantifier
  | Variable
  | Missing;

export interface NumberLiteral extends NodeBase {
  readonly kind: "NumberLiteral";
  readonly value: number;
  /** True when written without a decimal point. */
  readonly integer: boolean;
  readonly text: string;
}

export interface StringLiteral extends NodeBase {
  readonly kind: "StringLiteral";
  /** The decoded value, escapes resolved. */
  readonly value: string;
}

export interface BooleanLiteral extends NodeBase {
  readonly kind: "BooleanLiteral";
  readonly value: boolean;
}

export type DurationUnit = "ms" | "s" | "m" | "h" | "d";

export interface DurationLiteral extends NodeBase {
  readonly kind: "DurationLiteral";
  /** The duration in milliseconds. */
  readonly ms: number;
  readonly amount: number;
  readonly unit: DurationUnit;
  readonly text: string;
}

export interface RegexLiteral extends NodeBase {
  readonly kind: "RegexLiteral";
  readonly pattern: string;
  readonly flags: string;
}

export interface ListLiteral extends NodeBase {
  readonly kind: "ListLiteral";
  readonly elements: readonly Expr[];
}

/**
 * A bare identifier in expression position; meaningful only as a tool reference, as in `calls(refund, 1h)`, or, with
 * steps, as a tool's argument aggregated over history, the first argument of `sum(refund.amount, 1d)`.
 */
export interface Name extends NodeBase {
  readonly kind: "Name";
  readonly name: string;
  /** The steps after the tool's name (`.amount`), only ever present in the first argument of an aggregate. */
  readonly segments?: readonly PathSegment[];
}

export type PathRoot = "args" | "tool" | "client" | "peer" | "transport" | "session" | "time" | "result";

export const PATH_ROOTS: readonly PathRoot[] = ["args", "tool", "client", "peer", "transport", "session", "time", "result"];

/** One step of a path: `.field`, `["field"]` or `[0]`. */
export type PathSegment =
  | { readonly kind: "Field"; readonly name: string; readonly quoted: boolean; readonly span: Span }
  | { readonly kind: "Index"; readonly index: number; readonly span: Span };

/** `args.amount`, `client.claims["tenant"]`, `args.items[0].sku`. */
export interface Path extends NodeBase {
  readonly kind: "Path";
  readonly root: PathRoot;
  readonly rootSpan: Span;
  readonly segments: readonly PathSegment[];
}

export type UnaryOp = "not" | "-";

export interface Unary extends NodeBase {
  readonly kind: "Unary";
  readonly op: UnaryOp;
  readonly operand: Expr;
}

export type LogicalOp = "or" | "and";
export type ComparisonOp =
  | "=="
  | "!="
  | "<"
  | "<="
  | ">"
  | ">="
  | "in"
  | "not in"
  | "matches"
  | "contains"
  | "startsWith"
  | "endsWith"
  | "under"
  | "within";
export type ArithmeticOp = "+" | "-" | "*" | "/" | "%";
export type BinaryOp = LogicalOp | ComparisonOp | ArithmeticOp;

export interface Binary extends NodeBase {
  readonly kind: "Binary";
  readonly op: BinaryOp;
  readonly left: Expr;
  readonly right: Expr;
  /** Span of the operator token itself. */
  readonly opSpan: Span;
}

export type FunctionName = "calls" | "called" | "sum" | "max" | "min" | "len" | "lower" | "upper" | "url" | "host" | "ip";

/** The aggregates over a numeric argument in the call history: `sum(refund.amount, 1d, client)`. */
export type AggregateName = "sum" | "max" | "min";
export const AGGREGATES: readonly AggregateName[] = ["sum", "max", "min"];

export interface Call extends NodeBase {
  readonly kind: "Call";
  /** As written; the checker reports names that are not a `FunctionName`. */
  readonly callee: string;
  readonly calleeSpan: Span;
  readonly args: readonly Expr[];
  /** `.field` after the call, as in `url(args.u).host`; the checker says which calls have fields. */
  readonly field?: { readonly name: string; readonly span: Span } | undefined;
}

/** `has args.x`: whether an optional argument is present. */
/** `has PATH`: an `args` path, `client.claims[...]`, or steps into a quantifier's variable (`has e.oldText`). */
export interface Has extends NodeBase {
  readonly kind: "Has";
  readonly path: Path | Variable;
}

export type QuantifierKind = "all" | "any";

/**
 * `all x in LIST: CONDITION` and `any x in LIST: CONDITION`: the condition for every (some) element of the list, the
 * element named by the variable. The condition reaches as far right as it can, as a lambda's body does.
 */
export interface Quantifier extends NodeBase {
  readonly kind: "Quantifier";
  readonly quantifier: QuantifierKind;
  readonly variable: Identifier;
  readonly list: Expr;
  readonly body: Expr;
}

/** A quantifier's variable, with optional steps into the element: `p`, `e.oldText`, `item["k"]`. */
export interface Variable extends NodeBase {
  readonly kind: "Variable";
  readonly name: string;
  readonly nameSpan: Span;
  readonly segments: readonly PathSegment[];
}

/** Kept so that `fmt` and diagnostics can show what the user wrote; evaluation looks through it. */
export interface Paren extends NodeBase {
  readonly kind: "Paren";
  readonly inner: Expr;
}

/** Stands where the parser recovered from an error; a syntax diagnostic was already reported for it. */
export interface Missing extends NodeBase {
  readonly kind: "Missing";
}
