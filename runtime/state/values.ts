// The argument values a state store keeps of a call: only the numbers a policy aggregates (`sum(refund.amount, 1d)`),
// picked out of the arguments by JSON Pointer before the call reaches the store, so no other argument ever does.
import type { AggregateFunction } from "../guard/types.js";
import { StateError } from "./store.js";

/**
 * The most values one aggregate folds: a fold reads every value of its window, and the Redis store does it inside
 * the script every replica waits on (about 1.5 µs a value, so 10 000 values hold Redis for some 15 ms). A window
 * holding more is refused (`PQG7201`), never folded in part; a `limit` on the tool keeps a client far below it.
 */
export const DEFAULT_MAX_FOLDED_VALUES = 10_000;

/** The refusal of a fold over more values than a store folds, alike in every store. */
export function tooManyToFold(max: number): StateError {
  return new StateError("PQG7201", `an aggregate's window holds more than ${max} calls to fold, the store's limit; the call is refused`);
}

/** JSON Pointer → value: what a store keeps of one call's arguments. */
export type RecordedValues = Readonly<Record<string, number>>;

/** The JSON Pointer (RFC 6901) of a path of field names: `["payment", "amount"]` → `/payment/amount`. */
export function pointerOf(fields: readonly string[]): string {
  return fields.map((f) => `/${f.replace(/~/g, "~0").replace(/\//g, "~1")}`).join("");
}

function fieldsOf(pointer: string): string[] {
  return pointer
    .split("/")
    .slice(1)
    .map((f) => f.replace(/~1/g, "/").replace(/~0/g, "~"));
}

/**
 * The values at `pointers` in a call's arguments that are finite numbers; undefined when there are none. Anything
 * else at a pointer (absent, a string, an object) is not kept: the call then adds nothing to an aggregate.
 */
export function recordedValues(args: unknown, pointers: readonly string[] | undefined): RecordedValues | undefined {
  if (!Array.isArray(pointers) || pointers.length === 0) return undefined;
  let values: Record<string, number> | undefined;
  for (const pointer of pointers) {
    let at: unknown = args;
    for (const field of fieldsOf(pointer)) {
      at = typeof at === "object" && at !== null && !Array.isArray(at) && Object.hasOwn(at, field) ? (at as Record<string, unknown>)[field] : undefined;
    }
    if (typeof at === "number" && Number.isFinite(at)) (values ??= Object.create(null) as Record<string, number>)[pointer] = at;
  }
  return values;
}

/**
 * Folds values in the order given (a store gives them oldest first): 0 over none, so that no history reads as 0.
 * Never -0 (`+ 0` turns it into 0): SQLite keeps no sign on a zero, so every store answers 0 alike.
 */
export function aggregateValues(fn: AggregateFunction, values: Iterable<number>): number {
  let result: number | undefined;
  for (const v of values) result = foldStep(fn, result, v);
  return foldResult(result);
}

/** One step of a fold: `v` into what was folded so far (undefined before the first value). Every store's loop uses it. */
export function foldStep(fn: AggregateFunction, folded: number | undefined, v: number): number {
  if (folded === undefined) return v;
  if (fn === "sum") return folded + v;
  return fn === "max" ? Math.max(folded, v) : Math.min(folded, v);
}

/** What a fold answers: 0 over no values, and never -0 (`+ 0` turns it into 0, as SQLite keeps no sign on a zero). */
export function foldResult(folded: number | undefined): number {
  return (folded ?? 0) + 0;
}

/**
 * What a store keeps of a record's values: a copy holding only finite numbers under JSON Pointers, so that a record
 * built by other code than enforcement's `callRecordOf` cannot put anything else (or a live object) in the store.
 */
export function keptValues(values: RecordedValues | undefined): RecordedValues | undefined {
  if (typeof values !== "object" || values === null) return undefined;
  let kept: Record<string, number> | undefined;
  for (const [pointer, value] of Object.entries(values)) {
    if (pointer.startsWith("/") && typeof value === "number" && Number.isFinite(value)) (kept ??= Object.create(null) as Record<string, number>)[pointer] = value;
  }
  return kept === undefined ? undefined : Object.freeze(kept);
}
