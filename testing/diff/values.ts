// Values of one input and the classes they fall into: how each use of the input (a comparison with a constant, a
// membership, a truth test, `has`) judges a value, exactly as the interpreter does, and the few values that stand for
// every class. Two values with the same judgement under every use decide every call alike.
import { isJsonObject, jsonEqual } from "../../runtime/guard/helpers.js";
import type { Type } from "../../compiler/ir.js";
import type { Use } from "./reads.js";

/** How one use judges a value: true, false, or an evaluation error (absent, or of the wrong type). */
type Verdict = "T" | "F" | "E";

/** Whether the interpreter's run-time type check lets the value through (interpreter.ts `checkType`). */
function passes(value: unknown, type: Type): boolean {
  if (value === undefined) return false;
  switch (type.kind) {
    case "number":
    case "duration":
      return typeof value === "number" && !Number.isNaN(value);
    case "string":
      return typeof value === "string";
    case "boolean":
      return typeof value === "boolean";
    case "list":
      return Array.isArray(value);
    case "object":
      return isJsonObject(value);
    default:
      return true;
  }
}

function verdict(use: Use, value: unknown, type: Type): Verdict {
  if (use.kind === "has") return value === undefined ? "F" : "T";
  if (!passes(value, type)) return "E";
  switch (use.kind) {
    case "truth":
      return typeof value === "boolean" ? (value ? "T" : "F") : "E";
    case "in":
      return use.values.some((c) => jsonEqual(c, value)) ? "T" : "F";
    case "compare": {
      if (use.op === "==") return jsonEqual(value, use.value) ? "T" : "F";
      if (use.op === "!=") return jsonEqual(value, use.value) ? "F" : "T";
      if (typeof value !== "number" || typeof use.value !== "number") return "E";
      const a = value;
      const b = use.value;
      return (use.op === "<" ? a < b : use.op === "<=" ? a <= b : use.op === ">" ? a > b : a >= b) ? "T" : "F";
    }
    default:
      return "E";
  }
}

/** The judgement of a value under every use: its class. */
export function signature(uses: readonly Use[], value: unknown, type: Type): string {
  return uses.map((use) => verdict(use, value, type)).join("");
}

/** The first value of each class, in the order given. */
export function oneOfEachClass(values: readonly unknown[], uses: readonly Use[], type: Type): unknown[] {
  const seen = new Set<string>();
  const out: unknown[] = [];
  for (const value of values) {
    const key = signature(uses, value, type);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(value);
  }
  return out;
}

/** The constants a use compares with. */
export function constantsOf(uses: readonly Use[]): unknown[] {
  return uses.flatMap((use) => (use.kind === "compare" ? [use.value] : use.kind === "in" ? use.values : []));
}

/** One class of numbers between the constants a number is compared with: a constant itself, or an open interval. */
export interface NumberClass {
  readonly lo: number;
  readonly hi: number;
  readonly point: boolean;
}

/** The classes the sorted distinct `constants` cut the numbers into, below the first to above the last. */
export function numberClasses(constants: readonly number[]): NumberClass[] {
  const cs = [...new Set(constants.filter((c) => Number.isFinite(c)))].sort((a, b) => a - b);
  if (cs.length === 0) return [{ lo: Number.NEGATIVE_INFINITY, hi: Number.POSITIVE_INFINITY, point: false }];
  const out: NumberClass[] = [{ lo: Number.NEGATIVE_INFINITY, hi: cs[0]!, point: false }];
  cs.forEach((c, i) => {
    out.push({ lo: c, hi: c, point: true });
    out.push({ lo: c, hi: cs[i + 1] ?? Number.POSITIVE_INFINITY, point: false });
  });
  return out;
}

/** Whether a number falls in a class. */
export function inClass(value: number, cls: NumberClass): boolean {
  return cls.point ? value === cls.lo : value > cls.lo && value < cls.hi;
}

/**
 * Values inside one class, the most ordinary first (whole numbers, near the constants): a caller keeps the first its
 * domain accepts. An interval between two adjacent constants may hold no whole number; the midpoint is offered then.
 */
export function valuesIn(cls: NumberClass): number[] {
  if (cls.point) return [cls.lo];
  const { lo, hi } = cls;
  const out: number[] = [];
  if (lo === Number.NEGATIVE_INFINITY && hi === Number.POSITIVE_INFINITY) out.push(0, 1, -1);
  else if (lo === Number.NEGATIVE_INFINITY) out.push(Math.ceil(hi) - 1, hi > 1 ? Math.floor(hi / 2) : hi - 1, hi - 0.5, 0, hi - 1000);
  else if (hi === Number.POSITIVE_INFINITY) out.push(Math.floor(lo) + 1, lo + 0.5, lo * 2, lo + 1000);
  else out.push(Math.floor(lo) + 1, Math.ceil(hi) - 1, Math.round((lo + hi) / 2), (lo + hi) / 2);
  return out.filter((v, i) => Number.isFinite(v) && inClass(v, cls) && out.indexOf(v) === i);
}

/** A stable text for any value a probe holds, absent included. */
export function valueKey(value: unknown): string {
  return value === undefined ? "\u2205" : JSON.stringify(value, (_k, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? String(v) : v));
}
