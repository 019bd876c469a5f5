// The entry point of the grammar: policy text in, AST and syntax problems out. Never throws and never recurses
// deeply, whatever the input: size and nesting limits are checked before the recursive-descent parser runs.
import type { IRecognitionException, IToken } from "chevrotain";
import type { Comment, Expr, PolicyFile, Span, Statement } from "./ast.js";
import { buildAst } from "./build-ast.js";
import { decodeDuration, decodeNumber, decodeRegex, decodeString, type LiteralProblem } from "./literals.js";
import { HELP_SEPARATOR, ParseErrorLimitReached, policyParser } from "./parser.js";
import { endOfSource, pointAfter, spanWithin, START_OF_SOURCE, tokenSpan } from "./span.js";
import { quoteUserText, syntaxProblem, type SyntaxProblem } from "./syntax-codes.js";
import * as T from "./tokens.js";

export type { SyntaxProblem } from "./syntax-codes.js";

export interface ParseResult {
  readonly ast: PolicyFile;
  readonly problems: SyntaxProblem[];
}

/** Policies are hand-written text; anything above 1 MiB is a mistake or an attack, and parsing it would be slow. */
export const MAX_POLICY_BYTES = 1024 * 1024;
/** Parentheses, lists, calls and unary operators nest at most this deep, far below the parser's stack needs. */
export const MAX_NESTING_DEPTH = 64;
/** Binary operators in one condition; bounds the depth of the AST that later stages walk recursively. */
export const MAX_EXPRESSION_OPERATORS = 1000;
/** Beyond this many syntax diagnostics the rest is noise: one "too many errors" diagnostic ends the list. */
export const MAX_SYNTAX_PROBLEMS = 100;

export function parsePolicy(source: string): ParseResult {
  try {
    return parseWithinLimits(source);
  } catch (error) {
    // Fail closed with a diagnostic rather than a stack trace; tests assert this path is never taken.
    const detail = error instanceof Error ? error.message : String(error);
    return { ast: emptyFile(source), problems: [syntaxProblem("parserFailure", START_OF_SOURCE, { detail: quoteUserText(detail, 80) })] };
  }
}

function emptyFile(source: string): PolicyFile {
  const end = endOfSource(source);
  return {
    kind: "PolicyFile",
    span: { ...START_OF_SOURCE, end: end.end, endLine: end.endLine, endColumn: end.endColumn },
    header: undefined,
    statements: [],
    comments: [],
  };
}

function parseWithinLimits(source: string): ParseResult {
  const size = Buffer.byteLength(source, "utf8");
  if (size > MAX_POLICY_BYTES) {
    return { ast: emptyFile(source), problems: [syntaxProblem("fileTooLarge", START_OF_SOURCE, { size, limit: MAX_POLICY_BYTES })] };
  }
  const lexed = T.PolicyLexer.tokenize(source);
  const problems: SyntaxProblem[] = lexed.errors.map((error) =>
    unexpectedCharacter(source, error.offset, error.length, error.line ?? 1, error.column ?? 1),
  );
  const comments: Comment[] = [];
  for (const token of lexed.groups["comments"] ?? []) {
    const span = tokenSpan(token)!;
    if (token.tokenType === T.UnterminatedComment) problems.push(syntaxProblem("unterminatedComment", span));
    else comments.push({ kind: "Comment", span, text: token.image });
  }
  for (const token of lexed.tokens) problems.push(...literalProblems(token));

  const tooDeep = findExcessiveNesting(lexed.tokens);
  if (tooDeep !== undefined) problems.push(syntaxProblem("nestingTooDeep", tooDeep, { limit: MAX_NESTING_DEPTH }));

  let built: ParseResult = { ast: emptyFile(source), problems: [] };
  if (tooDeep === undefined && problems.length <= MAX_SYNTAX_PROBLEMS) {
    policyParser.input = lexed.tokens;
    let cst;
    try {
      cst = policyParser.policyFile();
    } catch (error) {
      if (!(error instanceof ParseErrorLimitReached)) throw error;
    }
    problems.push(...recognitionProblems(policyParser.errors, source));
    built = buildAst(cst, source);
  }
  const ast = limitExpressionSize({ ...built.ast, comments }, problems);
  return { ast, problems: capProblems([...problems, ...built.problems]) };
}

// -------------------------------------------------------------------------------------------------------------
// Lexical problems

/** Characters that look like ASCII ones, so the diagnostic can say which letter was meant. */
const CONFUSABLES: Readonly<Record<string, string>> = {
  "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s", "һ": "h",
  "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T", "Х": "X",
  "α": "a", "ο": "o", "ν": "v", "ι": "i", "Α": "A", "Β": "B", "Ε": "E", "Ο": "O", "Ρ": "P", "Τ": "T",
  "\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'", "\u2212": "-", "\u2013": "-", "\u00a0": " ",
};

/** Advice for ASCII characters the language does not use but other languages do. */
const ASCII_HELP: Readonly<Record<string, string>> = {
  ";": "statements need no separator",
  "'": 'strings use double quotes: `"text"`',
  "#": "comments start with `//`",
  "&": "use `and`",
  "|": "use `or`",
  "!": "use `not`, or `!=` for inequality",
  "=": "use `==` to compare",
};

function unexpectedCharacter(source: string, offset: number, length: number, line: number, column: number): SyntaxProblem {
  const codePoint = source.codePointAt(offset) ?? 0;
  const character = String.fromCodePoint(codePoint);
  const hex = `U+${codePoint.toString(16).toUpperCase().padStart(4, "0")}`;
  const printable = /^[\p{L}\p{N}\p{P}\p{S}]$/u.test(character);
  const shown = printable ? `\`${character}\` (${hex})` : hex;
  const span: Span = { start: offset, end: offset + length, line, column, endLine: line, endColumn: column + length };
  let help: string | undefined;
  const lookalike = CONFUSABLES[character];
  if (lookalike !== undefined) help = `this looks like \`${lookalike}\` but is not ASCII; identifiers and operators are ASCII`;
  else if (/\p{L}/u.test(character)) help = "identifiers are ASCII letters, digits and `_`";
  else help = ASCII_HELP[character];
  const message = /\p{L}/u.test(character) ? `${shown}; identifiers are ASCII` : shown;
  return syntaxProblem("unexpectedCharacter", span, { character: message }, help);
}

function literalProblems(token: IToken): SyntaxProblem[] {
  const span = tokenSpan(token)!;
  let found: LiteralProblem[] = [];
  switch (token.tokenType) {
    case T.StringLiteral:
    case T.UnterminatedString:
      found = decodeString(token.image).problems;
      break;
    case T.NumberLiteral:
    case T.InvalidNumber:
      found = decodeNumber(token.image).problems;
      break;
    case T.DurationLiteral:
      found = decodeDuration(token.image).problems;
      break;
    case T.RegexLiteral:
    case T.UnterminatedRegex:
      found = decodeRegex(token.image, token.tokenType === T.RegexLiteral).problems;
      break;
  }
  return found.map((problem) => {
    const where = spanWithin(span, problem.offset, problem.length);
    switch (problem.kind) {
      case "unterminated":
        return syntaxProblem(token.tokenType === T.UnterminatedRegex ? "unterminatedRegex" : "unterminatedString", span);
      case "invalidEscape":
        return syntaxProblem("invalidEscape", where, { escape: quoteUserText(problem.text) });
      case "invalidNumber":
        return syntaxProblem("invalidNumber", where, { text: quoteUserText(problem.text) });
      case "numberOutOfRange":
        return syntaxProblem("numberOutOfRange", where, { text: quoteUserText(problem.text) });
      case "invalidRegexFlags":
        return syntaxProblem("invalidRegexFlags", where, { flags: quoteUserText(problem.text) });
    }
    return syntaxProblem("invalidNumber", where, { text: quoteUserText(problem.text) });
  });
}

// -------------------------------------------------------------------------------------------------------------
// Nesting limits

/** Token types after which `-` is binary subtraction; after anything else it is a unary minus. */
const OPERAND_END = new Set([
  T.Identifier, T.NumberLiteral, T.InvalidNumber, T.DurationLiteral, T.StringLiteral, T.UnterminatedString,
  T.RegexLiteral, T.UnterminatedRegex, T.True, T.False, T.RParen, T.RBracket,
  T.Args, T.Tool, T.Client, T.Peer, T.Transport, T.Session, T.Time,
]);

/**
 * The span of the first token that nests deeper than the limit, counting open brackets and runs of prefix
 * operators (`not`, unary `-`), each of which is one level of recursion in the parser.
 */
function findExcessiveNesting(tokens: readonly IToken[]): Span | undefined {
  const levels: number[] = [];
  let depth = 0;
  let prefixRun = 0;
  let previous: IToken | undefined;
  for (const token of tokens) {
    const type = token.tokenType;
    if (type === T.LParen || type === T.LBracket) {
      levels.push(prefixRun + 1);
      depth += prefixRun + 1;
      prefixRun = 0;
    } else if (type === T.RParen || type === T.RBracket) {
      depth -= levels.pop() ?? 0;
      prefixRun = 0;
    } else if (type === T.Not || (type === T.Minus && (previous === undefined || !OPERAND_END.has(previous.tokenType)))) {
      prefixRun += 1;
    } else {
      prefixRun = 0;
    }
    if (depth + prefixRun > MAX_NESTING_DEPTH) return tokenSpan(token);
    previous = token;
  }
  return undefined;
}

function countOperators(root: Expr): number {
  let count = 0;
  const pending: Expr[] = [root];
  while (pending.length > 0) {
    const expr = pending.pop()!;
    switch (expr.kind) {
      case "Binary":
        count += 1;
        pending.push(expr.left, expr.right);
        break;
      case "Unary":
        pending.push(expr.operand);
        break;
      case "Paren":
        pending.push(expr.inner);
        break;
      case "ListLiteral":
        pending.push(...expr.elements);
        break;
      case "Call":
        pending.push(...expr.args);
        break;
      default:
        break;
    }
  }
  return count;
}

/** Replaces every condition with too many operators by `Missing`, reporting each, so no later stage recurses deeply. */
function limitExpressionSize(ast: PolicyFile, problems: SyntaxProblem[]): PolicyFile {
  const bounded = (expr: Expr | undefined): Expr | undefined => {
    if (expr === undefined || countOperators(expr) <= MAX_EXPRESSION_OPERATORS) return expr;
    problems.push(syntaxProblem("expressionTooLong", expr.span, { limit: MAX_EXPRESSION_OPERATORS }));
    return { kind: "Missing", span: expr.span };
  };
  const statements = ast.statements.map((statement): Statement => {
    if (statement.kind === "CallRule") return { ...statement, when: bounded(statement.when), unless: bounded(statement.unless) };
    if (statement.kind === "RequireBlock") {
      return {
        ...statement,
        requirements: statement.requirements.map((r) => ({ ...r, condition: bounded(r.condition)! })),
      };
    }
    return statement;
  });
  return { ...ast, statements };
}

// -------------------------------------------------------------------------------------------------------------
// Parser problems and the overall cap

function recognitionProblems(errors: readonly IRecognitionException[], source: string): SyntaxProblem[] {
  const seen = new Set<string>();
  const problems: SyntaxProblem[] = [];
  for (const error of errors) {
    // When the offending token is on a later line (or is the end of file), something is missing at the end of the
    // previous line: point just after the last token read, not at the start of the next statement. Between
    // statements (the top rule) nothing is missing: the found token itself is what does not belong.
    const previous = tokenSpan((error as { previousToken?: IToken }).previousToken);
    const found = tokenSpan(error.token);
    const betweenStatements = error.context.ruleStack.length <= 1;
    const missingBefore = previous !== undefined && !betweenStatements && (found === undefined || found.line > previous.endLine);
    const span = missingBefore ? pointAfter(previous) : (found ?? endOfSource(source));
    const [message, help] = error.message.split(HELP_SEPARATOR);
    const key = `${span.start}:${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const problem = syntaxProblem("unexpectedToken", span);
    problems.push(help === undefined ? { ...problem, message: message! } : { ...problem, message: message!, help });
  }
  return problems;
}

function capProblems(problems: SyntaxProblem[]): SyntaxProblem[] {
  const sorted = problems
    .map((problem, index) => ({ problem, index }))
    .sort((a, b) => a.problem.span.start - b.problem.span.start || a.index - b.index)
    .map((entry) => entry.problem);
  if (sorted.length <= MAX_SYNTAX_PROBLEMS) return sorted;
  const kept = sorted.slice(0, MAX_SYNTAX_PROBLEMS);
  return [...kept, syntaxProblem("tooManyErrors", sorted[MAX_SYNTAX_PROBLEMS]!.span, { limit: MAX_SYNTAX_PROBLEMS })];
}
