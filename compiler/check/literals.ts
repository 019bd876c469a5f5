// Literal values the checker validates on their own: durations in range, IANA time zones, ISO-8601 timestamps, and
// windows computed from duration literals alone.
import type { Expr } from "../../grammar/ast.js";
import { unwrap } from "./types.js";

/** Durations a policy may write: a zero window counts nothing and a window beyond a year is surely a typo. */
export const MIN_DURATION_MS = 1;
export const MAX_DURATION_MS = 365 * 24 * 3600 * 1000;

let timeZones: Set<string> | undefined;
export function knownTimeZones(): Set<string> {
  timeZones ??= new Set([...Intl.supportedValuesOf("timeZone"), "UTC"]);
  return timeZones;
}

/**
 * Whether the running ICU accepts an IANA zone. `supportedValuesOf` lists one canonical name per zone (this ICU says
 * `Asia/Calcutta`, not `Asia/Kolkata`), so aliases are checked by constructing a formatter, as the guards will.
 */
export function isTimeZone(zone: string): boolean {
  if (knownTimeZones().has(zone)) return true;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;

/**
 * A timestamp literal the back ends read with `Date.parse`: a date, or a date and time with a zone. `Date.parse`
 * rolls a day past the end of its month over (`2026-02-30` is March 2), so the day is checked against the month.
 */
export function isIsoTimestamp(text: string): boolean {
  if (!ISO_TIMESTAMP.test(text) || Number.isNaN(Date.parse(text))) return false;
  const year = Number(text.slice(0, 4));
  const month = Number(text.slice(5, 7));
  const day = Number(text.slice(8, 10));
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month);
}

function daysInMonth(year: number, month: number): number {
  if (month !== 2) return [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]!;
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
}

/** The milliseconds of an expression made of in-range duration literals, `+`, `-` and parentheses; else undefined. */
export function constantDuration(e: Expr): number | undefined {
  const x = unwrap(e);
  if (x.kind === "DurationLiteral") return x.ms >= MIN_DURATION_MS && x.ms <= MAX_DURATION_MS ? x.ms : undefined;
  if (x.kind === "Unary" && x.op === "-") {
    const v = constantDuration(x.operand);
    return v === undefined ? undefined : -v;
  }
  if (x.kind === "Binary" && (x.op === "+" || x.op === "-")) {
    const l = constantDuration(x.left);
    const r = constantDuration(x.right);
    if (l === undefined || r === undefined) return undefined;
    return x.op === "+" ? l + r : l - r;
  }
  return undefined;
}
