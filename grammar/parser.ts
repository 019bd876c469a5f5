// The grammar of the policy language as a Chevrotain CST parser. It only recognises structure; grammar/build-ast.ts
// turns the CST into the typed AST. One instance is reused for every file (`policyParser.input = tokens`).
import { CstParser, EOF, tokenLabel, type IOrAlt, type IParserErrorMessageProvider, type IRecognitionException, type IToken, type TokenType } from "chevrotain";
import * as T from "./tokens.js";

/** How many syntax errors one parse collects before it stops: the caller reports 100 and then "too many errors". */
export const MAX_PARSE_ERRORS = 101;

/** Thrown out of the parser (Chevrotain rethrows anything that is not a recognition error) to stop a hopeless parse. */
export class ParseErrorLimitReached extends Error {
  constructor() {
    super("syntax error limit reached");
    this.name = "ParseErrorLimitReached";
  }
}

/** What a rule stands for, used when no single token was expected. */
const RULE_DESCRIPTIONS: Readonly<Record<string, string>> = {
  policyFile: "a statement",
  statement: "a statement (`timezone`, `manifest`, `identity`, `transport`, `permit`, `forbid`, `ask`, `limit`, `refuse`, `redact` or `mark`)",
  resultRule: "`refuse`, `redact` or `mark`",
  toolTarget: "`*` or a tool name",
  toolName: "a tool name",
  requireBlock: "`identity` or `transport`",
  callRule: "`permit`, `forbid` or `ask`",
  notExpression: "an expression",
  comparison: "an expression",
  unaryExpression: "an expression",
  primary: "an expression",
  callArgument: "an expression or `*`",
  pathSegment: "`.field`, `[\"field\"]` or `[index]`",
  indexSelector: "a string or a whole number",
  nameOrCall: "`(` or a path step",
  limitScope: "`client` or `session`",
};

/** Separates the message from a help text inside Chevrotain's single message string; grammar/parse.ts splits it. */
export const HELP_SEPARATOR = "\u0000help:";

export function describeFound(token: IToken): string {
  if (token.tokenType === EOF) return "end of file";
  const image = token.image.length > 40 ? `${token.image.slice(0, 40)}…` : token.image;
  return `\`${image.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)}\``;
}

function joinAlternatives(items: readonly string[]): string {
  const unique = [...new Set(items)];
  if (unique.length <= 1) return unique[0] ?? "something else";
  return `${unique.slice(0, -1).join(", ")} or ${unique[unique.length - 1]}`;
}

function describeExpected(ruleName: string, paths: readonly (readonly TokenType[])[]): string {
  const description = RULE_DESCRIPTIONS[ruleName];
  if (description !== undefined) return description;
  return joinAlternatives(paths.map((path) => (path[0] === undefined ? "end of file" : tokenLabel(path[0]))));
}

/** Advice for common slips: a keyword as a tool name, a chained comparison. */
function helpFor(ruleName: string, actual: IToken): string {
  if ((ruleName === "toolTarget" || ruleName === "toolName") && T.KEYWORD_WORDS.has(actual.image)) {
    return `${HELP_SEPARATOR}\`${actual.image}\` is a keyword; write the tool name as a string: \`"${actual.image}"\``;
  }
  if (actual.tokenType.CATEGORIES?.includes(T.RelationalOperator) === true) {
    return `${HELP_SEPARATOR}comparisons do not chain; combine them with \`and\``;
  }
  return "";
}

const errorMessageProvider: IParserErrorMessageProvider = {
  buildMismatchTokenMessage({ expected, actual, ruleName }) {
    // Expecting EOF means the top-level loop hit something that cannot start a statement.
    const wanted = expected === EOF ? RULE_DESCRIPTIONS["statement"] : tokenLabel(expected);
    return `expected ${wanted}, found ${describeFound(actual)}${helpFor(ruleName, actual)}`;
  },
  buildNotAllInputParsedMessage({ firstRedundant }) {
    return `expected ${RULE_DESCRIPTIONS["statement"]}, found ${describeFound(firstRedundant)}`;
  },
  buildNoViableAltMessage({ expectedPathsPerAlt, actual, ruleName }) {
    const found = actual[0]!;
    const expected = describeExpected(ruleName, expectedPathsPerAlt.flat());
    return `expected ${expected}, found ${describeFound(found)}${helpFor(ruleName, found)}`;
  },
  buildEarlyExitMessage({ expectedIterationPaths, actual, ruleName }) {
    const found = actual[0]!;
    return `expected ${describeExpected(ruleName, expectedIterationPaths)}, found ${describeFound(found)}${helpFor(ruleName, found)}`;
  },
};

// Alternatives are wrapped by a function rather than written as `{ ALT: () => ... }`: an arrow in a property is
// renamed at every call when the code runs under tsx (esbuild keepNames), which made parsing several times slower.
function alt(run: () => unknown): IOrAlt<unknown> {
  return { ALT: run };
}

function def(run: () => unknown): () => unknown {
  return run;
}

type SaveError = (this: PolicyParser, error: IRecognitionException) => IRecognitionException;

export class PolicyParser extends CstParser {
  private savedErrors = 0;

  constructor() {
    super([...T.ALL_TOKENS], { recoveryEnabled: true, maxLookahead: 3, errorMessageProvider });
    this.performSelfAnalysis();
  }

  override set input(tokens: IToken[]) {
    this.savedErrors = 0;
    super.input = tokens;
  }

  override get input(): IToken[] {
    return super.input;
  }

  /** Chevrotain's hook for every recognition error; counting here lets a hopeless parse stop early. */
  SAVE_ERROR(error: IRecognitionException): IRecognitionException {
    const saved = (CstParser.prototype as unknown as { SAVE_ERROR: SaveError }).SAVE_ERROR.call(this, error);
    this.savedErrors += 1;
    if (this.savedErrors >= MAX_PARSE_ERRORS) throw new ParseErrorLimitReached();
    return saved;
  }

  // -------------------------------------------------------------------------------------------------------
  // Statements

  policyFile = this.RULE("policyFile", () => {
    this.OPTION(() => this.SUBRULE(this.policyHeader));
    this.MANY(() => this.SUBRULE(this.statement));
  });

  policyHeader = this.RULE("policyHeader", () => {
    this.CONSUME(T.Policy);
    this.CONSUME(T.Word, { LABEL: "name" });
    this.OPTION(() => {
      this.CONSUME(T.Version);
      this.CONSUME(T.NumberLiteral, { LABEL: "version" });
    });
  });

  statement = this.RULE("statement", () => {
    this.OR([
      alt(() => this.SUBRULE(this.timezoneDecl)),
      alt(() => this.SUBRULE(this.manifestDecl)),
      alt(() => this.SUBRULE(this.requireBlock)),
      alt(() => this.SUBRULE(this.callRule)),
      alt(() => this.SUBRULE(this.limitRule)),
      alt(() => this.SUBRULE(this.resultRule)),
    ]);
  });

  timezoneDecl = this.RULE("timezoneDecl", () => {
    this.CONSUME(T.Timezone);
    this.CONSUME(T.StringLiteral, { LABEL: "zone" });
  });

  manifestDecl = this.RULE("manifestDecl", () => {
    this.CONSUME(T.Manifest);
    this.CONSUME(T.StringLiteral, { LABEL: "path" });
    this.OPTION(() => {
      this.CONSUME(T.Signed);
      this.CONSUME(T.By);
      this.CONSUME2(T.StringLiteral, { LABEL: "signedBy" });
    });
  });

  requireBlock = this.RULE("requireBlock", () => {
    this.OR([alt(() => this.CONSUME(T.Identity)), alt(() => this.CONSUME(T.Transport))]);
    this.CONSUME(T.LBrace);
    this.MANY(() => this.SUBRULE(this.requirement));
    this.CONSUME(T.RBrace);
  });

  requirement = this.RULE("requirement", () => {
    this.CONSUME(T.Require);
    this.SUBRULE(this.expression, { LABEL: "condition" });
  });

  callRule = this.RULE("callRule", () => {
    this.OR([
      alt(() => this.CONSUME(T.Permit, { LABEL: "effect" })),
      alt(() => this.CONSUME(T.Forbid, { LABEL: "effect" })),
      alt(() => this.CONSUME(T.Ask, { LABEL: "effect" })),
    ]);
    this.CONSUME(T.Tool);
    this.SUBRULE(this.toolTarget);
    this.OPTION(() => {
      this.CONSUME(T.When);
      this.SUBRULE(this.expression, { LABEL: "when" });
    });
    this.OPTION2(() => {
      this.CONSUME(T.Unless);
      this.SUBRULE2(this.expression, { LABEL: "unless" });
    });
    this.OPTION3(() => {
      this.CONSUME(T.Because);
      this.CONSUME(T.StringLiteral, { LABEL: "because" });
    });
  });

  limitRule = this.RULE("limitRule", () => {
    this.CONSUME(T.Limit);
    this.CONSUME(T.Tool);
    this.SUBRULE(this.toolTarget);
    this.CONSUME(T.To);
    this.CONSUME(T.NumberLiteral, { LABEL: "count" });
    this.CONSUME(T.Per);
    this.CONSUME(T.DurationLiteral, { LABEL: "window" });
    this.OPTION(() => {
      this.CONSUME2(T.Per, { LABEL: "scopePer" });
      this.SUBRULE(this.limitScope);
    });
  });

  /** `refuse result of T`, `redact /re/ in result of T`, `mark result of T ... as [seen] "label"`. */
  resultRule = this.RULE("resultRule", () => {
    this.OR([
      alt(() => this.CONSUME(T.Refuse, { LABEL: "action" })),
      alt(() => this.CONSUME(T.Mark, { LABEL: "action" })),
      alt(() => {
          this.CONSUME(T.Redact, { LABEL: "action" });
          this.CONSUME(T.RegexLiteral, { LABEL: "pattern" });
          this.CONSUME(T.In);
        }),
    ]);
    this.CONSUME(T.Result);
    this.CONSUME(T.Of);
    this.SUBRULE(this.toolTarget);
    this.OPTION(() => {
      this.CONSUME(T.When);
      this.SUBRULE(this.expression, { LABEL: "when" });
    });
    this.OPTION2(() => {
      this.CONSUME(T.Unless);
      this.SUBRULE2(this.expression, { LABEL: "unless" });
    });
    this.OPTION3(() => {
      this.CONSUME(T.As);
      this.OPTION4(() => this.CONSUME(T.Identifier, { LABEL: "seen" }));
      this.CONSUME(T.StringLiteral, { LABEL: "label" });
    });
    this.OPTION5(() => {
      this.CONSUME(T.Because);
      this.CONSUME2(T.StringLiteral, { LABEL: "because" });
    });
  });

  limitScope = this.RULE("limitScope", () => {
    this.OR([alt(() => this.CONSUME(T.Client)), alt(() => this.CONSUME(T.Session))]);
  });

  toolTarget = this.RULE("toolTarget", () => {
    this.OR([
      alt(() => this.CONSUME(T.Star)),
      alt(() =>
          this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: def(() => this.SUBRULE(this.toolName)) }),
        ),
    ]);
  });

  toolName = this.RULE("toolName", () => {
    this.OR([alt(() => this.CONSUME(T.Identifier)), alt(() => this.CONSUME(T.StringLiteral))]);
  });

  // -------------------------------------------------------------------------------------------------------
  // Expressions, loosest binding first

  expression = this.RULE("expression", () => {
    this.SUBRULE(this.orExpression);
  });

  orExpression = this.RULE("orExpression", () => {
    this.SUBRULE(this.andExpression, { LABEL: "operand" });
    this.MANY(() => {
      this.CONSUME(T.Or);
      this.SUBRULE2(this.andExpression, { LABEL: "operand" });
    });
  });

  andExpression = this.RULE("andExpression", () => {
    this.SUBRULE(this.notExpression, { LABEL: "operand" });
    this.MANY(() => {
      this.CONSUME(T.And);
      this.SUBRULE2(this.notExpression, { LABEL: "operand" });
    });
  });

  notExpression = this.RULE("notExpression", () => {
    this.OR([
      alt(() => {
          this.CONSUME(T.Not);
          this.SUBRULE(this.notExpression, { LABEL: "operand" });
        }),
      alt(() => this.SUBRULE(this.comparison, { LABEL: "operand" })),
    ]);
  });

  /** Comparisons do not chain: `a < b < c` is a syntax error, as in Cedar. */
  comparison = this.RULE("comparison", () => {
    this.SUBRULE(this.additiveExpression, { LABEL: "left" });
    this.OPTION(() => {
      this.OR([
        alt(() => this.CONSUME(T.RelationalOperator, { LABEL: "operator" })),
        alt(() => {
            this.CONSUME(T.Not, { LABEL: "operator" });
            this.CONSUME(T.In, { LABEL: "notIn" });
          }),
      ]);
      this.SUBRULE2(this.additiveExpression, { LABEL: "right" });
    });
  });

  additiveExpression = this.RULE("additiveExpression", () => {
    this.SUBRULE(this.multiplicativeExpression, { LABEL: "operand" });
    this.MANY(() => {
      this.CONSUME(T.AdditiveOperator, { LABEL: "operator" });
      this.SUBRULE2(this.multiplicativeExpression, { LABEL: "operand" });
    });
  });

  multiplicativeExpression = this.RULE("multiplicativeExpression", () => {
    this.SUBRULE(this.unaryExpression, { LABEL: "operand" });
    this.MANY(() => {
      this.CONSUME(T.MultiplicativeOperator, { LABEL: "operator" });
      this.SUBRULE2(this.unaryExpression, { LABEL: "operand" });
    });
  });

  unaryExpression = this.RULE("unaryExpression", () => {
    this.OR([
      alt(() => {
          this.CONSUME(T.Minus);
          this.SUBRULE(this.unaryExpression, { LABEL: "operand" });
        }),
      alt(() => this.SUBRULE(this.primary, { LABEL: "operand" })),
    ]);
  });

  primary = this.RULE("primary", () => {
    this.OR([
      alt(() => this.CONSUME(T.NumberLiteral)),
      alt(() => this.CONSUME(T.DurationLiteral)),
      alt(() => this.CONSUME(T.StringLiteral)),
      alt(() => this.CONSUME(T.RegexLiteral)),
      alt(() => this.CONSUME(T.True)),
      alt(() => this.CONSUME(T.False)),
      alt(() => this.SUBRULE(this.listLiteral)),
      alt(() => this.SUBRULE(this.path)),
      { GATE: () => this.atQuantifier(), ALT: () => this.SUBRULE(this.quantifier) },
      alt(() => this.SUBRULE(this.nameOrCall)),
      alt(() => this.SUBRULE(this.hasExpression)),
      alt(() => this.SUBRULE(this.parenthesised)),
    ]);
  });

  /**
   * `all` and `any` are not keywords (tools and fields may be called so); they start a quantifier only when a name and
   * `in` follow: `all p in args.paths: ...`.
   */
  private atQuantifier(): boolean {
    const first = this.LA(1);
    return first.tokenType === T.Identifier && (first.image === "all" || first.image === "any") && this.LA(2).tokenType === T.Identifier && this.LA(3).tokenType === T.In;
  }

  quantifier = this.RULE("quantifier", () => {
    this.CONSUME(T.Identifier, { LABEL: "quantifier" });
    this.CONSUME2(T.Identifier, { LABEL: "variable" });
    this.CONSUME(T.In);
    this.SUBRULE(this.additiveExpression, { LABEL: "list" });
    this.CONSUME(T.Colon);
    this.SUBRULE(this.expression, { LABEL: "body" });
  });

  listLiteral = this.RULE("listLiteral", () => {
    this.CONSUME(T.LBracket);
    this.MANY_SEP({ SEP: T.Comma, DEF: def(() => this.SUBRULE(this.expression, { LABEL: "element" })) });
    this.CONSUME(T.RBracket);
  });

  path = this.RULE("path", () => {
    this.CONSUME(T.PathRoot, { LABEL: "root" });
    this.MANY(() => this.SUBRULE(this.pathSegment));
  });

  pathSegment = this.RULE("pathSegment", () => {
    this.OR([
      alt(() => {
          this.CONSUME(T.Dot);
          this.CONSUME(T.Word, { LABEL: "field" });
        }),
      alt(() => {
          this.CONSUME(T.LBracket);
          this.SUBRULE(this.indexSelector);
          this.CONSUME(T.RBracket);
        }),
    ]);
  });

  indexSelector = this.RULE("indexSelector", () => {
    this.OR([alt(() => this.CONSUME(T.StringLiteral)), alt(() => this.CONSUME(T.NumberLiteral))]);
  });

  /** A bare name is a tool reference; followed by `(` it is a function call. Path steps after it are reported. */
  nameOrCall = this.RULE("nameOrCall", () => {
    this.CONSUME(T.Identifier, { LABEL: "name" });
    this.OPTION(() => {
      this.OR([
        alt(() => {
          this.SUBRULE(this.callArguments);
          this.OPTION2(() => {
            this.CONSUME(T.Dot, { LABEL: "fieldDot" });
            this.CONSUME(T.Word, { LABEL: "field" });
          });
        }),
        alt(() => this.AT_LEAST_ONE(() => this.SUBRULE(this.pathSegment))),
      ]);
    });
  });

  callArguments = this.RULE("callArguments", () => {
    this.CONSUME(T.LParen);
    this.MANY_SEP({ SEP: T.Comma, DEF: def(() => this.SUBRULE(this.callArgument)) });
    this.CONSUME(T.RParen);
  });

  callArgument = this.RULE("callArgument", () => {
    this.OR([alt(() => this.CONSUME(T.Star)), alt(() => this.SUBRULE(this.expression))]);
  });

  /** `has args.note`, or `has e.oldText` on a quantifier's variable (the AST builder tells a variable from a stray name). */
  hasExpression = this.RULE("hasExpression", () => {
    this.CONSUME(T.Has);
    this.OR([
      alt(() => this.SUBRULE(this.path)),
      alt(() => {
        this.CONSUME(T.Identifier, { LABEL: "variable" });
        this.MANY(() => this.SUBRULE2(this.pathSegment));
      }),
    ]);
  });

  parenthesised = this.RULE("parenthesised", () => {
    this.CONSUME(T.LParen);
    this.SUBRULE(this.expression, { LABEL: "inner" });
    this.CONSUME(T.RParen);
  });
}

export const policyParser = new PolicyParser();
export { PolicyLexer } from "./tokens.js";
