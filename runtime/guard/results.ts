// What compiled guards call to decide on a tool's result: the view `result.*` paths read (`text`, `isError`,
// `structured`), the explanation sentences of result rules, and the ResultDecision built from rule outcome codes.
import { fail } from "./helpers.js";
import type { Explanation, ResultDecision, ResultRedaction, CallResult } from "./types.js";

/** What `result.*` paths read: `result.text`, `result.isError`, `result.structured`. */
export interface ResultView {
  /** The text items of `content`, and the text of embedded resources, joined by newlines. */
  readonly text: string;
  readonly isError: boolean;
  /** `structuredContent`; undefined when the result has none. */
  readonly structured: unknown;
}

/** The view of a result; content items that are not text (images, audio, links) contribute nothing to `text`. */
export function resultView(result: CallResult): ResultView {
  const content = result["content"];
  const texts: string[] = [];
  if (Array.isArray(content)) {
    for (const item of content as unknown[]) {
      if (typeof item !== "object" || item === null) continue;
      const entry = item as Record<string, unknown>;
      if (entry["type"] === "text" && typeof entry["text"] === "string") texts.push(entry["text"]);
      const resource = entry["resource"];
      if (entry["type"] === "resource" && typeof resource === "object" && resource !== null) {
        const text = (resource as Record<string, unknown>)["text"];
        if (typeof text === "string") texts.push(text);
      }
    }
  }
  return { text: texts.join("\n"), isError: result["isError"] === true, structured: result["structuredContent"] };
}

/** The sentences of result decisions; the interpreter and compiled guards both word them from here. */
export const resultText = {
  refused: (id: string) => `result refused by rule \`${id}\``,
  applied: (ids: readonly string[]) => `result rules applied: ${ids.map((id) => `\`${id}\``).join(", ")}`,
  noneApplied: "no result rule applied",
} as const;

/** A result rule as a compiled guard hoists it. Outcome codes as for call rules: 0 applies, k > 0 failed clause k, -1 not evaluated. */
export interface ResultStep {
  readonly id: string;
  readonly action: "refuse" | "redact" | "mark";
  readonly because: string | undefined;
  readonly redaction: ResultRedaction | undefined;
  readonly label: string | undefined;
  readonly seen: boolean;
  readonly outcomes: readonly Explanation[];
}

/** The decision of no result rule at all, for tools no result rule targets. */
export const RESULT_PASS: ResultDecision = Object.freeze({
  decision: "pass",
  determining: Object.freeze([]),
  reason: resultText.noneApplied,
  redactions: Object.freeze([]),
  marks: Object.freeze([]),
  seen: Object.freeze([]),
  explain: Object.freeze([]),
});

/**
 * The ResultDecision of a compiled guard from its steps' outcome codes. Every result rule fails closed: one that
 * cannot be evaluated applies (a refusal refuses, a redaction redacts, a mark marks).
 */
export function decideResult(steps: readonly ResultStep[], codes: readonly number[], dynamic: readonly (Explanation | undefined)[] | undefined): ResultDecision {
  const explain: Explanation[] = [];
  const applying: ResultStep[] = [];
  steps.forEach((step, i) => {
    const code = codes[i]!;
    explain.push(code < 0 ? dynamic![i]! : step.outcomes[code]!);
    if (code <= 0) applying.push(step);
  });
  const refusing = applying.filter((s) => s.action === "refuse");
  if (refusing.length > 0) {
    return { decision: "refuse", determining: refusing.map((s) => s.id), reason: refusing[0]!.because ?? resultText.refused(refusing[0]!.id), redactions: [], marks: [], seen: [], explain };
  }
  const reason = applying.length === 0 ? resultText.noneApplied : (applying[0]!.because ?? resultText.applied(applying.map((s) => s.id)));
  return {
    decision: "pass",
    determining: applying.map((s) => s.id),
    reason,
    redactions: applying.flatMap((s) => (s.redaction === undefined ? [] : [s.redaction])),
    marks: applying.flatMap((s) => (s.action === "mark" && !s.seen ? [s.label!] : [])),
    seen: applying.flatMap((s) => (s.seen ? [s.label!] : [])),
    explain,
  };
}

/** `seen(label)` of a compiled guard: a history that keeps no marks cannot answer, which fails a `forbid` closed. */
export function seenMark(history: { seen?(label: string): boolean }, label: string): boolean {
  if (history.seen === undefined) fail("the call history keeps no `seen` marks");
  return history.seen(label);
}

// ---------------------------------------------------------------------------------------------------------
// Literal prefilters. Most regexes a policy writes start with a literal (`AKIA`, `ghp_`, `ignore `); scanning 10 KiB
// for a literal with `includes` is tens of times faster than running the regex over it, and a text without the
// literal cannot match. The prefilter only ever skips a regex that could not have matched.

const META = new Set(["\\", "^", "$", ".", "|", "?", "*", "+", "(", ")", "[", "]", "{", "}"]);
/** Escapes that stand for their character itself; any other escape (`\s`, `\d`, `\b`, `\u0041`) ends the literal. */
const ESCAPED_SELF = /^[-\/\\^$.|?*+()[\]{}<>!=:#&~'",%@`;_ ]$/;
/** Shorter literals are common in any text: the prefilter would rarely skip and only add its own cost. */
const MIN_LITERAL = 3;

/** Whether the pattern has an alternation outside every group and class, where no prefix is common to all matches. */
function topLevelAlternation(source: string): boolean {
  let depth = 0;
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === "\\") i++;
    else if (inClass) inClass = c !== "]";
    else if (c === "[") inClass = true;
    else if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "|" && depth === 0) return true;
  }
  return false;
}

/**
 * A literal every match of `source` contains: the run of plain characters it starts with (after `^`), without a last
 * character that a quantifier makes optional or repeatable. Undefined when there is none of MIN_LITERAL characters.
 */
export function requiredLiteral(source: string): string | undefined {
  if (topLevelAlternation(source)) return undefined;
  let literal = "";
  let i = source.startsWith("^") ? 1 : 0;
  while (i < source.length) {
    const c = source[i]!;
    if (c === "\\") {
      const next = source[i + 1];
      if (next === undefined || !ESCAPED_SELF.test(next)) break;
      literal += next;
      i += 2;
      continue;
    }
    if (META.has(c)) break;
    literal += c;
    i++;
  }
  const after = source[i];
  if (after === "?" || after === "*" || after === "{") literal = literal.slice(0, -1);
  // Spaces are the commonest character of text: a needle that ends in one makes the substring search slow.
  literal = literal.trim();
  return literal.length >= MIN_LITERAL ? literal : undefined;
}

let lastText: string | undefined;
let lastLowered = "";

/** The text in lower case, computed once for the several case-insensitive regexes that read the same result. */
function lowered(text: string): string {
  if (text !== lastText) {
    lastText = text;
    lastLowered = text.toLowerCase();
  }
  return lastLowered;
}

/**
 * The regex with a literal prefilter on `test`, when it has a required literal. Case-insensitive regexes are filtered
 * on the lower-cased text only when the literal is ASCII and the `u` flag is absent: without `u`, no character outside
 * ASCII matches an ASCII one case-insensitively, and lower-casing maps ASCII one to one; under `u`, `ſ` matches `s`.
 */
export function prefiltered(re: RegExp): RegExp {
  const literal = requiredLiteral(re.source);
  if (literal === undefined || re.global || re.sticky) return re;
  const fold = re.ignoreCase;
  if (fold && (re.unicode || re.flags.includes("v") || !/^[\x20-\x7e]*$/.test(literal))) return re;
  const needle = fold ? literal.toLowerCase() : literal;
  const test = RegExp.prototype.test;
  Object.defineProperty(re, "test", {
    value: (text: string): boolean => (fold ? lowered(text) : text).includes(needle) && test.call(re, text),
  });
  return re;
}
