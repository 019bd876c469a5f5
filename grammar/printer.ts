// Canonical text for ASTs: `pqguard fmt` (comments put back where they were), minimal-parentheses expressions, and
// fully parenthesised expressions that make precedence visible in tests.
import type { BinaryOp, Comment, Expr, Path, PathSegment, PolicyFile, Statement, ToolTarget } from "./ast.js";
import { KEYWORD_WORDS } from "./tokens.js";

// ---------------------------------------------------------------------------------------------------------
// Expressions

/** Binding strength, loosest first; matches grammar/parser.ts. */
const PRECEDENCE = { or: 1, and: 2, not: 3, comparison: 4, additive: 5, multiplicative: 6, negation: 7, primary: 8 } as const;

function binaryPrecedence(op: BinaryOp): number {
  switch (op) {
    case "or":
      return PRECEDENCE.or;
    case "and":
      return PRECEDENCE.and;
    case "+":
    case "-":
      return PRECEDENCE.additive;
    case "*":
    case "/":
    case "%":
      return PRECEDENCE.multiplicative;
    default:
      return PRECEDENCE.comparison;
  }
}

function precedence(expr: Expr): number {
  // A quantifier binds as a primary on its left; its condition reaches as far right as it can, so the parser builds
  // one as a left operand only from parentheses, which are kept as `Paren` nodes.
  if (expr.kind === "Binary") return binaryPrecedence(expr.op);
  if (expr.kind === "Unary") return expr.op === "not" ? PRECEDENCE.not : PRECEDENCE.negation;
  return PRECEDENCE.primary;
}

export function printString(value: string): string {
  return JSON.stringify(value);
}

function printSegment(segment: PathSegment): string {
  if (segment.kind === "Index") return `[${segment.index}]`;
  return segment.quoted ? `[${printString(segment.name)}]` : `.${segment.name}`;
}

function printPath(path: Path): string {
  return path.root + path.segments.map(printSegment).join("");
}

/** Text of the leaves, shared by both printers; `inner` prints sub-expressions in the printer's own style. */
function printLeafOrCompound(expr: Expr, inner: (e: Expr) => string): string | undefined {
  switch (expr.kind) {
    case "NumberLiteral":
    case "DurationLiteral":
      return expr.text;
    case "StringLiteral":
      return printString(expr.value);
    case "BooleanLiteral":
      return String(expr.value);
    case "RegexLiteral":
      return `/${expr.pattern}/${expr.flags}`;
    case "ListLiteral":
      return `[${expr.elements.map(inner).join(", ")}]`;
    case "Name":
      return expr.name + (expr.segments ?? []).map(printSegment).join("");
    case "Path":
      return printPath(expr);
    case "Call":
      return `${expr.callee}(${expr.args.map(inner).join(", ")})${expr.field === undefined ? "" : `.${expr.field.name}`}`;
    case "Variable":
      return expr.name + expr.segments.map(printSegment).join("");
    case "Quantifier":
      return `${expr.quantifier} ${expr.variable.name} in ${inner(expr.list)}: ${inner(expr.body)}`;
    case "Has":
      return `has ${inner(expr.path)}`;
    case "Missing":
      return "<missing>";
    default:
      return undefined;
  }
}

/**
 * Canonical text of an expression: the parentheses the source had (`Paren` nodes) and those the structure needs,
 * no others. Parsing the result gives back the same tree.
 */
export function printExpr(expr: Expr): string {
  const leaf = printLeafOrCompound(expr, printExpr);
  if (leaf !== undefined) return leaf;
  switch (expr.kind) {
    case "Paren":
      return `(${printExpr(expr.inner)})`;
    case "Unary": {
      const needed = expr.op === "not" ? PRECEDENCE.not : PRECEDENCE.negation;
      const operand = wrapIf(expr.operand, precedence(expr.operand) < needed);
      return expr.op === "not" ? `not ${operand}` : `-${operand}`;
    }
    case "Binary": {
      const own = binaryPrecedence(expr.op);
      // Comparisons do not chain, so a comparison operand of a comparison needs parentheses on either side.
      const left = wrapIf(expr.left, precedence(expr.left) < own || (own === PRECEDENCE.comparison && precedence(expr.left) === own));
      const right = wrapIf(expr.right, precedence(expr.right) <= own);
      return `${left} ${expr.op} ${right}`;
    }
    default:
      return "<missing>";
  }
}

function wrapIf(expr: Expr, wrap: boolean): string {
  return wrap ? `(${printExpr(expr)})` : printExpr(expr);
}

/** Every operator application in parentheses, the source's own parentheses dropped: shows how the parser grouped. */
export function printExprParenthesised(expr: Expr): string {
  if (expr.kind === "Quantifier") {
    return `(${expr.quantifier} ${expr.variable.name} in ${printExprParenthesised(expr.list)}: ${printExprParenthesised(expr.body)})`;
  }
  const leaf = printLeafOrCompound(expr, printExprParenthesised);
  if (leaf !== undefined) return leaf;
  switch (expr.kind) {
    case "Paren":
      return printExprParenthesised(expr.inner);
    case "Unary":
      return expr.op === "not" ? `(not ${printExprParenthesised(expr.operand)})` : `(-${printExprParenthesised(expr.operand)})`;
    case "Binary":
      return `(${printExprParenthesised(expr.left)} ${expr.op} ${printExprParenthesised(expr.right)})`;
    default:
      return "<missing>";
  }
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function printToolTarget(target: ToolTarget): string {
  if (target.kind === "AnyTool") return "*";
  return target.tools
    .map((tool) => (tool.quoted || !IDENTIFIER.test(tool.name) || KEYWORD_WORDS.has(tool.name) ? printString(tool.name) : tool.name))
    .join(", ");
}

// ---------------------------------------------------------------------------------------------------------
// Policy files

/** One output line (or a few) that stands for a stretch of source: the unit comments attach to. */
interface Piece {
  readonly start: number;
  readonly end: number;
  readonly startLine: number;
  readonly endLine: number;
  readonly text: string;
  /** Indentation for comments printed above this piece. */
  readonly commentIndent: string;
  /** The first piece of a statement: a blank line may go before it. */
  readonly statement?: Statement | "header";
  readonly leading: Comment[];
  readonly trailing: Comment[];
}

const INDENT = "  ";

function piece(
  start: number,
  end: number,
  startLine: number,
  endLine: number,
  text: string,
  commentIndent = "",
  statement?: Statement | "header",
): Piece {
  return { start, end, startLine, endLine, text, commentIndent, statement, leading: [], trailing: [] };
}

function statementPieces(statement: Statement): Piece[] {
  const s = statement.span;
  switch (statement.kind) {
    case "TimezoneDecl":
      return [piece(s.start, s.end, s.line, s.endLine, `timezone ${printString(statement.zone.value)}`, "", statement)];
    case "ManifestDecl": {
      const signed = statement.signedBy === undefined ? "" : ` signed by ${printString(statement.signedBy.value)}`;
      return [piece(s.start, s.end, s.line, s.endLine, `manifest ${printString(statement.path.value)}${signed}`, "", statement)];
    }
    case "RequireBlock":
      return [
        piece(s.start, s.start + statement.dimension.length, s.line, s.line, `${statement.dimension} {`, "", statement),
        ...statement.requirements.map((r) =>
          piece(r.span.start, r.span.end, r.span.line, r.span.endLine, `${INDENT}require ${printExpr(r.condition)}`, INDENT),
        ),
        piece(s.end - 1, s.end, s.endLine, s.endLine, "}", INDENT),
      ];
    case "CallRule": {
      const t = statement.target.span;
      const pieces = [piece(s.start, t.end, s.line, t.endLine, `${statement.effect} tool ${printToolTarget(statement.target)}`, "", statement)];
      const clause = (keyword: string, text: string, span: { start: number; end: number; line: number; endLine: number }): void => {
        pieces.push(piece(span.start, span.end, span.line, span.endLine, `${INDENT}${keyword} ${text}`, INDENT));
      };
      if (statement.when !== undefined) clause("when", printExpr(statement.when), statement.when.span);
      if (statement.unless !== undefined) clause("unless", printExpr(statement.unless), statement.unless.span);
      if (statement.because !== undefined) clause("because", printString(statement.because.value), statement.because.span);
      return pieces;
    }
    case "ResultRule": {
      const t = statement.target.span;
      const head = statement.pattern === undefined ? statement.action : `redact /${statement.pattern.pattern}/${statement.pattern.flags} in`;
      const pieces = [piece(s.start, t.end, s.line, t.endLine, `${head} result of ${printToolTarget(statement.target)}`, "", statement)];
      const clause = (keyword: string, text: string, span: { start: number; end: number; line: number; endLine: number }): void => {
        pieces.push(piece(span.start, span.end, span.line, span.endLine, `${INDENT}${keyword} ${text}`, INDENT));
      };
      if (statement.when !== undefined) clause("when", printExpr(statement.when), statement.when.span);
      if (statement.unless !== undefined) clause("unless", printExpr(statement.unless), statement.unless.span);
      if (statement.label !== undefined) {
        clause(statement.seen === undefined ? "as" : `as ${statement.seen.word}`, printString(statement.label.value), statement.label.span);
      }
      if (statement.because !== undefined) clause("because", printString(statement.because.value), statement.because.span);
      return pieces;
    }
    case "LimitRule": {
      const scope = statement.scope === "global" ? "" : ` per ${statement.scope}`;
      const text = `limit tool ${printToolTarget(statement.target)} to ${statement.count.text} per ${statement.window.text}${scope}`;
      return [piece(s.start, s.end, s.line, s.endLine, text, "", statement)];
    }
  }
}

function isPreamble(statement: Statement | "header" | undefined): boolean {
  return statement === "header" || statement?.kind === "TimezoneDecl" || statement?.kind === "ManifestDecl";
}

function commentText(comment: Comment): string {
  return comment.text.startsWith("//") ? comment.text.trimEnd() : comment.text;
}

/** Gives each comment to the piece it trails (same line, after it) or else to the next piece, which it leads. */
function attachComments(pieces: readonly Piece[], comments: readonly Comment[]): Comment[] {
  const orphans: Comment[] = [];
  let index = 0;
  for (const comment of [...comments].sort((a, b) => a.span.start - b.span.start)) {
    while (index < pieces.length && pieces[index]!.end <= comment.span.start) index += 1;
    const previous = pieces[index - 1];
    const current = pieces[index];
    if (current !== undefined && current.start <= comment.span.start) current.leading.push(comment);
    else if (previous !== undefined && previous.endLine === comment.span.line) previous.trailing.push(comment);
    else if (current !== undefined) current.leading.push(comment);
    else orphans.push(comment);
  }
  return orphans;
}

interface OutputLine {
  readonly text: string;
  readonly trailing?: string;
}

/** Canonical text of a policy file, comments kept. Formatting the result again changes nothing. */
export function formatPolicy(ast: PolicyFile): string {
  const pieces: Piece[] = [];
  if (ast.header !== undefined) {
    const h = ast.header;
    const version = h.version === undefined ? "" : ` version ${h.version.text}`;
    pieces.push(piece(h.span.start, h.span.end, h.span.line, h.span.endLine, `policy ${h.name.name}${version}`, "", "header"));
  }
  for (const statement of ast.statements) pieces.push(...statementPieces(statement));
  const orphans = attachComments(pieces, ast.comments);

  const lines: OutputLine[] = [];
  let previousStatement: Statement | "header" | undefined;
  const emitComments = (comments: readonly Comment[], indent: string, nextLine: number, keepBlankLines: boolean): void => {
    comments.forEach((comment, i) => {
      lines.push({ text: indent + commentText(comment) });
      const followingLine = comments[i + 1]?.span.line ?? nextLine;
      if (keepBlankLines && followingLine > comment.span.endLine + 1) lines.push({ text: "" });
    });
  };
  for (const p of pieces) {
    if (p.statement !== undefined) {
      const separate = previousStatement !== undefined && !(isPreamble(previousStatement) && isPreamble(p.statement));
      if (separate) lines.push({ text: "" });
      previousStatement = p.statement;
    }
    emitComments(p.leading, p.commentIndent, p.startLine, p.statement !== undefined);
    const trailing = p.trailing.map(commentText).join(" ");
    lines.push(trailing === "" ? { text: p.text } : { text: p.text, trailing });
  }
  if (orphans.length > 0) {
    const last = pieces.at(-1);
    const lastLine = last === undefined ? undefined : Math.max(last.endLine, ...last.trailing.map((c) => c.span.endLine));
    if (lastLine !== undefined && orphans[0]!.span.line > lastLine + 1) lines.push({ text: "" });
    emitComments(orphans, "", Number.MAX_SAFE_INTEGER, true);
    while (lines.at(-1)?.text === "") lines.pop();
  }
  return renderLines(lines);
}

/** Joins lines, aligning the trailing comments of consecutive lines two spaces past the longest of them. */
function renderLines(lines: readonly OutputLine[]): string {
  const out: string[] = [];
  for (let i = 0; i < lines.length; ) {
    if (lines[i]!.trailing === undefined) {
      out.push(lines[i]!.text);
      i += 1;
      continue;
    }
    let j = i;
    while (j < lines.length && lines[j]!.trailing !== undefined) j += 1;
    const width = Math.max(...lines.slice(i, j).map((l) => l.text.length));
    for (const line of lines.slice(i, j)) out.push(`${line.text.padEnd(width)}  ${line.trailing}`);
    i = j;
  }
  return out.length === 0 ? "" : `${out.join("\n")}\n`;
}
