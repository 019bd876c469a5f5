// The CST visitor that builds the typed AST (grammar/ast.ts). It accepts the partial trees that error recovery
// leaves behind: a missing expression becomes a `Missing` node, a statement without its required parts is dropped.
import type { CstElement, CstNode, IToken } from "chevrotain";
import {
  AGGREGATES,
  PATH_ROOTS,
  type AnyTool,
  type BinaryOp,
  type CallRule,
  type ComparisonOp,
  type DurationLiteral,
  type Expr,
  type LimitRule,
  type ManifestDecl,
  type NumberLiteral,
  type Path,
  type PathRoot,
  type PathSegment,
  type PolicyFile,
  type PolicyHeader,
  type RequireBlock,
  type Requirement,
  type ResultAction,
  type ResultRule,
  type RuleEffect,
  type Span,
  type Statement,
  type StringLiteral,
  type TimezoneDecl,
  type Variable,
  type ToolName,
  type ToolTarget,
} from "./ast.js";
import { decodeDuration, decodeNumber, decodeRegex, decodeString } from "./literals.js";
import { policyParser } from "./parser.js";
import { endOfSource, joinSpans, pointAfter, START_OF_SOURCE, tokenSpan } from "./span.js";
import { quoteUserText, syntaxProblem, type SyntaxProblem } from "./syntax-codes.js";
import * as T from "./tokens.js";

type Children = Record<string, CstElement[] | undefined>;

function tokens(ctx: Children, key: string): IToken[] {
  return (ctx[key] ?? []) as IToken[];
}

function nodes(ctx: Children, key: string): CstNode[] {
  return (ctx[key] ?? []) as CstNode[];
}

/** The first token under `key`, if the parser really read it (recovery may insert position-less tokens). */
function realToken(ctx: Children, key: string): IToken | undefined {
  const token = tokens(ctx, key)[0];
  return tokenSpan(token) === undefined ? undefined : token;
}

function after(token: IToken | undefined, fallback: Span): Span {
  const span = tokenSpan(token);
  return span === undefined ? fallback : pointAfter(span);
}

function missing(at: Span): Expr {
  return { kind: "Missing", span: at };
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

const COMPARISON_OPS: ReadonlySet<string> = new Set<ComparisonOp>([
  "==", "!=", "<", "<=", ">", ">=", "in", "matches", "contains", "startsWith", "endsWith", "under", "within",
]);

const BaseVisitor = policyParser.getBaseCstVisitorConstructor<Span, unknown>();

/** Builds the AST of one parse. One instance is reused; `build` resets its state. */
class AstBuilder extends BaseVisitor {
  private problems: SyntaxProblem[] = [];
  private fileEnd: Span = START_OF_SOURCE;
  /** The variables of the quantifiers around the expression being built, innermost last. */
  private bound: string[] = [];
  /** The one name that may carry steps: the first argument of an aggregate, `sum(refund.amount, 1d)`. */
  private toolField: Children | undefined;

  constructor() {
    super();
    this.validateVisitor();
  }

  build(cst: CstNode | undefined, source: string): { ast: PolicyFile; problems: SyntaxProblem[] } {
    this.problems = [];
    this.bound = [];
    this.fileEnd = endOfSource(source);
    const ast = cst === undefined ? this.emptyFile() : (this.visit(cst, START_OF_SOURCE) as PolicyFile);
    return { ast, problems: this.problems };
  }

  private emptyFile(): PolicyFile {
    return { kind: "PolicyFile", span: this.fileSpan(), header: undefined, statements: [], comments: [] };
  }

  private fileSpan(): Span {
    return { ...START_OF_SOURCE, end: this.fileEnd.end, endLine: this.fileEnd.endLine, endColumn: this.fileEnd.endColumn };
  }

  private expr(node: CstNode | undefined, at: Span): Expr {
    return node === undefined ? missing(at) : (this.visit(node, at) as Expr);
  }

  // -------------------------------------------------------------------------------------------------------
  // Statements

  policyFile(ctx: Children): PolicyFile {
    const headerNode = nodes(ctx, "policyHeader")[0];
    const header = headerNode === undefined ? undefined : (this.visit(headerNode, START_OF_SOURCE) as PolicyHeader | undefined);
    const statements: Statement[] = [];
    for (const node of nodes(ctx, "statement")) {
      const statement = this.visit(node, START_OF_SOURCE) as Statement | undefined;
      if (statement !== undefined) statements.push(statement);
    }
    if (header === undefined && headerNode === undefined) {
      const first = statements[0]?.span;
      const at = first === undefined ? START_OF_SOURCE : { ...first, end: first.start, endLine: first.line, endColumn: first.column };
      this.problems.push(syntaxProblem("missingPolicyHeader", at));
    }
    return { kind: "PolicyFile", span: this.fileSpan(), header, statements, comments: [] };
  }

  policyHeader(ctx: Children): PolicyHeader | undefined {
    const keyword = tokenSpan(tokens(ctx, "Policy")[0]);
    const nameToken = realToken(ctx, "name");
    if (keyword === undefined || nameToken === undefined) return undefined;
    const nameSpan = tokenSpan(nameToken)!;
    const versionToken = realToken(ctx, "version");
    const version = versionToken === undefined ? undefined : this.numberLiteral(versionToken);
    return {
      kind: "PolicyHeader",
      span: joinSpans(keyword, nameSpan, version?.span)!,
      name: { kind: "Identifier", span: nameSpan, name: nameToken.image },
      version,
    };
  }

  statement(ctx: Children): Statement | undefined {
    const child = Object.values(ctx)[0]?.[0] as CstNode | undefined;
    return child === undefined ? undefined : (this.visit(child, START_OF_SOURCE) as Statement | undefined);
  }

  timezoneDecl(ctx: Children): TimezoneDecl | undefined {
    const zone = realToken(ctx, "zone");
    if (zone === undefined) return undefined;
    const literal = this.stringLiteral(zone);
    return { kind: "TimezoneDecl", span: joinSpans(tokenSpan(tokens(ctx, "Timezone")[0]), literal.span)!, zone: literal };
  }

  manifestDecl(ctx: Children): ManifestDecl | undefined {
    const pathToken = realToken(ctx, "path");
    if (pathToken === undefined) return undefined;
    const path = this.stringLiteral(pathToken);
    const signedToken = realToken(ctx, "signedBy");
    const signedBy = signedToken === undefined ? undefined : this.stringLiteral(signedToken);
    return {
      kind: "ManifestDecl",
      span: joinSpans(tokenSpan(tokens(ctx, "Manifest")[0]), path.span, signedBy?.span)!,
      path,
      signedBy,
    };
  }

  requireBlock(ctx: Children): RequireBlock | undefined {
    const keyword = realToken(ctx, "Identity") ?? realToken(ctx, "Transport");
    if (keyword === undefined) return undefined;
    const keywordSpan = tokenSpan(keyword)!;
    const requirements: Requirement[] = [];
    for (const node of nodes(ctx, "requirement")) {
      const requirement = this.visit(node, keywordSpan) as Requirement | undefined;
      if (requirement !== undefined) requirements.push(requirement);
    }
    return {
      kind: "RequireBlock",
      span: joinSpans(keywordSpan, tokenSpan(tokens(ctx, "LBrace")[0]), ...requirements.map((r) => r.span), tokenSpan(tokens(ctx, "RBrace")[0]))!,
      dimension: keyword.tokenType === T.Identity ? "identity" : "transport",
      requirements,
    };
  }

  requirement(ctx: Children): Requirement | undefined {
    const keyword = tokenSpan(tokens(ctx, "Require")[0]);
    if (keyword === undefined) return undefined;
    const condition = this.expr(nodes(ctx, "condition")[0], pointAfter(keyword));
    return { kind: "Requirement", span: joinSpans(keyword, condition.span)!, condition };
  }

  callRule(ctx: Children): CallRule | undefined {
    const effectToken = realToken(ctx, "effect");
    const targetNode = nodes(ctx, "toolTarget")[0];
    if (effectToken === undefined || targetNode === undefined) return undefined;
    const target = this.visit(targetNode, START_OF_SOURCE) as ToolTarget | undefined;
    if (target === undefined) return undefined;
    const whenToken = tokens(ctx, "When")[0];
    const when = whenToken === undefined ? undefined : this.expr(nodes(ctx, "when")[0], after(whenToken, target.span));
    const unlessToken = tokens(ctx, "Unless")[0];
    const unless =
      unlessToken === undefined ? undefined : this.expr(nodes(ctx, "unless")[0], after(unlessToken, when?.span ?? target.span));
    const becauseToken = realToken(ctx, "because");
    const because = becauseToken === undefined ? undefined : this.stringLiteral(becauseToken);
    return {
      kind: "CallRule",
      span: joinSpans(tokenSpan(effectToken), target.span, when?.span, unless?.span, because?.span)!,
      effect: effectToken.image as RuleEffect,
      target,
      when,
      unless,
      because,
    };
  }

  resultRule(ctx: Children): ResultRule | undefined {
    const actionToken = realToken(ctx, "action");
    const targetNode = nodes(ctx, "toolTarget")[0];
    if (actionToken === undefined || targetNode === undefined) return undefined;
    const target = this.visit(targetNode, START_OF_SOURCE) as ToolTarget | undefined;
    if (target === undefined) return undefined;
    const patternToken = realToken(ctx, "pattern");
    const pattern = patternToken === undefined ? undefined : { kind: "RegexLiteral" as const, span: tokenSpan(patternToken)!, ...decodeRegex(patternToken.image, patternToken.tokenType === T.RegexLiteral) };
    if (actionToken.tokenType === T.Redact && pattern === undefined) return undefined;
    const whenToken = tokens(ctx, "When")[0];
    const when = whenToken === undefined ? undefined : this.expr(nodes(ctx, "when")[0], after(whenToken, target.span));
    const unlessToken = tokens(ctx, "Unless")[0];
    const unless =
      unlessToken === undefined ? undefined : this.expr(nodes(ctx, "unless")[0], after(unlessToken, when?.span ?? target.span));
    const labelToken = realToken(ctx, "label");
    const label = labelToken === undefined ? undefined : this.stringLiteral(labelToken);
    const seenToken = realToken(ctx, "seen");
    const seen = seenToken === undefined ? undefined : { word: seenToken.image, span: tokenSpan(seenToken)! };
    const becauseToken = realToken(ctx, "because");
    const because = becauseToken === undefined ? undefined : this.stringLiteral(becauseToken);
    return {
      kind: "ResultRule",
      span: joinSpans(tokenSpan(actionToken), target.span, when?.span, unless?.span, label?.span, because?.span)!,
      action: actionToken.image as ResultAction,
      pattern,
      target,
      when,
      unless,
      label,
      seen,
      because,
    };
  }

  limitRule(ctx: Children): LimitRule | undefined {
    const targetNode = nodes(ctx, "toolTarget")[0];
    const countToken = realToken(ctx, "count");
    const windowToken = realToken(ctx, "window");
    const target = targetNode === undefined ? undefined : (this.visit(targetNode, START_OF_SOURCE) as ToolTarget | undefined);
    if (target === undefined || countToken === undefined || windowToken === undefined) return undefined;
    const count = this.numberLiteral(countToken);
    const window = this.durationLiteral(windowToken);
    const scopeNode = nodes(ctx, "limitScope")[0];
    const scopeToken = scopeNode === undefined ? undefined : (realToken(scopeNode.children, "Client") ?? realToken(scopeNode.children, "Session"));
    const scopeSpan = scopeToken === undefined ? undefined : joinSpans(tokenSpan(tokens(ctx, "scopePer")[0]), tokenSpan(scopeToken));
    return {
      kind: "LimitRule",
      span: joinSpans(tokenSpan(tokens(ctx, "Limit")[0]), target.span, count.span, window.span, scopeSpan)!,
      target,
      count,
      window,
      scope: scopeToken === undefined ? "global" : scopeToken.tokenType === T.Client ? "client" : "session",
      scopeSpan,
    };
  }

  limitScope(): undefined {
    return undefined;
  }

  toolTarget(ctx: Children): ToolTarget | undefined {
    const star = tokenSpan(realToken(ctx, "Star"));
    if (star !== undefined) return { kind: "AnyTool", span: star } satisfies AnyTool;
    const tools: ToolName[] = [];
    for (const node of nodes(ctx, "toolName")) {
      const tool = this.visit(node, START_OF_SOURCE) as ToolName | undefined;
      if (tool !== undefined) tools.push(tool);
    }
    if (tools.length === 0) return undefined;
    return { kind: "ToolList", span: joinSpans(...tools.map((t) => t.span))!, tools };
  }

  toolName(ctx: Children): ToolName | undefined {
    const bare = realToken(ctx, "Identifier");
    if (bare !== undefined) return { kind: "ToolName", span: tokenSpan(bare)!, name: bare.image, quoted: false };
    const quoted = realToken(ctx, "StringLiteral");
    if (quoted === undefined) return undefined;
    return { kind: "ToolName", span: tokenSpan(quoted)!, name: decodeString(quoted.image).value, quoted: true };
  }

  // -------------------------------------------------------------------------------------------------------
  // Expressions

  expression(ctx: Children, at: Span): Expr {
    return this.expr(nodes(ctx, "orExpression")[0], at);
  }

  orExpression(ctx: Children, at: Span): Expr {
    return this.leftFold(nodes(ctx, "operand"), tokens(ctx, "Or"), at);
  }

  andExpression(ctx: Children, at: Span): Expr {
    return this.leftFold(nodes(ctx, "operand"), tokens(ctx, "And"), at);
  }

  additiveExpression(ctx: Children, at: Span): Expr {
    return this.leftFold(nodes(ctx, "operand"), tokens(ctx, "operator"), at);
  }

  multiplicativeExpression(ctx: Children, at: Span): Expr {
    return this.leftFold(nodes(ctx, "operand"), tokens(ctx, "operator"), at);
  }

  /** `a op b op c` as `(a op b) op c`; the operator is the token's image (`or`, `and`, `+`, `*`, ...). */
  private leftFold(operands: readonly CstNode[], operators: readonly IToken[], at: Span): Expr {
    let left = this.expr(operands[0], at);
    operators.forEach((operator, i) => {
      const right = this.expr(operands[i + 1], after(operator, left.span));
      left = this.binary(operator.image as BinaryOp, left, right, tokenSpan(operator) ?? pointAfter(left.span));
    });
    return left;
  }

  private binary(op: BinaryOp, left: Expr, right: Expr, opSpan: Span): Expr {
    return { kind: "Binary", span: joinSpans(left.span, opSpan, right.span)!, op, left, right, opSpan };
  }

  notExpression(ctx: Children, at: Span): Expr {
    const not = tokens(ctx, "Not")[0];
    const operand = this.expr(nodes(ctx, "operand")[0], after(not, at));
    if (not === undefined) return operand;
    return { kind: "Unary", span: joinSpans(tokenSpan(not), operand.span)!, op: "not", operand };
  }

  comparison(ctx: Children, at: Span): Expr {
    const left = this.expr(nodes(ctx, "left")[0], at);
    const operator = tokens(ctx, "operator")[0];
    if (operator === undefined) return left;
    const notIn = tokens(ctx, "notIn")[0];
    const opSpan = joinSpans(tokenSpan(operator), tokenSpan(notIn)) ?? pointAfter(left.span);
    const op: ComparisonOp = notIn !== undefined ? "not in" : COMPARISON_OPS.has(operator.image) ? (operator.image as ComparisonOp) : "==";
    const right = this.expr(nodes(ctx, "right")[0], pointAfter(opSpan));
    return this.binary(op, left, right, opSpan);
  }

  unaryExpression(ctx: Children, at: Span): Expr {
    const minus = tokens(ctx, "Minus")[0];
    const operand = this.expr(nodes(ctx, "operand")[0], after(minus, at));
    if (minus === undefined) return operand;
    return { kind: "Unary", span: joinSpans(tokenSpan(minus), operand.span)!, op: "-", operand };
  }

  primary(ctx: Children, at: Span): Expr {
    const child = Object.values(ctx)[0]?.[0];
    if (child === undefined) return missing(at);
    if (!("tokenType" in child)) return this.expr(child, at);
    const span = tokenSpan(child);
    if (span === undefined) return missing(at);
    switch (child.tokenType) {
      case T.True:
      case T.False:
        return { kind: "BooleanLiteral", span, value: child.tokenType === T.True };
      case T.DurationLiteral:
        return this.durationLiteral(child);
      case T.StringLiteral:
      case T.UnterminatedString:
        return this.stringLiteral(child);
      case T.RegexLiteral:
      case T.UnterminatedRegex: {
        const { pattern, flags } = decodeRegex(child.image, child.tokenType === T.RegexLiteral);
        return { kind: "RegexLiteral", span, pattern, flags };
      }
      default:
        return this.numberLiteral(child);
    }
  }

  quantifier(ctx: Children, at: Span): Expr {
    const word = realToken(ctx, "quantifier");
    const variableToken = realToken(ctx, "variable");
    if (word === undefined || variableToken === undefined) return missing(at);
    const variableSpan = tokenSpan(variableToken)!;
    const list = this.expr(nodes(ctx, "list")[0], after(tokens(ctx, "In")[0], variableSpan));
    const colon = tokens(ctx, "Colon")[0];
    this.bound.push(variableToken.image);
    const body = this.expr(nodes(ctx, "body")[0], after(colon, list.span));
    this.bound.pop();
    return {
      kind: "Quantifier",
      span: joinSpans(tokenSpan(word), list.span, tokenSpan(colon), body.span)!,
      quantifier: word.image === "all" ? "all" : "any",
      variable: { kind: "Identifier", span: variableSpan, name: variableToken.image },
      list,
      body,
    };
  }

  listLiteral(ctx: Children, at: Span): Expr {
    const open = tokenSpan(tokens(ctx, "LBracket")[0]) ?? at;
    const elements = nodes(ctx, "element").map((node) => this.expr(node, open));
    return {
      kind: "ListLiteral",
      span: joinSpans(open, ...elements.map((e) => e.span), tokenSpan(tokens(ctx, "RBracket")[0]))!,
      elements,
    };
  }

  path(ctx: Children): Path | undefined {
    const rootToken = realToken(ctx, "root");
    if (rootToken === undefined) return undefined;
    const rootSpan = tokenSpan(rootToken)!;
    const segments = this.segments(nodes(ctx, "pathSegment"));
    return {
      kind: "Path",
      span: joinSpans(rootSpan, ...segments.map((s) => s.span))!,
      root: rootToken.image as PathRoot,
      rootSpan,
      segments,
    };
  }

  private segments(segmentNodes: readonly CstNode[]): PathSegment[] {
    const segments: PathSegment[] = [];
    for (const node of segmentNodes) {
      const segment = this.visit(node, START_OF_SOURCE) as PathSegment | undefined;
      if (segment !== undefined) segments.push(segment);
    }
    return segments;
  }

  pathSegment(ctx: Children): PathSegment | undefined {
    const field = realToken(ctx, "field");
    if (field !== undefined) {
      return { kind: "Field", name: field.image, quoted: false, span: joinSpans(tokenSpan(tokens(ctx, "Dot")[0]), tokenSpan(field))! };
    }
    const selectorNode = nodes(ctx, "indexSelector")[0];
    if (selectorNode === undefined) return undefined;
    const span = joinSpans(tokenSpan(tokens(ctx, "LBracket")[0]), tokenSpan(tokens(ctx, "RBracket")[0]))!;
    const quoted = realToken(selectorNode.children, "StringLiteral");
    if (quoted !== undefined) return { kind: "Field", name: decodeString(quoted.image).value, quoted: true, span };
    const indexToken = realToken(selectorNode.children, "NumberLiteral");
    if (indexToken === undefined) return undefined;
    const { value, integer } = decodeNumber(indexToken.image);
    if (!integer || !Number.isSafeInteger(value)) {
      if (indexToken.tokenType === T.NumberLiteral) {
        this.problems.push(syntaxProblem("invalidIndex", tokenSpan(indexToken)!, { text: quoteUserText(indexToken.image) }));
      }
      return undefined;
    }
    return { kind: "Index", index: value, span };
  }

  indexSelector(): undefined {
    return undefined;
  }

  nameOrCall(ctx: Children, at: Span): Expr {
    const nameToken = realToken(ctx, "name");
    if (nameToken === undefined) return missing(at);
    const nameSpan = tokenSpan(nameToken)!;
    const argumentsNode = nodes(ctx, "callArguments")[0];
    if (argumentsNode !== undefined) {
      const outer = this.toolField;
      if ((AGGREGATES as readonly string[]).includes(nameToken.image)) this.toolField = soleNameOrCall(nodes(argumentsNode.children, "callArgument")[0]);
      const args = this.visit(argumentsNode, pointAfter(nameSpan)) as Expr[];
      this.toolField = outer;
      const close = tokenSpan(tokens(argumentsNode.children, "RParen")[0]);
      const fieldToken = realToken(ctx, "field");
      const field = fieldToken === undefined ? undefined : { name: fieldToken.image, span: joinSpans(tokenSpan(tokens(ctx, "fieldDot")[0]), tokenSpan(fieldToken))! };
      return {
        kind: "Call",
        span: joinSpans(nameSpan, tokenSpan(tokens(argumentsNode.children, "LParen")[0]), ...args.map((a) => a.span), close, field?.span)!,
        callee: nameToken.image,
        calleeSpan: nameSpan,
        args,
        ...(field === undefined ? {} : { field }),
      };
    }
    const segmentNodes = nodes(ctx, "pathSegment");
    if (segmentNodes.length > 0 && ctx === this.toolField && !this.bound.includes(nameToken.image)) {
      const segments = this.segments(segmentNodes);
      return { kind: "Name", span: joinSpans(nameSpan, ...segments.map((s) => s.span))!, name: nameToken.image, segments };
    }
    if (this.bound.includes(nameToken.image) || segmentNodes.length > 0) return this.variableOrStray(nameToken, segmentNodes);
    return { kind: "Name", span: nameSpan, name: nameToken.image };
  }

  /** A name with path steps: a quantifier's variable when one is bound by that name, else a path with an unknown root (reported). */
  private variableOrStray(nameToken: IToken, segmentNodes: readonly CstNode[]): Variable | Expr {
    const nameSpan = tokenSpan(nameToken)!;
    const segments = this.segments(segmentNodes);
    if (this.bound.includes(nameToken.image)) {
      return { kind: "Variable", span: joinSpans(nameSpan, ...segments.map((s) => s.span))!, name: nameToken.image, nameSpan, segments };
    }
    const suggestion = PATH_ROOTS.find((root) => editDistance(root, nameToken.image) <= 2);
    this.problems.push(
      syntaxProblem("unknownPathRoot", nameSpan, { name: quoteUserText(nameToken.image) }, suggestion === undefined ? undefined : `did you mean \`${suggestion}\`?`),
    );
    return missing(joinSpans(nameSpan, ...segments.map((s) => s.span))!);
  }

  callArguments(ctx: Children, at: Span): Expr[] {
    return nodes(ctx, "callArgument").map((node) => this.expr(node, at));
  }

  callArgument(ctx: Children, at: Span): Expr {
    const star = tokenSpan(realToken(ctx, "Star"));
    if (star !== undefined) return { kind: "Name", span: star, name: "*" };
    return this.expr(nodes(ctx, "expression")[0], at);
  }

  hasExpression(ctx: Children, at: Span): Expr {
    const keyword = tokenSpan(tokens(ctx, "Has")[0]) ?? at;
    const variableToken = realToken(ctx, "variable");
    if (variableToken !== undefined) {
      const variable = this.variableOrStray(variableToken, nodes(ctx, "pathSegment"));
      return variable.kind === "Variable" ? { kind: "Has", span: joinSpans(keyword, variable.span)!, path: variable } : variable;
    }
    const pathNode = nodes(ctx, "path")[0];
    const path = pathNode === undefined ? undefined : (this.visit(pathNode, pointAfter(keyword)) as Path | undefined);
    if (path === undefined) return missing(keyword);
    return { kind: "Has", span: joinSpans(keyword, path.span)!, path };
  }

  parenthesised(ctx: Children, at: Span): Expr {
    const open = tokenSpan(tokens(ctx, "LParen")[0]) ?? at;
    const inner = this.expr(nodes(ctx, "inner")[0], pointAfter(open));
    return { kind: "Paren", span: joinSpans(open, inner.span, tokenSpan(tokens(ctx, "RParen")[0]))!, inner };
  }

  // -------------------------------------------------------------------------------------------------------
  // Literals

  private stringLiteral(token: IToken): StringLiteral {
    return { kind: "StringLiteral", span: tokenSpan(token)!, value: decodeString(token.image).value };
  }

  private numberLiteral(token: IToken): NumberLiteral {
    const { value, integer } = decodeNumber(token.image);
    return { kind: "NumberLiteral", span: tokenSpan(token)!, value, integer, text: token.image };
  }

  private durationLiteral(token: IToken): DurationLiteral {
    const { amount, unit, ms } = decodeDuration(token.image);
    return { kind: "DurationLiteral", span: tokenSpan(token)!, ms, amount, unit, text: token.image };
  }
}

/**
 * The children of the `nameOrCall` node an argument consists of, when it is nothing but a name (with steps): the CST
 * nests one node per precedence level, each with a single child when no operator was written.
 */
function soleNameOrCall(argument: CstNode | undefined): Children | undefined {
  let node = argument;
  while (node !== undefined) {
    if (node.name === "nameOrCall") return node.children;
    const children = Object.values(node.children).flat();
    const only = children.length === 1 ? children[0] : undefined;
    node = only !== undefined && "children" in only ? only : undefined;
  }
  return undefined;
}

const builder = new AstBuilder();

/** Builds the AST from a CST (undefined when parsing was abandoned); also returns the problems found on the way. */
export function buildAst(cst: CstNode | undefined, source: string): { ast: PolicyFile; problems: SyntaxProblem[] } {
  return builder.build(cst, source);
}
