// fast-check arbitraries for syntactically valid policies: ASTs printed to text, optionally re-laid out or commented.
import fc from "fast-check";
import type {
  BinaryOp,
  Expr,
  PathRoot,
  PathSegment,
  PolicyFile,
  Span,
  Statement,
  StringLiteral,
  ToolName,
  ToolTarget,
} from "../../grammar/ast.js";
import { formatPolicy } from "../../grammar/printer.js";
import { KEYWORD_WORDS } from "../../grammar/tokens.js";

/** Spans are irrelevant to printing (no comments are attached), so one dummy span serves every node. */
const Z: Span = { start: 0, end: 0, line: 1, column: 1, endLine: 1, endColumn: 1 };

/** The names generated quantifiers bind; no other generated name takes them, or it would parse as the variable. */
const VARIABLES = ["each", "item"] as const;

export const identifierArb = fc
  .stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,7}$/)
  .filter((s) => !KEYWORD_WORDS.has(s) && !(VARIABLES as readonly string[]).includes(s));
/** Any word, keywords included: what may follow `.` in a path or name a policy. */
const wordArb = fc.oneof(identifierArb, fc.constantFrom(...KEYWORD_WORDS));
const textArb = fc.oneof(fc.string({ maxLength: 12 }), fc.string({ unit: "binary", maxLength: 8 }));

const stringArb: fc.Arbitrary<StringLiteral> = textArb.map((value) => ({ kind: "StringLiteral", span: Z, value }));

const numberArb: fc.Arbitrary<Expr> = fc
  .tuple(fc.nat({ max: 1_000_000 }), fc.option(fc.nat({ max: 999 }), { nil: undefined }))
  .map(([whole, fraction]) => {
    const text = fraction === undefined ? String(whole) : `${whole}.${fraction}`;
    return { kind: "NumberLiteral", span: Z, value: Number(text), integer: fraction === undefined, text };
  });

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const durationArb = fc
  .tuple(fc.integer({ min: 1, max: 1000 }), fc.constantFrom("ms", "s", "m", "h", "d") as fc.Arbitrary<keyof typeof UNIT_MS>)
  .map(([amount, unit]) => ({
    kind: "DurationLiteral" as const,
    span: Z,
    amount,
    unit,
    ms: amount * UNIT_MS[unit],
    text: `${amount}${unit}`,
  }));

const regexArb: fc.Arbitrary<Expr> = fc
  .tuple(
    fc.array(fc.constantFrom("a", "b", "0", "^", "$", ".", "*", "+", "?", "\\/", "\\d", "[a-z]", "[/]", "(x|y)", "é"), {
      minLength: 1,
      maxLength: 6,
    }),
    fc.subarray(["i", "m", "s", "u"]),
  )
  // `/*` always opens a comment, as in JavaScript; a pattern cannot start with `*` anyway (nothing to repeat).
  .filter(([parts]) => parts[0] !== "*")
  .map(([parts, flags]) => ({ kind: "RegexLiteral", span: Z, pattern: parts.join(""), flags: flags.join("") }));

const segmentArb: fc.Arbitrary<PathSegment> = fc.oneof(
  wordArb.map((name) => ({ kind: "Field" as const, name, quoted: false, span: Z })),
  textArb.map((name) => ({ kind: "Field" as const, name, quoted: true, span: Z })),
  fc.nat({ max: 20 }).map((index) => ({ kind: "Index" as const, index, span: Z })),
);

const rootArb = fc.constantFrom<PathRoot>("args", "tool", "client", "peer", "transport", "session", "time");
const pathArb = fc
  .tuple(rootArb, fc.array(segmentArb, { maxLength: 3 }))
  .map(([root, segments]) => ({ kind: "Path" as const, span: Z, root, rootSpan: Z, segments }));

const leafArb: fc.Arbitrary<Expr> = fc.oneof(
  numberArb,
  stringArb,
  fc.boolean().map((value) => ({ kind: "BooleanLiteral" as const, span: Z, value })),
  durationArb,
  identifierArb.map((name) => ({ kind: "Name" as const, span: Z, name })),
  fc.constant({ kind: "Name" as const, span: Z, name: "link-local" }),
  pathArb,
  pathArb.map((path) => ({ kind: "Has" as const, span: Z, path })),
);

const BINARY_OPS: readonly BinaryOp[] = [
  "or", "and", "==", "!=", "<", "<=", ">", ">=", "in", "not in", "matches", "contains", "startsWith", "endsWith",
  "under", "within", "+", "-", "*", "/", "%",
];

export const exprArb: fc.Arbitrary<Expr> = fc.letrec<{ expr: Expr }>((tie) => ({
  expr: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    leafArb,
    fc.tuple(fc.constantFrom(...BINARY_OPS), tie("expr"), tie("expr"), regexArb).map(([op, left, right, regex]) => ({
      kind: "Binary" as const,
      span: Z,
      opSpan: Z,
      op,
      left,
      // A regex literal is only written directly after `matches`.
      right: op === "matches" ? regex : right,
    })),
    fc.tuple(fc.constantFrom("not" as const, "-" as const), tie("expr")).map(([op, operand]) => ({
      kind: "Unary" as const,
      span: Z,
      op,
      operand,
    })),
    tie("expr").map((inner) => ({ kind: "Paren" as const, span: Z, inner })),
    fc.array(tie("expr"), { maxLength: 3 }).map((elements) => ({ kind: "ListLiteral" as const, span: Z, elements })),
    fc
      .tuple(fc.constantFrom("calls", "called", "len", "lower", "upper", "f"), fc.array(tie("expr"), { maxLength: 2 }), fc.boolean())
      .map(([callee, args, star]) => ({
        kind: "Call" as const,
        span: Z,
        callee,
        calleeSpan: Z,
        args: star ? [{ kind: "Name" as const, span: Z, name: "*" }, ...args] : args,
      })),
    // An aggregate: a tool's name with steps, only ever its first argument, then anything (a window, a scope).
    fc
      .tuple(fc.constantFrom("sum", "max", "min"), identifierArb, fc.array(segmentArb, { minLength: 1, maxLength: 3 }), fc.array(tie("expr"), { maxLength: 2 }))
      .map(([callee, name, segments, rest]) => ({
        kind: "Call" as const,
        span: Z,
        callee,
        calleeSpan: Z,
        args: [{ kind: "Name" as const, span: Z, name, segments }, ...rest],
      })),
    fc.tuple(fc.constantFrom("url", "host", "ip"), tie("expr"), fc.option(wordArb, { nil: undefined })).map(([callee, arg, field]) => ({
      kind: "Call" as const,
      span: Z,
      callee,
      calleeSpan: Z,
      args: [arg],
      ...(field === undefined ? {} : { field: { name: field, span: Z } }),
    })),
    // A quantifier's condition reaches as far right as it can, so a generated one stands in parentheses (as an
    // operand must), its list is a path or parenthesised, and its condition tests the variable against anything.
    fc
      .tuple(
        fc.constantFrom("all" as const, "any" as const),
        fc.constantFrom(...VARIABLES),
        fc.oneof(pathArb, tie("expr").map((inner): Expr => ({ kind: "Paren", span: Z, inner }))),
        fc.array(segmentArb, { maxLength: 2 }),
        fc.constantFrom(...BINARY_OPS.filter((op) => op !== "matches")),
        tie("expr"),
        fc.boolean(),
      )
      .map(([quantifier, name, list, segments, op, right, has]): Expr => ({
        kind: "Paren",
        span: Z,
        inner: {
          kind: "Quantifier",
          span: Z,
          quantifier,
          variable: { kind: "Identifier", span: Z, name },
          list,
          // `has` needs a step into the element: `has e.oldText`.
          body:
            has && segments.length > 0
              ? { kind: "Has", span: Z, path: { kind: "Variable", span: Z, name, nameSpan: Z, segments } }
              : { kind: "Binary", span: Z, opSpan: Z, op, left: { kind: "Variable", span: Z, name, nameSpan: Z, segments }, right },
        },
      })),
  ),
})).expr;

const toolNameArb: fc.Arbitrary<ToolName> = fc.oneof(
  identifierArb.map((name) => ({ kind: "ToolName" as const, span: Z, name, quoted: false })),
  textArb.map((name) => ({ kind: "ToolName" as const, span: Z, name, quoted: true })),
);

const targetArb: fc.Arbitrary<ToolTarget> = fc.oneof(
  fc.constant({ kind: "AnyTool" as const, span: Z }),
  fc.array(toolNameArb, { minLength: 1, maxLength: 3 }).map((tools) => ({ kind: "ToolList" as const, span: Z, tools })),
);

const optional = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined });

const statementArb: fc.Arbitrary<Statement> = fc.oneof(
  stringArb.map((zone) => ({ kind: "TimezoneDecl" as const, span: Z, zone })),
  fc.tuple(stringArb, optional(stringArb)).map(([path, signedBy]) => ({ kind: "ManifestDecl" as const, span: Z, path, signedBy })),
  fc.tuple(fc.constantFrom("identity" as const, "transport" as const), fc.array(exprArb, { maxLength: 3 })).map(([dimension, conditions]) => ({
    kind: "RequireBlock" as const,
    span: Z,
    dimension,
    requirements: conditions.map((condition) => ({ kind: "Requirement" as const, span: Z, condition })),
  })),
  fc
    .tuple(fc.constantFrom("permit" as const, "forbid" as const, "ask" as const), targetArb, optional(exprArb), optional(exprArb), optional(stringArb))
    .map(([effect, target, when, unless, because]) => ({ kind: "CallRule" as const, span: Z, effect, target, when, unless, because })),
  fc
    .tuple(targetArb, fc.integer({ min: 1, max: 100_000 }), durationArb, fc.constantFrom("global" as const, "client" as const, "session" as const))
    .map(([target, count, window, scope]) => ({
      kind: "LimitRule" as const,
      span: Z,
      target,
      count: { kind: "NumberLiteral" as const, span: Z, value: count, integer: true, text: String(count) },
      window,
      scope,
      scopeSpan: undefined,
    })),
);

export const policyAstArb: fc.Arbitrary<PolicyFile> = fc
  .tuple(wordArb, optional(fc.nat({ max: 99 })), fc.array(statementArb, { maxLength: 6 }))
  .map(([name, version, statements]) => ({
    kind: "PolicyFile",
    span: Z,
    header: {
      kind: "PolicyHeader",
      span: Z,
      name: { kind: "Identifier", span: Z, name },
      version: version === undefined ? undefined : { kind: "NumberLiteral", span: Z, value: version, integer: true, text: String(version) },
    },
    statements,
    comments: [],
  }));

/** Canonical text of a generated policy. */
export const policyTextArb: fc.Arbitrary<string> = policyAstArb.map(formatPolicy);

/** A canonical policy text and the same policy laid out differently: line breaks become other runs of whitespace. */
export const relaidPolicyTextArb: fc.Arbitrary<{ canonical: string; relaid: string }> = fc
  .tuple(policyTextArb, fc.array(fc.constantFrom(" ", "\n", "\t", "\r\n", "\n\n    ", "  "), { minLength: 1, maxLength: 8 }))
  .map(([text, separators]) => {
    let i = 0;
    return { canonical: text, relaid: text.replace(/\n\s*/g, () => separators[i++ % separators.length]!) };
  });

const commentArb = fc.oneof(
  fc.stringMatching(/^[ -~]{0,20}$/).map((text) => `// ${text}`.trimEnd()),
  fc.stringMatching(/^[ -)+-~]{0,20}$/).map((text) => `/* ${text} */`),
  fc.constant("/* two\n   lines */"),
);

/** Generated policies with comments on their own lines and at line ends. */
export const commentedPolicyTextArb: fc.Arbitrary<string> = fc
  .tuple(policyTextArb, fc.array(fc.tuple(fc.nat(), fc.boolean(), commentArb), { minLength: 1, maxLength: 5 }))
  .map(([text, insertions]) => {
    const lines = text.split("\n");
    for (const [position, ownLine, comment] of insertions) {
      const at = position % lines.length;
      if (ownLine) lines.splice(at, 0, comment);
      else if (!lines[at]!.includes("//")) lines[at] = `${lines[at]} ${comment}`;
    }
    return lines.join("\n");
  });
