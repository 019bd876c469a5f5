// The small run-time pieces compiled guards and the reference interpreter share: evaluation failures that fail
// closed, typed reads of JSON values, JSON equality, zoned wall-clock time, and the explanation sentences.
import { algorithmFacts, type AlgorithmFacts, type AlgorithmFamily } from "./algorithms.js";
import type { AggregateFunction, CallHistory, Decision, DecisionKind, Explanation, LimitScope } from "./types.js";

/**
 * Thrown when an expression cannot be evaluated (missing argument, wrong JSON type, division by zero, ...).
 * Deliberately not an Error: it is control flow caught by the rule that evaluates the condition, so building a
 * stack trace on every failed condition would only cost time. It never escapes a guard.
 */
export class EvaluationFailure {
  constructor(readonly detail: string) {}
}

export function fail(detail: string): never {
  throw new EvaluationFailure(detail);
}

/** `sum()`, `max()`, `min()` of a compiled guard: a history that keeps no argument values cannot answer, failing closed. */
export function historyAggregate(history: CallHistory, fn: AggregateFunction, tool: string, pointer: string, since: number, scope: LimitScope): number {
  if (history.aggregate === undefined) fail("the call history keeps no argument values");
  const value = history.aggregate(fn, tool, pointer, since, scope);
  // Huge recorded values can overflow a sum (or meet an opposite infinity): such a fold must not read as a number.
  if (!Number.isFinite(value)) fail(unfoldable(fn));
  return value;
}

/** The detail of an aggregate that is not a finite number, worded alike in both back ends. */
function unfoldable(fn: AggregateFunction): string {
  return `the ${fn} of the recorded values is not a finite number`;
}

function describeBad(value: unknown, text: string, what: string): never {
  throw new EvaluationFailure(value === undefined ? `\`${text}\` is missing` : `\`${text}\` is ${what}`);
}

/** A number; NaN is not one, since every comparison with it is false and a `forbid` on it would never apply. */
export function num(value: unknown, text: string): number {
  return typeof value === "number" && value === value ? value : describeBad(value, text, "not a number");
}

/** The result of `+ - * / %`: operands past the double range (`1e400 - 1e400`) can yield NaN, which is no number. */
export function numberResult(value: number, text: string): number {
  return value === value ? value : fail(`\`${text}\` is not a number`);
}

export function str(value: unknown, text: string): string {
  return typeof value === "string" ? value : describeBad(value, text, "not a string");
}

/**
 * The longest string `matches` runs a regular expression on, in UTF-16 code units. The guard runs on the proxy's
 * only thread, so one slow match stalls every session; the checker refuses regexes that can backtrack
 * catastrophically, but its analysis can time out (a warning only) and is not proof against every engine, so this
 * bounds what any match can cost. 64 Ki is far above the identifiers, paths and addresses policies match.
 */
export const MATCH_INPUT_LIMIT = 65_536;

/** The subject of a `matches`: a string no longer than MATCH_INPUT_LIMIT; a longer one cannot be evaluated. */
export function matchSubject(value: string, text: string): string {
  return value.length <= MATCH_INPUT_LIMIT
    ? value
    : fail(`\`${text}\` has ${value.length} characters, more than the ${MATCH_INPUT_LIMIT} that \`matches\` reads`);
}

export function bool(value: unknown, text: string): boolean {
  return typeof value === "boolean" ? value : describeBad(value, text, "not a boolean");
}

export function list(value: unknown, text: string): readonly unknown[] {
  return Array.isArray(value) ? value : describeBad(value, text, "not a list");
}

export function isJsonObject(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function obj(value: unknown, text: string): Readonly<Record<string, unknown>> {
  return isJsonObject(value) ? value : describeBad(value, text, "not an object");
}

/** Any value that is present; `unknown`-typed paths only need to exist. */
export function present(value: unknown, text: string): unknown {
  return value === undefined ? describeBad(value, text, "missing") : value;
}

/** An own property, so that `args.constructor` reads the argument, never `Object.prototype`. */
export function own(object: Readonly<Record<string, unknown>>, key: string): unknown {
  return Object.hasOwn(object, key) ? object[key] : undefined;
}

/** Whether a path of field names and indexes leads to a present value (`has args.a.b`). */
export function hasPath(root: unknown, steps: readonly (string | number)[]): boolean {
  let value = root;
  for (const step of steps) {
    if (typeof step === "number") {
      if (!Array.isArray(value)) return false;
      value = value[step];
    } else {
      if (!isJsonObject(value)) return false;
      value = own(value, step);
    }
    if (value === undefined) return false;
  }
  return true;
}

/** Structural equality of JSON values; numbers compare with `===`. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const key of ka) {
    if (!Object.hasOwn(b, key)) return false;
    if (!jsonEqual((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key])) return false;
  }
  return true;
}

/** `x in list` / `list contains x` for lists whose elements are not all constant strings. */
export function memberOf(value: unknown, items: readonly unknown[]): boolean {
  for (const item of items) if (jsonEqual(item, value)) return true;
  return false;
}

export function div(a: number, b: number, text: string): number {
  return b === 0 ? fail("division by zero") : numberResult(a / b, text);
}

export function mod(a: number, b: number, text: string): number {
  return b === 0 ? fail("division by zero") : numberResult(a % b, text);
}

/** Facts of a negotiated algorithm; absent or unknown names cannot be evaluated. */
export function alg(name: string | undefined, family: AlgorithmFamily, text: string): AlgorithmFacts {
  if (name === undefined) fail(`\`${text}\` is missing`);
  const facts = typeof name === "string" ? algorithmFacts(name) : undefined;
  if (facts === undefined || facts.family !== family) fail(`\`${String(name)}\` is not a known algorithm`);
  return facts;
}

/** Facts of an algorithm name of any family; `==` and `in` compare the canonical names. */
export function algorithmOf(name: unknown): AlgorithmFacts {
  const facts = typeof name === "string" ? algorithmFacts(name) : undefined;
  return facts ?? fail(`\`${String(name)}\` is not a known algorithm`);
}

/** `transport.kem in LIST` for a list that is not all known literals. */
export function algorithmIn(canonical: string, items: readonly unknown[]): boolean {
  for (const item of items) if (algorithmOf(item).canonical === canonical) return true;
  return false;
}

export function algorithmContains(items: readonly unknown[], canonical: string): boolean {
  return algorithmIn(canonical, items);
}

export function listContains(items: readonly unknown[], value: unknown): boolean {
  return memberOf(value, items);
}

/** The left side of `contains` when its static type is open: a string or a list. */
export function containerOf(value: unknown, text: string): string | readonly unknown[] {
  if (typeof value === "string" || Array.isArray(value)) return value;
  return describeBad(value, text, "not a list");
}

export function containsValue(container: string | readonly unknown[], item: unknown, itemText: string): boolean {
  if (typeof container === "string") return container.includes(str(item, itemText));
  return memberOf(item, container);
}

export function lengthOf(value: unknown, text: string): number {
  if (typeof value === "string" || Array.isArray(value)) return value.length;
  return describeBad(value, text, "not a string or a list");
}

/** An ISO-8601 text or epoch milliseconds, as compared with `time.now`. */
export function timestampOf(value: unknown, text: string): number {
  const ms = typeof value === "number" ? value : typeof value === "string" ? Date.parse(value) : Number.NaN;
  return Number.isNaN(ms) ? fail(`\`${text}\` is not a timestamp`) : ms;
}

/** A tool's annotation hint, MCP defaults already merged into `table` at compile time. */
export function toolAnnotation(
  table: ReadonlyMap<string, Readonly<Record<string, unknown>>>,
  tool: string,
  hint: string,
): unknown {
  const annotations = table.get(tool);
  if (annotations === undefined) fail(`tool \`${tool}\` is not in the manifests`);
  return own(annotations, hint);
}

/** `has` on a fact path: whether it can be read. */
export function hasFact(read: () => unknown): boolean {
  try {
    return read() !== undefined;
  } catch (error) {
    if (evaluationDetail(error) !== undefined) return false;
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Zoned time

export type Weekday = "mon" | "tue" | "wed" | "thu" | "fri" | "sat" | "sun";

export interface ZonedTime {
  readonly hour: number;
  readonly minute: number;
  readonly weekday: Weekday;
}

const WEEKDAYS: Readonly<Record<string, Weekday>> = {
  Mon: "mon",
  Tue: "tue",
  Wed: "wed",
  Thu: "thu",
  Fri: "fri",
  Sat: "sat",
  Sun: "sun",
};

const SECOND_MS = 1000;

/** The largest distance from the epoch a Date can represent (ECMA-262 §21.4.1.1); Intl refuses instants beyond it. */
const MAX_INSTANT_MS = 8.64e15;

/** `time.now` as the guard reads it: an instant a Date can hold, or an evaluation failure. */
export function instant(now: number): number {
  return Math.abs(now) <= MAX_INSTANT_MS ? now : fail("`time.now` is not a valid time");
}

/** Wall-clock fields of an instant in a zone, straight from Intl (no caching). */
export function zonedTimeOf(format: Intl.DateTimeFormat, instant: number): ZonedTime {
  let hour = 0;
  let minute = 0;
  let weekday: Weekday = "mon";
  for (const part of format.formatToParts(instant)) {
    if (part.type === "hour") hour = Number(part.value);
    else if (part.type === "minute") minute = Number(part.value);
    else if (part.type === "weekday") weekday = WEEKDAYS[part.value] ?? weekday;
  }
  return { hour, minute, weekday };
}

export function zoneFormat(timeZone: string): Intl.DateTimeFormat {
  return new Intl.DateTimeFormat("en-US", { timeZone, hourCycle: "h23", weekday: "short", hour: "2-digit", minute: "2-digit" });
}

/**
 * A reader of `time.hour`, `time.minute` and `time.weekday` in one zone. Intl formatting costs microseconds, far more
 * than a whole decision, so the fields are cached per UTC second: every offset in the time zone database is a whole
 * number of seconds (some past ones are not whole minutes: Monrovia was -0:44:30 until 1972), so all instants of one
 * UTC second share their wall-clock minute.
 */
export function zonedClock(timeZone: string): (now: number) => ZonedTime {
  const format = zoneFormat(timeZone);
  let cachedSecond = Number.NaN;
  let cached: ZonedTime = { hour: 0, minute: 0, weekday: "mon" };
  return (now: number): ZonedTime => {
    const second = Math.floor(instant(now) / SECOND_MS);
    if (second !== cachedSecond) {
      cached = zonedTimeOf(format, second * SECOND_MS);
      cachedSecond = second;
    }
    return cached;
  };
}

// ---------------------------------------------------------------------------------------------------------
// Explanation sentences: one place, so that the interpreter and compiled guards word them identically.

/**
 * The detail of an error that means a condition could not be evaluated, or undefined for any other (a bug, thrown on).
 * Besides evaluation failures these are the engine's own limits: a regex backtracking through a long argument or a
 * deeply nested value compared can exhaust the stack, and that must fail closed like any other evaluation error.
 */
export function evaluationDetail(error: unknown): string | undefined {
  if (error instanceof EvaluationFailure) return error.detail;
  if (error instanceof RangeError) return /call stack/i.test(error.message) ? "evaluation ran out of stack" : `evaluation failed: ${error.message}`;
  return undefined;
}

export function failureDetail(error: unknown): string {
  const detail = evaluationDetail(error);
  if (detail === undefined) throw error;
  return detail;
}

export const explainText = {
  held: (clause: string) => `\`${clause}\` held`,
  wasFalse: (clause: string) => `\`${clause}\` was false`,
  notEvaluated: (clause: string, detail: string) => `\`${clause}\` could not be evaluated: ${detail}`,
  unlessHeld: (clause: string) => `unless \`${clause}\` held`,
  allHeld: "all conditions held",
  noConditions: "no conditions",
  limitCount: (count: number, window: string, limit: number) => `${count} calls in the last ${window} (limit ${limit})`,
  requirementFailed: (dimension: string, text: string) => `${dimension} requirement \`${text}\` failed`,
  requirementNotEvaluated: (dimension: string, text: string, detail: string) =>
    `${dimension} requirement \`${text}\` could not be evaluated: ${detail}`,
  /** An `all` quantifier that was false, naming the first element that decided it. */
  elementFailed: (clause: string, element: string, value: unknown, phrase: string) =>
    `\`${clause}\` was false: \`${element}\` = \`${shownValue(value)}\` ${phrase}`,
  forbidden: (id: string) => `forbidden by rule \`${id}\``,
  approval: (id: string) => `approval required by rule \`${id}\``,
  permitted: (id: string) => `permitted by rule \`${id}\``,
  noPermit: (tool: string) => `no rule permits \`${tool}\``,
  rateLimit: (count: number, window: string, scope: string) =>
    `rate limit of ${count} calls per ${window}${scope === "global" ? "" : ` per ${scope}`} exceeded`,
} as const;

/** Whether an explanation detail says a clause was false: plainly, or naming the list element that decided it. */
export function saysFalse(detail: string, clause: string): boolean {
  const plain = explainText.wasFalse(clause);
  return detail === plain || detail.startsWith(`${plain}: `);
}

/** The longest value an explanation shows, in characters; longer ones are cut with `…`. */
export const SHOWN_VALUE_LIMIT = 80;

/** A value as an explanation shows it: a string as it is, anything else as JSON; cut when long. */
export function shownValue(value: unknown): string {
  const text = typeof value === "string" ? value : (JSON.stringify(value) ?? String(value));
  return text.length > SHOWN_VALUE_LIMIT ? `${text.slice(0, SHOWN_VALUE_LIMIT - 1)}…` : text;
}

export function explanation(rule: string, effect: Explanation["effect"], matched: boolean, detail: string): Explanation {
  return { rule, effect, matched, detail };
}

// ---------------------------------------------------------------------------------------------------------
// Decisions from rule outcomes. A compiled guard evaluates each rule to an outcome code and only then builds the
// Decision, so that a path taken before can return the same (frozen) Decision instead of building it again.

/**
 * One step of a tool's decision procedure. Rule outcome codes: 0 the rule applies, k > 0 the explanation
 * `outcomes[k]` (a failed clause), -1 could not be evaluated. Limit codes: 1 exceeded, 0 not.
 */
export interface DecisionStep {
  readonly id: string;
  readonly reason: string;
  /** Whether a rule that could not be evaluated applies (forbid rules fail closed). */
  readonly failClosed: boolean;
  readonly limit: boolean;
  /** The constant explanation of each rule outcome code; empty for limits, whose explanation is always dynamic. */
  readonly outcomes: readonly Explanation[];
}

/** A tool's steps in evaluation order, and where each phase (deny, ask, allow) ends. */
export interface DecisionPlan {
  readonly steps: readonly DecisionStep[];
  readonly phases: readonly { readonly decision: DecisionKind; readonly end: number }[];
}

/** The most decisions cached per tool; past it, decisions are built afresh, so memory stays bounded. */
export const DECISION_CACHE_LIMIT = 4096;

/**
 * The Decision for the outcome codes of a plan's steps; `dynamic[i]` replaces the explanation of step i where it
 * depends on the call (an evaluation failure, a limit count). `prefix` is the explanation of the requirements.
 */
export function decide(
  plan: DecisionPlan,
  prefix: readonly Explanation[],
  tool: string,
  codes: readonly number[],
  dynamic: readonly (Explanation | undefined)[] | undefined,
): Decision {
  const explain = prefix.slice();
  let i = 0;
  for (const phase of plan.phases) {
    let determining: string[] | undefined;
    let reason = "";
    for (; i < phase.end; i++) {
      const step = plan.steps[i]!;
      const code = codes[i]!;
      explain.push(dynamic?.[i] ?? step.outcomes[code]!);
      const applies = step.limit ? code === 1 : code === 0 || (code < 0 && step.failClosed);
      if (!applies) continue;
      if (determining === undefined) {
        determining = [step.id];
        reason = step.reason;
      } else determining.push(step.id);
    }
    if (determining !== undefined) return { decision: phase.decision, determining, reason, explain };
  }
  const noPermit = explainText.noPermit(tool);
  explain.push({ rule: "default", effect: "forbid", matched: true, detail: noPermit });
  return { decision: "deny", determining: [], reason: noPermit, explain };
}

/** Freezes `decision` (it is shared from now on) and caches it under `key` while the cache has room. */
export function remember(cache: Map<number, Decision>, key: number, decision: Decision): Decision {
  Object.freeze(decision.determining);
  Object.freeze(decision.explain);
  Object.freeze(decision);
  if (cache.size < DECISION_CACHE_LIMIT) cache.set(key, decision);
  return decision;
}
