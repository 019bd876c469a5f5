// The syntax part of the diagnostics catalogue (PQG1xxx): stable codes, message templates and an example that
// triggers each. Plain data, so compiler/diagnostics.ts can merge it into the full catalogue.
import type { Span } from "./ast.js";

export interface SyntaxCodeEntry {
  readonly code: string;
  /** One lowercase sentence; `{placeholders}` are filled with user input, which the template puts in backticks. */
  readonly template: string;
  /** A policy snippet that produces this diagnostic. */
  readonly example: string;
  readonly help?: string;
}

export const SYNTAX_CODES = {
  unexpectedCharacter: {
    code: "PQG1001",
    template: "unexpected character {character}",
    example: 'policy p\npermit tool x when client.rоle == "admin"   // Cyrillic `о`',
    help: "identifiers are ASCII letters, digits and `_`",
  },
  unterminatedString: {
    code: "PQG1002",
    template: "unterminated string; a string ends with `\"` on the same line",
    example: 'policy p\ntimezone "Europe/Berlin\n',
  },
  unterminatedComment: {
    code: "PQG1003",
    template: "unterminated block comment; it needs a closing `*/`",
    example: "policy p\n/* permit tool x\n",
  },
  unexpectedToken: {
    code: "PQG1004",
    template: "expected {expected}, found {found}",
    example: "policy p\npermit tool x when args.amount >\n",
  },
  missingPolicyHeader: {
    code: "PQG1005",
    template: "missing policy header; a policy file starts with `policy NAME`",
    example: "permit tool get_balance\n",
  },
  fileTooLarge: {
    code: "PQG1006",
    template: "policy file is {size} bytes, more than the limit of {limit} bytes",
    example: "(any file larger than 1 MiB)",
  },
  nestingTooDeep: {
    code: "PQG1007",
    template: "expression nesting is deeper than {limit} levels",
    example: "policy p\npermit tool x when ((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((true)))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))\n",
  },
  tooManyErrors: {
    code: "PQG1008",
    template: "too many syntax errors; stopped reporting after {limit}",
    example: "(a file with more than 100 syntax errors)",
  },
  invalidEscape: {
    code: "PQG1009",
    template: "invalid escape {escape} in string",
    example: 'policy p\nmanifest "C:\\tools\\x.json"\n',
    help: 'strings use JSON escapes: `\\"`, `\\\\`, `\\/`, `\\b`, `\\f`, `\\n`, `\\r`, `\\t` and `\\uXXXX`',
  },
  invalidNumber: {
    code: "PQG1010",
    template: "invalid number or duration {text}",
    example: "policy p\nlimit tool x to 5 per 10min\n",
    help: "a duration is a whole number directly followed by `ms`, `s`, `m`, `h` or `d`, such as `10m`",
  },
  numberOutOfRange: {
    code: "PQG1011",
    template: "number {text} is too large",
    example: "policy p\npermit tool x when args.n < 123456789012345678901234567890\n",
    help: "integers must lie within ±9007199254740991",
  },
  unterminatedRegex: {
    code: "PQG1012",
    template: "unterminated regular expression; it needs a closing `/` on the same line",
    example: "policy p\npermit tool x when args.path matches /^tmp\n",
  },
  invalidRegexFlags: {
    code: "PQG1013",
    template: "invalid regular expression flags {flags}",
    example: "policy p\npermit tool x when args.path matches /^tmp/g\n",
    help: "allowed flags are `i`, `m`, `s` and `u`, each at most once",
  },
  unknownPathRoot: {
    code: "PQG1014",
    template: "{name} does not start a path",
    example: "policy p\npermit tool x when arg.amount > 5\n",
    help: "paths start with `args`, `tool`, `client`, `peer`, `transport`, `session` or `time`",
  },
  invalidIndex: {
    code: "PQG1015",
    template: "invalid index {text}; an index is a whole number",
    example: "policy p\npermit tool x when args.items[1.5] == 1\n",
  },
  expressionTooLong: {
    code: "PQG1016",
    template: "expression has more than {limit} operators",
    example: "(a condition joining more than 1000 comparisons with `and`)",
    help: "split the condition over several rules",
  },
  parserFailure: {
    code: "PQG1017",
    template: "the parser failed on this input: {detail}",
    example: "(none known; reported instead of crashing should the parser hit a bug)",
  },
} as const satisfies Record<string, SyntaxCodeEntry>;

export type SyntaxCodeName = keyof typeof SYNTAX_CODES;

/** Fills a template's `{placeholders}`; values are inserted as given (callers add backticks around user input). */
export function syntaxMessage(name: SyntaxCodeName, values: Readonly<Record<string, string | number>> = {}): string {
  return SYNTAX_CODES[name].template.replace(/\{(\w+)\}/g, (whole, key: string) =>
    Object.hasOwn(values, key) ? String(values[key]) : whole,
  );
}

/** Puts user text in backticks, shortened so that a megabyte of junk does not become a megabyte of message. */
export function quoteUserText(text: string, max = 40): string {
  const shown = text.length > max ? `${text.slice(0, max)}…` : text;
  return `\`${shown.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)}\``;
}

/** One syntax error found while reading a policy file. */
export interface SyntaxProblem {
  readonly code: string;
  readonly message: string;
  readonly span: Span;
  readonly help?: string;
}

export function syntaxProblem(
  name: SyntaxCodeName,
  span: Span,
  values: Readonly<Record<string, string | number>> = {},
  help?: string,
): SyntaxProblem {
  const entry: SyntaxCodeEntry = SYNTAX_CODES[name];
  const chosenHelp = help ?? entry.help;
  const problem = { code: entry.code, message: syntaxMessage(name, values), span };
  return chosenHelp === undefined ? problem : { ...problem, help: chosenHelp };
}
