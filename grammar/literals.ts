// Decoding of literal tokens (strings, numbers, durations, regexes) into values, with the problems each may have.
// The validation pass and the AST builder share these, so a value and its diagnostic never disagree.
import type { DurationUnit } from "./ast.js";

/** A problem inside a literal, as an offset and length relative to the token's first character. */
export interface LiteralProblem {
  readonly kind: "invalidEscape" | "unterminated" | "invalidNumber" | "numberOutOfRange" | "invalidRegexFlags";
  readonly offset: number;
  readonly length: number;
  readonly text: string;
}

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  '"': '"',
  "\\": "\\",
  "/": "/",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
};

/** Decodes a string token (quotes included) with JSON escapes; an invalid escape is kept as written. */
export function decodeString(image: string): { value: string; problems: LiteralProblem[] } {
  const problems: LiteralProblem[] = [];
  const closed = image.length >= 2 && image.endsWith('"') && !isEscapedQuoteAtEnd(image);
  const body = closed ? image.slice(1, -1) : image.slice(1);
  if (!closed) problems.push({ kind: "unterminated", offset: 0, length: image.length, text: image });
  let value = "";
  for (let i = 0; i < body.length; i += 1) {
    const ch = body[i]!;
    if (ch !== "\\") {
      value += ch;
      continue;
    }
    const next = body[i + 1];
    if (next === undefined) {
      problems.push({ kind: "invalidEscape", offset: i + 1, length: 1, text: "\\" });
      value += "\\";
      continue;
    }
    const simple = SIMPLE_ESCAPES[next];
    if (simple !== undefined) {
      value += simple;
      i += 1;
      continue;
    }
    const hex = body.slice(i + 2, i + 6);
    if (next === "u" && /^[0-9A-Fa-f]{4}$/.test(hex)) {
      value += String.fromCharCode(Number.parseInt(hex, 16));
      i += 5;
      continue;
    }
    const escape = next === "u" ? `\\u${hex.match(/^[0-9A-Fa-f]*/)![0]}` : `\\${String.fromCodePoint(body.codePointAt(i + 1)!)}`;
    problems.push({ kind: "invalidEscape", offset: i + 1, length: escape.length, text: escape });
    value += escape;
    i += escape.length - 1;
  }
  return { value, problems };
}

/** True when the final `"` is itself escaped (`"abc\"`), so the string is not closed. */
function isEscapedQuoteAtEnd(image: string): boolean {
  let backslashes = 0;
  for (let i = image.length - 2; i >= 1 && image[i] === "\\"; i -= 1) backslashes += 1;
  return backslashes % 2 === 1;
}

/** Decodes a number token. Digits that run into letters (`10min`) and integers beyond 2^53 are problems. */
export function decodeNumber(image: string): { value: number; integer: boolean; problems: LiteralProblem[] } {
  if (!/^[0-9]+(?:\.[0-9]+)?$/.test(image)) {
    return { value: Number.NaN, integer: false, problems: [{ kind: "invalidNumber", offset: 0, length: image.length, text: image }] };
  }
  const integer = !image.includes(".");
  const value = Number(image);
  const problems: LiteralProblem[] =
    (integer && !Number.isSafeInteger(value)) || !Number.isFinite(value)
      ? [{ kind: "numberOutOfRange", offset: 0, length: image.length, text: image }]
      : [];
  return { value, integer, problems };
}

const UNIT_MS: Readonly<Record<DurationUnit, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function decodeDuration(image: string): {
  amount: number;
  unit: DurationUnit;
  ms: number;
  problems: LiteralProblem[];
} {
  const match = /^([0-9]+)(ms|s|m|h|d)$/.exec(image);
  if (match === null) {
    return { amount: Number.NaN, unit: "ms", ms: Number.NaN, problems: [{ kind: "invalidNumber", offset: 0, length: image.length, text: image }] };
  }
  const amount = Number(match[1]);
  const unit = match[2] as DurationUnit;
  const ms = amount * UNIT_MS[unit];
  const problems: LiteralProblem[] = Number.isSafeInteger(ms)
    ? []
    : [{ kind: "numberOutOfRange", offset: 0, length: image.length, text: image }];
  return { amount, unit, ms, problems };
}

const REGEX_FLAGS = /^(?!.*(.).*\1)[imsu]*$/;

/** Splits a regex token into pattern and flags. Whether the pattern compiles is the checker's question. */
export function decodeRegex(
  image: string,
  terminated: boolean,
): { pattern: string; flags: string; problems: LiteralProblem[] } {
  const close = image.lastIndexOf("/");
  if (!terminated || close <= 0) {
    return { pattern: image.slice(1), flags: "", problems: [{ kind: "unterminated", offset: 0, length: image.length, text: image }] };
  }
  const pattern = image.slice(1, close);
  const flags = image.slice(close + 1);
  const problems: LiteralProblem[] = REGEX_FLAGS.test(flags)
    ? []
    : [{ kind: "invalidRegexFlags", offset: close + 1, length: flags.length, text: flags }];
  return { pattern, flags, problems };
}
