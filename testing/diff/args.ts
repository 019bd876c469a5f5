// The dimension of one argument path: its classes when every use compares it with constants (numbers cut into
// intervals at the constants; strings, enums and booleans by which constants they equal), values around the hints
// otherwise, and always the argument absent or of the wrong type, which the guard sees from clients that send them.
import { pathText } from "../../compiler/analysis.js";
import type { Type } from "../../compiler/ir.js";
import type { Probe } from "./probe.js";
import { ARGS_PREFIX, type Hint, type Read } from "./reads.js";
import {
  constantsOf,
  numberClasses,
  oneOfEachClass,
  valueKey,
  valuesIn,
  type NumberClass,
} from "./values.js";
import {
  describeNumber,
  describeOpaque,
  describeSet,
  getPath,
  hintsOf,
  isOpaque,
  MAX_STRING_CANDIDATES,
  numberHints,
  opaqueUse,
  setPath,
  stringCandidates,
  stringsAround,
  textHints,
  unique,
  usesOf,
  type Dimension,
  type DimensionContext,
} from "./dimension.js";

/** A value of another JSON type than `type`, which the interpreter cannot evaluate as one. */
function wrongType(type: Type): unknown {
  switch (type.kind) {
    case "number":
      return "0";
    case "string":
      return 0;
    case "boolean":
      return "true";
    case "list":
      return "[]";
    case "object":
      return [];
    default:
      return undefined;
  }
}

/** Each constant, one either side, a half either side and a hair either side (c±ε), and 0, 1, -1. */
function numberCandidates(constants: readonly number[], hints: readonly Hint[]): number[] {
  const cs = [...constants, ...numberHints(hints, "number")];
  const out: number[] = [0, 1, -1];
  for (const c of cs) {
    const eps = Math.max(1e-6, Math.abs(c) * 1e-9);
    out.push(c, c - 1, c + 1, c - 0.5, c + 0.5, c - eps, c + eps);
  }
  return out.filter((n) => Number.isFinite(n));
}

/** Lists with and without each element a policy looks for, and of each length it compares with and one either side. */
function listCandidates(hints: readonly Hint[], samples: readonly unknown[]): unknown[] {
  const elements = [...hints.flatMap((h) => (h.kind === "element" ? [h.value] : [])), ...textHints(hints, "string")];
  const items = samples.flatMap((s) => (Array.isArray(s) ? s : []));
  const filler = items.length > 0 ? items : elements.length > 0 ? elements : ["a"];
  const out: unknown[] = [[]];
  for (const e of elements) out.push([e], [...filler.filter((f) => valueKey(f) !== valueKey(e)).slice(0, 2), e]);
  const others = [...new Set(items.map(valueKey))].map((k) => JSON.parse(k) as unknown).filter((i) => !elements.some((e) => valueKey(e) === valueKey(i)));
  if (others.length > 0) out.push(others.slice(0, 3));
  for (const length of numberHints(hints, "length")) {
    for (const n of [length - 1, length, length + 1]) {
      if (n < 0 || n > 10_000) continue;
      out.push(Array.from({ length: n }, (_v, i) => filler[i % filler.length]));
    }
  }
  return out;
}

/** The dimension of one argument path, from every read of it in both policies. */
export function argsDimension(reads: readonly Read[], ctx: DimensionContext): Dimension {
  const first = reads[0]!;
  const path = first.path!;
  const segments = path.segments.map((s) => (s.kind === "Field" ? s.name : s.index));
  const label = pathText("args", path.segments);
  const type = reads.find((r) => r.type.kind !== "unknown")?.type ?? first.type;
  const uses = usesOf(reads);
  const hints = hintsOf(reads);
  const constants = constantsOf(uses);
  const sampleValues = ctx.schema.samples.map((s) => getPath(s, segments)).filter((v) => v !== undefined);
  const get = (p: Probe): unknown => getPath(p.args, segments);
  const set = (p: Probe, value: unknown): Probe => ({ ...p, args: setPath(p.args, segments, value) as Record<string, unknown> });
  const validWith = (value: unknown): boolean => ctx.schema.valid(set(ctx.base, value).args);
  const indexed = segments.some((s) => typeof s === "number");
  const opaque = isOpaque(reads) || indexed || type.kind === "object" || (type.kind === "list" && uses.some((u) => u.kind !== "has" && u.kind !== "compare" && u.kind !== "in"));

  let classes: unknown[] | undefined;
  let numeric: NumberClass[] | undefined;
  /** One value in each interval between constants, before classes that decide alike are merged: for regions. */
  let intervals: unknown[] | undefined;
  if (!opaque && (type.kind === "number" || type.kind === "duration")) {
    numeric = numberClasses(constants.filter((c): c is number => typeof c === "number"));
    const reps = numeric.map((cls) => {
      const options = valuesIn(cls);
      return options.find(validWith) ?? options[0];
    });
    intervals = [...reps.filter((r) => r !== undefined), undefined, wrongType(type)];
    classes = oneOfEachClass(intervals, uses, type);
  } else if (!opaque) {
    const named = constants;
    const enumValues = type.kind === "string" && type.enum !== undefined ? type.enum : [];
    const booleans = type.kind === "boolean" ? [true, false] : [];
    const other = [...enumValues, ...sampleValues, ...otherValues(type)].filter((v) => !named.some((n) => valueKey(n) === valueKey(v)));
    const otherValid = other.find(validWith) ?? other[0];
    classes = oneOfEachClass([...named.filter(validWith), ...named, ...booleans, ...(otherValid === undefined ? [] : [otherValid]), undefined, wrongType(type)], uses, type);
  }

  const searchValues: unknown[] = [];
  if (type.kind === "number" || type.kind === "duration") searchValues.push(...numberCandidates(constants.filter((c): c is number => typeof c === "number"), hints));
  if (type.kind === "string" || type.kind === "unknown") searchValues.push(...stringCandidates(hints, ctx.seed, [...constants, ...sampleValues.slice(0, 2)]));
  if (type.kind === "string" && type.enum !== undefined) searchValues.push(...type.enum);
  if (type.kind === "boolean") searchValues.push(true, false);
  if (type.kind === "list") searchValues.push(...listCandidates(hints, sampleValues));
  if (type.kind === "unknown") searchValues.push(...numberHints(hints, "number"), true, false, null);
  const candidates = unique([...(classes ?? []), ...constants, ...searchValues, undefined, wrongType(type)]).slice(0, MAX_STRING_CANDIDATES);

  return {
    key: `${ARGS_PREFIX}${JSON.stringify(segments)}`,
    label,
    inputs: [`${ARGS_PREFIX}${JSON.stringify(segments)}`],
    candidates,
    classes,
    ...(classes === undefined ? { opaqueBecause: `\`${label}\` is read by ${opaqueUse(reads)}` } : {}),
    get,
    set,
    ...(classes === undefined && (type.kind === "string" || type.kind === "unknown") ? { around: (p: Probe) => stringsAround(get(p), hints, ctx.seed) } : {}),
    simpler: (p) => {
      const current = get(p);
      const simple = simplerValues(current, type);
      return unique([...simple, ...(classes ?? candidates).filter((c) => simplicity(c) < simplicity(current))]);
    },
    regionValues: (p) => intervals ?? classes ?? [...candidates, ...stringsAround(get(p), hints, ctx.seed)],
    describe: (sample) => (numeric !== undefined ? describeNumber(label, numeric, sample, String) : classes !== undefined ? describeSet(label, constants, sample) : describeOpaque(label, sample)),
  };
}

function otherValues(type: Type): unknown[] {
  switch (type.kind) {
    case "string":
      return ["other"];
    case "list":
      return [[]];
    case "unknown":
      return ["other"];
    default:
      return [];
  }
}

/** Lower is simpler: absent, then short strings and small whole numbers. */
function simplicity(value: unknown): number {
  if (value === undefined) return 0;
  if (typeof value === "boolean") return 1;
  if (typeof value === "number") return 2 + (Number.isInteger(value) ? 0 : 1000) + Math.min(1e6, Math.abs(value)) / 1e6 + String(value).length;
  if (typeof value === "string") return 2 + value.length;
  return 2 + JSON.stringify(value).length;
}

function simplerValues(current: unknown, type: Type): unknown[] {
  if (typeof current === "number") {
    const out = [Math.round(current), Math.trunc(current), Math.ceil(current), Math.floor(current)];
    for (const digits of [1, 2]) out.push(Number(current.toFixed(digits)));
    return out.filter((v) => v !== current && Number.isFinite(v));
  }
  if (typeof current === "string") {
    // Characters a reader would take for noise (fast-check draws them) become letters, upper case lower.
    const out: string[] = [current.replace(/[^A-Za-z0-9/._@-]/g, "a"), current.toLowerCase()];
    if (current.length > 1) {
      out.push(current.slice(0, Math.ceil(current.length / 2)), current.slice(Math.floor(current.length / 2)));
      for (let i = 0; i < Math.min(current.length, 24); i++) out.push(current.slice(0, i) + current.slice(i + 1));
    }
    return out.filter((s) => s !== current);
  }
  if (Array.isArray(current)) return current.map((_v, i) => current.filter((_w, j) => j !== i));
  return type.kind === "boolean" ? [false] : [];
}
