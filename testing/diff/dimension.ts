// What every input a search varies provides (a Dimension), and what the dimensions share: reading their uses and
// hints, candidate strings around constants and regexes, and saying in one line which values of an input a change needs.
import { isJsonObject } from "../../runtime/guard/helpers.js";
import type { Probe } from "./probe.js";
import type { Hint, Read, Use } from "./reads.js";
import { nearestMisses, nearMisses, regexSamples } from "./regex.js";
import { inClass, valueKey, type NumberClass } from "./values.js";

/** What a region of one input looks like: the values tried and whether the change was still there with each. */
export interface RegionSample {
  readonly values: readonly unknown[];
  readonly keeps: readonly boolean[];
  readonly current: unknown;
  /** The inputs the changed rules read: a dimension of several inputs describes only these. */
  readonly changed: ReadonlySet<string>;
}

/** One input a search varies, or several that go together (the suite's algorithms, the counts of earlier calls). */
export interface Dimension {
  readonly key: string;
  /** How the output names the input: `args.amount`, `client.role`, `time.hour (Europe/Berlin)`. */
  readonly label: string;
  /** The input keys of reads.ts this dimension sets. */
  readonly inputs: readonly string[];
  /** Values a search tries, the most telling first. */
  readonly candidates: readonly unknown[];
  /**
   * Values made from the one a request already has, tried after the candidates when a search varies that request: the
   * string with a regex core appended, a prefix put in front. A path already under `/workspace/` then meets a secret.
   */
  around?(p: Probe): readonly unknown[];
  /** One value of each class, when the input has finitely many classes; then these stand for every value. */
  readonly classes: readonly unknown[] | undefined;
  /** Why the input has no finite classes, for the report. */
  readonly opaqueBecause?: string;
  /**
   * Setting another entangled dimension can change this one (an unsealed suite drops the client's role): an exhaustive
   * check reads these back after setting them all. Every other dimension sets a part of a probe no other touches.
   */
  readonly entangled?: boolean;
  get(p: Probe): unknown;
  /** The probe with this input set, or undefined when no session could have that value with the rest kept. */
  set(p: Probe, value: unknown): Probe | undefined;
  /** Values to try when minimising a counterexample, simplest first. */
  simpler(p: Probe): readonly unknown[];
  /** The values whose outcome shows the region of a change. */
  regionValues(p: Probe): readonly unknown[];
  describe(sample: RegionSample): string | undefined;
}

/** What building the dimensions needs to know about the tool's arguments. */
export interface ArgsSchema {
  /** Whether the arguments satisfy the tool's inputSchema. */
  valid(args: Readonly<Record<string, unknown>>): boolean;
  /** Base argument objects drawn from the schema, for values of fields. */
  readonly samples: readonly Readonly<Record<string, unknown>>[];
}

export interface DimensionContext {
  readonly tool: string;
  readonly schema: ArgsSchema;
  /** Seed for the few values drawn here (regex samples). */
  readonly seed: number;
  /** A probe to try argument values against, for schema validity. */
  readonly base: Probe;
}

/** Candidate values per opaque input: enough to hold the hints and their combinations, few enough to try each. */
export const MAX_STRING_CANDIDATES = 64;
/** Values made from a request's own, per input and request. */
const MAX_AROUND = 32;

/** The values, each once (by JSON value, absent included), in their order. */
export function unique(values: readonly unknown[]): unknown[] {
  const seen = new Set<string>();
  return values.filter((v) => {
    const key = valueKey(v);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** How each read uses its input. */
export function usesOf(reads: readonly Read[]): Use[] {
  return reads.map((r) => r.use);
}

/** The constants the opaque uses of an input were found near. */
export function hintsOf(reads: readonly Read[]): Hint[] {
  return reads.flatMap((r) => (r.use.kind === "opaque" ? r.use.hints : []));
}

/** The string constants of one kind among the hints. */
export function textHints(hints: readonly Hint[], kind: "string" | "prefix" | "suffix" | "substring"): string[] {
  return hints.flatMap((h) => (h.kind === kind ? [h.value] : []));
}

/** The number constants (or lengths) among the hints. */
export function numberHints(hints: readonly Hint[], kind: "number" | "length"): number[] {
  return hints.flatMap((h) => (h.kind === kind ? [h.value] : []));
}

/** Whether some use of the input is not a comparison with constants: then it has no finite classes. */
export function isOpaque(reads: readonly Read[]): boolean {
  return reads.some((r) => r.use.kind === "opaque");
}

function quote(value: unknown): string {
  return value === undefined ? "absent" : JSON.stringify(value);
}

// ---------------------------------------------------------------------------------------------------------
// Describing regions

/** `x in (5000, 6000]`, `x > 5000`, `x = 1000`, over the classes the kept values fill around the current one. */
export function describeNumber(label: string, classes: readonly NumberClass[], sample: RegionSample, show: (n: number) => string): string | undefined {
  const current = sample.current;
  const numbers = sample.values.map((v, i) => ({ v, keep: sample.keeps[i]! })).filter((x): x is { v: number; keep: boolean } => typeof x.v === "number");
  if (typeof current !== "number") {
    if (sample.keeps.every((k) => k)) return undefined;
    return current === undefined ? `${label} is absent` : `${label} is ${quote(current)}`;
  }
  const keepOf = (cls: NumberClass): boolean | undefined => numbers.find((x) => inClass(x.v, cls))?.keep;
  const here = classes.findIndex((cls) => inClass(current, cls));
  if (here < 0) return `${label} = ${show(current)}`;
  let first = here;
  let last = here;
  while (first > 0 && keepOf(classes[first - 1]!) !== false) first--;
  while (last < classes.length - 1 && keepOf(classes[last + 1]!) !== false) last++;
  const open = classes.filter((c) => keepOf(c) !== undefined);
  if (open.every((c) => keepOf(c) === true) && sample.keeps.every((k) => k)) return undefined;
  const lo = classes[first]!;
  const hi = classes[last]!;
  if (first === last && lo.point) return `${label} = ${show(lo.lo)}`;
  const lower = lo.lo === Number.NEGATIVE_INFINITY ? undefined : { value: lo.lo, closed: lo.point };
  const upper = hi.hi === Number.POSITIVE_INFINITY ? undefined : { value: hi.hi, closed: hi.point };
  if (lower === undefined && upper === undefined) return current === undefined ? undefined : `${label} is present`;
  if (lower === undefined) return `${label} ${upper!.closed ? "<=" : "<"} ${show(upper!.value)}`;
  if (upper === undefined) return `${label} ${lower.closed ? ">=" : ">"} ${show(lower.value)}`;
  return `${label} in ${lower.closed ? "[" : "("}${show(lower.value)}, ${show(upper.value)}${upper.closed ? "]" : ")"}`;
}

/** `x in ["a", "b"]`, `x not in ["a"]`, `x is absent`: which of the named values the change needs. */
export function describeSet(label: string, named: readonly unknown[], sample: RegionSample): string | undefined {
  if (sample.keeps.every((k) => k)) return undefined;
  const isNamed = (v: unknown): boolean => named.some((n) => valueKey(n) === valueKey(v));
  const kept = sample.values.filter((_v, i) => sample.keeps[i]);
  const dropped = sample.values.filter((_v, i) => !sample.keeps[i]);
  const otherKept = kept.some((v) => v !== undefined && !isNamed(v));
  const absentKept = kept.some((v) => v === undefined);
  const list = (vs: readonly unknown[]): string => `[${vs.map(quote).join(", ")}]`;
  if (otherKept) {
    const out = dropped.filter((v) => v !== undefined && isNamed(v));
    if (out.length > 0) return `${label} not in ${list(out)}${absentKept ? "" : " (and present)"}`;
    return absentKept ? undefined : `${label} is present`;
  }
  const keptNamed = kept.filter((v) => v !== undefined);
  if (keptNamed.length === 0) return `${label} is absent`;
  const text = keptNamed.length === 1 ? `${label} = ${quote(keptNamed[0])}` : `${label} in ${list(keptNamed)}`;
  return absentKept ? `${text} or absent` : text;
}

/** `8..17, 20..23`: whole numbers as ranges. */
export function ranges(values: readonly number[]): string {
  const sorted = [...new Set(values)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}..${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(", ");
}

/** `8h`, `10m`, `1500ms`: the largest unit that divides the duration. */
export function durationText(ms: number): string {
  if (ms === 0) return "0ms";
  for (const [unit, size] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** What use of an input kept it from having classes, for the report. */
export function opaqueUse(reads: readonly Read[]): string {
  const hints = hintsOf(reads);
  if (hints.some((h) => h.kind === "regex")) return "`matches`";
  if (hints.some((h) => h.kind === "prefix" || h.kind === "suffix" || h.kind === "substring")) return "`startsWith`, `endsWith` or `contains`";
  if (hints.some((h) => h.kind === "length")) return "`len()`";
  if (reads.some((r) => r.path?.segments.some((s) => s.kind === "Index"))) return "an index";
  return "an expression, not only comparisons with constants";
}

/** An input with no classes has no region to show, only a value: `args.path such as "/workspace/.pema"`. */
export function describeOpaque(label: string, sample: RegionSample): string | undefined {
  if (sample.keeps.every((k) => k)) return undefined;
  return `${label} such as ${quote(sample.current)}`;
}

// ---------------------------------------------------------------------------------------------------------
// JSON paths and candidate strings

/** The value at a path of fields and indexes; undefined when a step is missing. */
export function getPath(value: unknown, path: readonly (string | number)[]): unknown {
  let v = value;
  for (const step of path) {
    if (typeof step === "number") {
      if (!Array.isArray(v)) return undefined;
      v = v[step];
    } else {
      if (!isJsonObject(v) || !Object.hasOwn(v, step)) return undefined;
      v = v[step];
    }
  }
  return v;
}

/** A copy with the value at the path set (objects and lists made along the way), or removed when `leaf` is undefined. */
export function setPath(value: unknown, path: readonly (string | number)[], leaf: unknown): unknown {
  if (path.length === 0) return leaf;
  const [step, ...rest] = path;
  if (typeof step === "number") {
    const list = Array.isArray(value) ? [...(value as unknown[])] : [];
    while (list.length < step) list.push(null);
    if (leaf === undefined && rest.length === 0) return list.slice(0, step);
    list[step] = setPath(list[step], rest, leaf);
    return list;
  }
  const object: Record<string, unknown> = isJsonObject(value) ? { ...value } : {};
  if (leaf === undefined && rest.length === 0) delete object[step!];
  else object[step!] = setPath(object[step!], rest, leaf);
  return object;
}

/**
 * Strings around the hints: the constants themselves and one edit away, regex samples and their near misses, lengths
 * at a bound and one either side, and the prefixes and suffixes around the rest. The most telling come first, since a
 * search varies a request over the first MAX_STRING_CANDIDATES of them.
 */
export function stringCandidates(hints: readonly Hint[], seed: number, extra: readonly unknown[]): string[] {
  const prefixes = textHints(hints, "prefix");
  const suffixes = textHints(hints, "suffix");
  const literals: string[] = [];
  for (const hint of hints) {
    if (hint.kind === "string") literals.push(hint.value, `${hint.value}x`, hint.value.toUpperCase());
    if (hint.kind === "substring") literals.push(hint.value, `a${hint.value}b`);
    if (hint.kind === "prefix") literals.push(`${hint.value}x`, hint.value.slice(0, -1));
    if (hint.kind === "suffix") literals.push(`x${hint.value}`, `x${hint.value.toUpperCase()}`, hint.value.slice(1));
  }
  const drawn = hints.flatMap((h) => (h.kind === "regex" ? [regexSamples(h.pattern, h.flags, seed)] : []));
  const cores = drawn.flatMap((d) => d.cores);
  const samples = [...cores, ...drawn.flatMap((d) => [...d.cores.flatMap(nearestMisses), ...d.samples])];
  const misses = [...cores, ...drawn.flatMap((d) => d.samples)].flatMap((s) => nearMisses(s));
  const lengths = numberHints(hints, "length").flatMap((n) => [n - 1, n, n + 1].filter((l) => l >= 0 && l <= 100_000).map((l) => "a".repeat(l)));
  const middles = [...literals, ...samples.slice(0, 4), ...textHints(hints, "substring")];
  const framed = prefixes.flatMap((p) => ["", ...suffixes].flatMap((s) => middles.map((m) => `${p}${m}${s}`)));
  const suffixed = suffixes.flatMap((s) => middles.map((m) => `${m}${s}`));
  const all = [...literals, ...lengths, ...samples, ...interleave(framed, suffixed), "", ...misses, ...extra.filter((e): e is string => typeof e === "string")];
  return [...new Set(all)].slice(0, MAX_STRING_CANDIDATES);
}

/** Edits of a string a request already has, towards the hints: each piece appended, each prefix put in front. */
export function stringsAround(current: unknown, hints: readonly Hint[], seed: number): string[] {
  if (typeof current !== "string") return [];
  const pieces = [
    ...hints.flatMap((h) => (h.kind === "regex" ? regexSamples(h.pattern, h.flags, seed).cores.flatMap((c) => [c, ...nearestMisses(c)]) : [])),
    ...textHints(hints, "substring"),
    ...textHints(hints, "suffix"),
  ];
  const out = [...pieces.map((piece) => `${current}${piece}`), ...textHints(hints, "prefix").filter((p) => !current.startsWith(p)).map((p) => `${p}${current}`)];
  return [...new Set(out)].slice(0, MAX_AROUND);
}

function interleave<T>(a: readonly T[], b: readonly T[]): T[] {
  const out: T[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (i < a.length) out.push(a[i]!);
    if (i < b.length) out.push(b[i]!);
  }
  return out;
}
