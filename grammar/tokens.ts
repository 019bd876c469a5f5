// Every token of the policy language, in one place: the lexer is built from this list, and the parser and the
// diagnostics refer to these token types by name.
import { createToken, Lexer, type CustomPatternMatcherFunc, type IToken, type TokenType } from "chevrotain";

// ---------------------------------------------------------------------------------------------------------
// Categories. A category matches every token that lists it, so the grammar can say "any comparison operator".

/** Any identifier-shaped word, keywords included: field names after `.` and the policy name accept all of them. */
export const Word = createToken({ name: "Word", pattern: Lexer.NA, label: "a name" });
/** Keywords that start a path (`args.x`, `tool.name`, ...). */
export const PathRoot = createToken({ name: "PathRoot", pattern: Lexer.NA, label: "a path" });
export const RelationalOperator = createToken({ name: "RelationalOperator", pattern: Lexer.NA, label: "a comparison" });
export const AdditiveOperator = createToken({ name: "AdditiveOperator", pattern: Lexer.NA, label: "`+` or `-`" });
export const MultiplicativeOperator = createToken({
  name: "MultiplicativeOperator",
  pattern: Lexer.NA,
  label: "`*`, `/` or `%`",
});

// ---------------------------------------------------------------------------------------------------------
// Trivia

/** Spaces, tabs, line breaks and a byte-order mark; the grammar never sees them. */
export const WhiteSpace = createToken({
  name: "WhiteSpace",
  pattern: /[ \t\r\n\f\v\uFEFF]+/,
  group: Lexer.SKIPPED,
  line_breaks: true,
});
export const LineComment = createToken({ name: "LineComment", pattern: /\/\/[^\n\r]*/, group: "comments" });
export const BlockComment = createToken({
  name: "BlockComment",
  pattern: /\/\*[\s\S]*?\*\//,
  group: "comments",
  line_breaks: true,
});
/** A `/*` that never closes: swallowed to the end of input so one diagnostic covers it. */
export const UnterminatedComment = createToken({
  name: "UnterminatedComment",
  pattern: /\/\*[\s\S]*/,
  group: "comments",
  line_breaks: true,
});

// ---------------------------------------------------------------------------------------------------------
// Identifiers and keywords

export const Identifier = createToken({
  name: "Identifier",
  pattern: /[A-Za-z_][A-Za-z0-9_]*/,
  categories: [Word],
  label: "a name",
});

/**
 * The one hyphenated name, the address set `link-local` (`ip(x) in link-local`): read as a single name, never as
 * `link - local`, which as arithmetic on two bare names would mean nothing anyway.
 */
export const HyphenatedName = createToken({
  name: "HyphenatedName",
  pattern: /link-local(?![A-Za-z0-9_])/,
  categories: [Identifier, Word],
  label: "a name",
});

function keyword(word: string, categories: TokenType[] = []): TokenType {
  const name = word[0]!.toUpperCase() + word.slice(1);
  return createToken({
    name,
    pattern: new RegExp(word),
    longer_alt: Identifier,
    categories: [Word, ...categories],
    label: `\`${word}\``,
  });
}

export const Policy = keyword("policy");
export const Version = keyword("version");
export const Timezone = keyword("timezone");
export const Manifest = keyword("manifest");
export const Signed = keyword("signed");
export const By = keyword("by");
export const Identity = keyword("identity");
export const Require = keyword("require");
export const Permit = keyword("permit");
export const Forbid = keyword("forbid");
export const Ask = keyword("ask");
export const When = keyword("when");
export const Unless = keyword("unless");
export const Because = keyword("because");
export const Limit = keyword("limit");
export const To = keyword("to");
export const Per = keyword("per");
export const Or = keyword("or");
export const And = keyword("and");
export const Not = keyword("not");
export const Has = keyword("has");
export const True = keyword("true");
export const False = keyword("false");
export const In = keyword("in", [RelationalOperator]);
export const Matches = keyword("matches", [RelationalOperator]);
export const Contains = keyword("contains", [RelationalOperator]);
export const StartsWith = keyword("startsWith", [RelationalOperator]);
export const EndsWith = keyword("endsWith", [RelationalOperator]);
export const Under = keyword("under", [RelationalOperator]);
export const Within = keyword("within", [RelationalOperator]);
// Path roots are keywords too; `tool`, `client`, `session` and `transport` also serve as statement words.
export const Args = keyword("args", [PathRoot]);
export const Tool = keyword("tool", [PathRoot]);
export const Client = keyword("client", [PathRoot]);
export const Peer = keyword("peer", [PathRoot]);
export const Transport = keyword("transport", [PathRoot]);
export const Session = keyword("session", [PathRoot]);
export const Time = keyword("time", [PathRoot]);
// Result rules: `refuse result of`, `redact /re/ in result of`, `mark result of ... as [seen] "label"`.
export const Result = keyword("result", [PathRoot]);
export const Refuse = keyword("refuse");
export const Redact = keyword("redact");
export const Mark = keyword("mark");
export const Of = keyword("of");
export const As = keyword("as");

export const KEYWORDS: readonly TokenType[] = [
  Policy, Version, Timezone, Manifest, Signed, By, Identity, Require, Permit, Forbid, Ask, When, Unless, Because,
  Limit, To, Per, Or, And, Not, Has, True, False, In, Matches, Contains, StartsWith, EndsWith, Under, Within,
  Args, Tool, Client, Peer, Transport, Session, Time, Result, Refuse, Redact, Mark, Of, As,
];

/** The spelling of every keyword, for printing tool names that must be quoted. */
export const KEYWORD_WORDS: ReadonlySet<string> = new Set(KEYWORDS.map((t) => (t.LABEL ?? "").slice(1, -1)));

// ---------------------------------------------------------------------------------------------------------
// Literals

export const StringLiteral = createToken({
  name: "StringLiteral",
  pattern: /"(?:[^"\\\n\r]|\\[^\n\r])*"/,
  label: "a string",
});
/** A string whose closing quote is missing on its line: accepted as a string so that only one diagnostic results. */
export const UnterminatedString = createToken({
  name: "UnterminatedString",
  pattern: /"(?:[^"\\\n\r]|\\[^\n\r])*\\?/,
  categories: [StringLiteral],
  label: "a string",
});

export const DurationLiteral = createToken({
  name: "DurationLiteral",
  pattern: /[0-9]+(?:ms|s|m|h|d)(?![A-Za-z0-9_])/,
  label: "a duration",
});
export const NumberLiteral = createToken({ name: "NumberLiteral", pattern: /[0-9]+(?:\.[0-9]+)?/, label: "a number" });
/** Digits run into letters (`10min`, `1.5h`): accepted where a number or duration may stand, and reported. */
export const InvalidNumber = createToken({
  name: "InvalidNumber",
  pattern: /[0-9]+(?:\.[0-9]+)?[A-Za-z_][A-Za-z0-9_]*/,
  categories: [NumberLiteral, DurationLiteral],
  label: "a number",
});

function lastToken(tokens: IToken[]): IToken | undefined {
  return tokens[tokens.length - 1];
}

/**
 * A regex literal may only follow the `matches` operator or the `redact` statement word; everywhere else `/` is
 * division. After a `.`, `matches` is a member's name (`peer.matches / 2`), not the operator.
 */
function afterMatches(sticky: RegExp): CustomPatternMatcherFunc {
  return (text, offset, tokens) => {
    const last = lastToken(tokens)?.tokenType;
    if ((last !== Matches && last !== Redact) || tokens[tokens.length - 2]?.tokenType === Dot) return null;
    sticky.lastIndex = offset;
    return sticky.exec(text);
  };
}

export const RegexLiteral = createToken({
  name: "RegexLiteral",
  pattern: afterMatches(/\/(?:[^/\\\n\r[]|\\[^\n\r]|\[(?:[^\]\\\n\r]|\\[^\n\r])*\])+\/[A-Za-z]*/y),
  start_chars_hint: ["/"],
  line_breaks: false,
  label: "a regular expression",
});
export const UnterminatedRegex = createToken({
  name: "UnterminatedRegex",
  pattern: afterMatches(/\/[^\n\r]*/y),
  start_chars_hint: ["/"],
  line_breaks: false,
  categories: [RegexLiteral],
  label: "a regular expression",
});

// ---------------------------------------------------------------------------------------------------------
// Punctuation and operators

export const LBrace = createToken({ name: "LBrace", pattern: /\{/, label: "`{`" });
export const RBrace = createToken({ name: "RBrace", pattern: /\}/, label: "`}`" });
export const LParen = createToken({ name: "LParen", pattern: /\(/, label: "`(`" });
export const RParen = createToken({ name: "RParen", pattern: /\)/, label: "`)`" });
export const LBracket = createToken({ name: "LBracket", pattern: /\[/, label: "`[`" });
export const RBracket = createToken({ name: "RBracket", pattern: /\]/, label: "`]`" });
export const Comma = createToken({ name: "Comma", pattern: /,/, label: "`,`" });
export const Dot = createToken({ name: "Dot", pattern: /\./, label: "`.`" });
/** Separates a quantifier's list from its condition: `all p in args.paths: p under "/srv"`. */
export const Colon = createToken({ name: "Colon", pattern: /:/, label: "`:`" });

export const EqEq = createToken({ name: "EqEq", pattern: /==/, categories: [RelationalOperator], label: "`==`" });
export const NotEq = createToken({ name: "NotEq", pattern: /!=/, categories: [RelationalOperator], label: "`!=`" });
export const LtEq = createToken({ name: "LtEq", pattern: /<=/, categories: [RelationalOperator], label: "`<=`" });
export const Lt = createToken({ name: "Lt", pattern: /</, categories: [RelationalOperator], label: "`<`" });
export const GtEq = createToken({ name: "GtEq", pattern: />=/, categories: [RelationalOperator], label: "`>=`" });
export const Gt = createToken({ name: "Gt", pattern: />/, categories: [RelationalOperator], label: "`>`" });
export const Plus = createToken({ name: "Plus", pattern: /\+/, categories: [AdditiveOperator], label: "`+`" });
export const Minus = createToken({ name: "Minus", pattern: /-/, categories: [AdditiveOperator], label: "`-`" });
export const Star = createToken({ name: "Star", pattern: /\*/, categories: [MultiplicativeOperator], label: "`*`" });
export const Slash = createToken({ name: "Slash", pattern: /\//, categories: [MultiplicativeOperator], label: "`/`" });
export const Percent = createToken({ name: "Percent", pattern: /%/, categories: [MultiplicativeOperator], label: "`%`" });

/** Lexer order matters: the first pattern that matches wins, so longer forms come before their prefixes. */
export const ALL_TOKENS: readonly TokenType[] = [
  WhiteSpace,
  LineComment,
  BlockComment,
  UnterminatedComment,
  RegexLiteral,
  UnterminatedRegex,
  StringLiteral,
  UnterminatedString,
  DurationLiteral,
  InvalidNumber,
  NumberLiteral,
  // Longest keyword first, so that `to` cannot shadow `tool` nor `per` shadow `permit`.
  ...[...KEYWORDS].sort((a, b) => (b.LABEL ?? "").length - (a.LABEL ?? "").length),
  HyphenatedName,
  Identifier,
  LBrace, RBrace, LParen, RParen, LBracket, RBracket, Comma, Dot, Colon,
  EqEq, NotEq, LtEq, Lt, GtEq, Gt, Plus, Minus, Star, Slash, Percent,
  Word, PathRoot, RelationalOperator, AdditiveOperator, MultiplicativeOperator,
];

export const PolicyLexer = new Lexer([...ALL_TOKENS], {
  positionTracking: "full",
  ensureOptimizations: true,
});
