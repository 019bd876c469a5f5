// The one catalogue of policy diagnostics, with stable codes, and the single helper that turns a node and a
// catalogue entry into a Diagnostic. PQG1xxx syntax (from grammar/), PQG2xxx names, PQG3xxx types, PQG4xxx warnings.
import type { Span } from "../grammar/ast.js";
import { SYNTAX_CODES } from "../grammar/syntax-codes.js";

export type Severity = "error" | "warning";

export interface Diagnostic {
  readonly code: string;
  readonly severity: Severity;
  /** One lowercase sentence; user input in backticks. */
  readonly message: string;
  /** Extra advice, e.g. "did you mean `process_refund`?". */
  readonly help?: string | undefined;
  /** The file the span points into, as the user named it. */
  readonly file: string;
  readonly span: Span;
}

/** A catalogue entry: the code, its severity, a message template with `{name}` holes and a title for the docs. */
export interface DiagnosticEntry {
  readonly code: string;
  readonly severity: Severity;
  readonly template: string;
  readonly title: string;
}

function entry<const T extends string>(code: string, severity: Severity, template: T, title: string) {
  return { code, severity, template, title } as const;
}

/** Checker diagnostics. Codes never change meaning once published; retired codes are not reused. */
const CHECK_DIAGNOSTICS = {
  // Names
  unknownTool: entry("PQG2001", "error", "unknown tool `{tool}`", "a tool name that no manifest defines"),
  unknownField: entry("PQG2002", "error", "unknown field `{field}` in `{path}`", "an `args` path that the tool's inputSchema does not define"),
  unknownPath: entry("PQG2003", "error", "unknown path `{path}`", "a fact path that does not exist, such as `client.rol`"),
  unknownFunction: entry("PQG2004", "error", "unknown function `{name}`", "a call to a function the language does not have"),
  manifestNotFound: entry("PQG2005", "error", "manifest `{path}` cannot be read: {detail}", "a manifest file that is missing or unreadable"),
  unknownAlgorithm: entry("PQG2006", "error", "unknown {family} algorithm `{name}`", "an algorithm name not in the algorithm table"),
  unknownTimeZone: entry("PQG2007", "error", "unknown time zone `{zone}`", "a `timezone` that is not an IANA zone name"),
  duplicateTimezone: entry("PQG2008", "error", "the time zone is already set at line {line}", "a second `timezone` statement"),
  duplicateManifest: entry("PQG2009", "error", "manifest `{path}` is already declared at line {line}", "the same manifest declared twice"),
  duplicateToolDefinition: entry("PQG2010", "error", "tool `{tool}` is defined by both `{first}` and `{second}`", "two manifests define the same tool name"),
  invalidManifest: entry("PQG2011", "error", "manifest `{path}` is not a valid tool list: {detail}", "a manifest that is not JSON or not a tool list"),
  fieldNotCommon: entry("PQG2012", "error", "`{path}` is not an argument of every targeted tool: {detail}", "a field missing, or typed differently, in one of several targeted tools"),
  unexpectedName: entry("PQG2013", "error", "unexpected name `{name}`; a bare name is a tool reference, allowed only as the first argument of `calls()` and `called()`", "a bare identifier where a value is expected"),
  unexpectedStar: entry("PQG2014", "error", "`*` is allowed only as the first argument of `calls()` and `called()`", "`*` used as a value"),
  noToolContext: entry("PQG2015", "error", "`{path}` is not available in a requirement; requirements are about the session, not one call", "an `args` or `tool` path in an `identity` or `transport` requirement"),
  manifestNotSigned: entry("PQG2016", "error", "manifest `{path}` is not signed, but the policy requires a signature by `{fingerprint}`", "`signed by` on a manifest that carries no signature"),
  manifestSignature: entry("PQG2017", "error", "manifest `{path}` fails signature verification: {detail}", "a signed manifest whose signature does not verify or whose signer is another key"),
  unusedManifestOverride: entry("PQG2018", "error", "manifest `{path}` given on the command line matches no `manifest` statement", "a `--manifest` file whose base name matches no `manifest` statement"),
  unknownUrlField: entry("PQG2020", "error", "a URL has no field `{field}`; its fields are `scheme`, `host`, `port`, `path`, `query` and `credentials`", "a `url(...)` field that does not exist"),
  unreadablePolicy: entry("PQG2019", "error", "policy file `{path}` cannot be read: {detail}", "a policy file that is missing or unreadable"),
  resultOutsideResultRule: entry("PQG2030", "error", "`{path}` is available only in a result rule (`refuse`, `redact` or `mark result of`)", "a `result` path in a call rule or a requirement"),
  noOutputSchema: entry("PQG2031", "error", "`{path}` cannot be typed: tool `{tool}` declares no outputSchema", "a `result.structured` path on a tool without an outputSchema"),
  // Types
  typeMismatch: entry("PQG3001", "error", "`{left}` is {leftType} but `{right}` is {rightType}", "the two sides of a comparison have different types"),
  badOperand: entry("PQG3002", "error", "operator `{op}` does not apply to {type} `{expr}`; it needs {expected}", "an operand of the wrong type for its operator"),
  badRegex: entry("PQG3003", "error", "invalid regular expression `{regex}`: {detail}", "a regex literal that does not compile"),
  durationRange: entry("PQG3004", "error", "duration `{duration}` is out of range; durations go from 1ms to 365d", "a duration outside 1ms..365d"),
  badLimitCount: entry("PQG3005", "error", "limit count `{count}` must be a positive integer", "a `limit ... to N` whose N is not a positive integer"),
  wrongArity: entry("PQG3006", "error", "function `{name}` takes {expected}, not {actual}", "a function called with the wrong number of arguments"),
  badArgument: entry("PQG3007", "error", "argument {position} of `{name}` must be {expected}, but `{expr}` is {type}", "a function argument of the wrong type"),
  notBoolean: entry("PQG3008", "error", "a condition must be boolean, but `{expr}` is {type}", "a `when`, `unless` or `require` condition that is not boolean"),
  badTimestamp: entry("PQG3009", "error", "`{text}` is not an ISO-8601 timestamp", "a string compared with `time.now` that is not a timestamp"),
  badVersion: entry("PQG3010", "error", "policy version `{version}` must be a non-negative integer", "a `version` that is not a non-negative integer"),
  noFields: entry("PQG3011", "error", "`{path}` is {type} and has no fields", "a `.field` or `[\"field\"]` step on a value that is not an object"),
  notIndexable: entry("PQG3012", "error", "`{path}` is {type} and cannot be indexed", "an `[N]` step on a value that is not a list"),
  badHas: entry("PQG3013", "error", "`has` applies to `args` paths, `client.claims[...]` and fields of a quantifier's variable, not to `{path}`", "`has` on a path whose presence is not in question"),
  mixedList: entry("PQG3014", "error", "list elements must share one type, but `{expr}` is {type} and the first is {first}", "a list literal mixing types"),
  algorithmFamily: entry("PQG3015", "error", "`{name}` is a {actual} algorithm, but `{path}` is a {expected} algorithm", "an algorithm of another family than the one compared"),
  regexBacktracking: entry("PQG3016", "error", "regular expression `{regex}` can take {complexity} time on inputs like `{attack}`; rewrite it without nested or overlapping repetition", "a regex literal that can backtrack catastrophically (ReDoS)"),
  badResultClause: entry("PQG3030", "error", "{detail}", "a result rule clause its action does not take, or one it needs and lacks"),
  badSeenLabel: entry("PQG3031", "error", "`seen()` takes a label written as a string of letters, digits, `-`, `_` and `.`, not `{expr}`", "a `seen()` argument that is not a literal label"),
  badAggregateField: entry("PQG3040", "error", "the first argument of `{name}()` must be a tool's argument written `TOOL.FIELD`, as in `process_refund.amount`, not `{expr}`", "an aggregate whose first argument does not name one tool's argument"),
  aggregateNotNumber: entry("PQG3041", "error", "`{name}()` reads numbers, but `{expr}` is {type} in the input schema of `{tool}`", "an aggregate over an argument the tool's schema does not type as a number or integer"),
  badHistoryScope: entry("PQG3042", "error", "the scope of `{name}()` must be `session`, `client` or `all`, not `{expr}`", "a history read whose last argument is not a scope"),
  urlNeedsField: entry("PQG3017", "error", "`{expr}` is a URL; name one of its fields, as in `{expr}.host`", "`url(...)` used without a field"),
  // Warnings
  shadowedRule: entry("PQG4001", "warning", "rule can never apply: `forbid tool {target}` at line {line} forbids {tools} unconditionally", "a permit or ask whose tools an unconditional forbid covers"),
  contradiction: entry("PQG4002", "warning", "condition can never hold: `{first}` and `{second}` contradict each other", "a condition whose conjuncts contradict each other on their face"),
  notInEnum: entry("PQG4003", "warning", "`{value}` is not one of the values of `{path}` ({values})", "a string literal compared with an enum that does not list it"),
  duplicateTarget: entry("PQG4004", "warning", "tool `{tool}` is listed twice in this target", "the same tool twice in one rule target"),
  regexNotProvenSafe: entry("PQG4005", "warning", "regular expression `{regex}` could not be proven free of catastrophic backtracking: {detail}", "a regex literal whose backtracking could not be analysed"),
  prefixOnPathOrUrl: entry("PQG4006", "warning", "`{expr}` compares {what} by its text; `{suggestion}` compares it the way a server reads it", "a `startsWith` on a path or URL argument where `under` or `url()` is meant"),
  annotationDefault: entry("PQG4007", "warning", "`{path}` is `{value}` for {tools} only because the MCP specification says so when a server does not state it", "a rule reading a tool annotation that a targeted tool leaves to the specification's default"),
  identityOnPlainSession: entry("PQG4008", "warning", "`{path}` cannot be read on a plain (unauthenticated) session, so this `forbid` applies to every call on one", "a `forbid` that reads identity facts a plain session never has"),
} as const;

export type CheckDiagnosticKind = keyof typeof CHECK_DIAGNOSTICS;

/** Every diagnostic code there is: syntax codes from the grammar, then the checker's. Keyed by code. */
export const DIAGNOSTICS: Readonly<Record<string, DiagnosticEntry>> = Object.freeze(
  Object.fromEntries([
    ...Object.values(SYNTAX_CODES).map((s): [string, DiagnosticEntry] => [s.code, { code: s.code, severity: "error", template: s.template, title: syntaxTitle(s.template) }]),
    ...Object.values(CHECK_DIAGNOSTICS).map((e) => [e.code, e]),
  ]),
);

/** The syntax catalogue has no titles; its template up to the first `;` reads as one. */
function syntaxTitle(template: string): string {
  return template.split(";")[0]!.replace(/\{(\w+)\}/g, "…");
}

/** The checker's entries by name, for code that creates diagnostics. */
export const CHECK = CHECK_DIAGNOSTICS;

type Holes<T extends string> = T extends `${string}{${infer H}}${infer Rest}` ? H | Holes<Rest> : never;
export type DiagnosticParams<K extends CheckDiagnosticKind> = Record<Holes<(typeof CHECK_DIAGNOSTICS)[K]["template"]>, string | number>;

function fill(template: string, params: Readonly<Record<string, string | number>>): string {
  return template.replace(/\{(\w+)\}/g, (_, hole: string) => String(params[hole]));
}

/** The one way a checker diagnostic comes to be: a catalogue entry, a node or span, the file and the holes' values. */
export function diagnostic<K extends CheckDiagnosticKind>(
  kind: K,
  at: Span | { readonly span: Span },
  file: string,
  params: DiagnosticParams<K>,
  help?: string,
): Diagnostic {
  const e: DiagnosticEntry = CHECK_DIAGNOSTICS[kind];
  const span = "span" in at ? at.span : at;
  const message = fill(e.template, params as Readonly<Record<string, string | number>>);
  return help === undefined ? { code: e.code, severity: e.severity, message, file, span } : { code: e.code, severity: e.severity, message, help, file, span };
}

/** A syntax problem from the parser, as a Diagnostic of the same catalogue. */
export function syntaxDiagnostic(problem: { code: string; message: string; span: Span; help?: string | undefined }, file: string): Diagnostic {
  const base = { code: problem.code, severity: "error" as const, message: problem.message, file, span: problem.span };
  return problem.help === undefined ? base : { ...base, help: problem.help };
}

// ---------------------------------------------------------------------------------------------------------
// "Did you mean": optimal-string-alignment Damerau-Levenshtein distance, so one transposition costs one edit.

export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array<number>(rows * cols).fill(0);
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[(i - 1) * cols + j]! + 1, d[i * cols + j - 1]! + 1, d[(i - 1) * cols + j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[(i - 2) * cols + j - 2]! + 1);
      d[i * cols + j] = best;
    }
  }
  return d[rows * cols - 1]!;
}

/** Names longer than this are not compared: the distance is quadratic and such a name is no typo of ours. */
const MAX_SUGGESTION_INPUT = 128;

/**
 * The candidate closest to `name`, if it is close enough to be a plausible typo: at most one edit for names of up
 * to four characters, then one more per four characters, and never as many edits as the name is long.
 * Case-only differences always qualify.
 */
export function closest(name: string, candidates: Iterable<string>): string | undefined {
  if (name.length > MAX_SUGGESTION_INPUT) return undefined;
  const threshold = Math.max(1, Math.floor((name.length + 3) / 4));
  let best: string | undefined;
  let bestScore = Infinity;
  for (const candidate of candidates) {
    if (candidate === name || candidate.length > MAX_SUGGESTION_INPUT) continue;
    const score = candidate.toLowerCase() === name.toLowerCase() ? 0.5 : editDistance(name, candidate);
    if (score > threshold || score >= Math.max(name.length, 1)) continue;
    if (score < bestScore || (score === bestScore && best !== undefined && candidate < best)) {
      best = candidate;
      bestScore = score;
    }
  }
  return best;
}

/** `did you mean `X`?` for the closest candidate, or undefined. */
export function didYouMean(name: string, candidates: Iterable<string>): string | undefined {
  const match = closest(name, candidates);
  return match === undefined ? undefined : `did you mean \`${match}\`?`;
}
