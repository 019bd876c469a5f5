// fast-check arbitraries for the values a flat schema accepts. Everything is built from fast-check's own arbitraries,
// so values shrink (numbers toward 0 or the bound, strings toward the shortest, optional properties toward absent,
// unions toward their first branch) and replay from a seed. A filter is used only after a fixed-seed sample shows it
// lets values through, so that no arbitrary can loop forever looking for a value it will never find.
import fc from "fast-check";
import { ArbitraryError, ArbitraryErrorCode } from "../errors.js";
import { formatSpec } from "./formats.js";
import { conjunction, emptyFlat, JSON_TYPES, jsonKey, type Flat, type JsonType, type SchemaDocument, type Sub } from "./flat.js";
import { isMultipleOf, lengthOf, Validator } from "./validate.js";

export interface GenerationOptions {
  /** Times a recursive `$ref` is followed again before values get only what their schema requires. Default 2. */
  readonly maxRecursion?: number;
  /** Items an array gets beyond its `minItems`, at most. Default 4. */
  readonly maxExtraItems?: number;
  /** Properties an object gets beyond the declared ones, where its schema allows them, at most. Default 2. */
  readonly maxExtraProperties?: number;
}

const DEFAULTS: Required<GenerationOptions> = { maxRecursion: 2, maxExtraItems: 4, maxExtraProperties: 2 };
/** A recursion this much deeper than `maxRecursion` still requiring more means the schema requires infinite values. */
const RECURSION_SLACK = 16;
/** Values sampled to decide whether a filter lets anything through, from a fixed seed so construction is deterministic. */
const FILTER_PROBE = { seed: 0x5eed, numRuns: 100 };
/** Unconstrained strings: printable ASCII nine times in ten, any code point the tenth; one code point per unit. */
const STRING_UNIT = fc.oneof(
  { weight: 9, arbitrary: fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
);
/** Names of properties the schema does not declare: short identifiers, readable in a counterexample. */
const PROPERTY_NAME = fc.stringMatching(/^[a-z][a-z0-9_]{0,7}$/);
const INT32 = 2 ** 31;

/** JSON has no `-0`: it prints as `0`, so a generated `-0` would not survive a request file. */
function plainZero(value: number): number {
  return value === 0 ? 0 : value;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

export class Generator {
  private readonly options: Required<GenerationOptions>;
  private readonly cache = new WeakMap<Sub, fc.Arbitrary<unknown>>();
  readonly validator: Validator;

  constructor(
    readonly doc: SchemaDocument,
    options: GenerationOptions = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
    this.validator = new Validator(doc);
  }

  arbitrary(sub: Sub): fc.Arbitrary<unknown> {
    let found = this.cache.get(sub);
    if (found === undefined) {
      found = this.fromFlat(this.doc.flat(sub));
      this.cache.set(sub, found);
    }
    return found;
  }

  /** Past the recursion bound, values carry only what their schema requires, so recursive schemas end. */
  private minimal(flat: Flat): boolean {
    if (flat.refs > this.options.maxRecursion + RECURSION_SLACK) {
      throw this.doc.unsatisfiable(flat.pointer, "$ref", `the schema requires values nested deeper than ${this.options.maxRecursion + RECURSION_SLACK} recursions`);
    }
    return flat.refs > this.options.maxRecursion;
  }

  fromFlat(flat: Flat): fc.Arbitrary<unknown> {
    if (flat.never !== undefined) throw this.doc.unsatisfiable(flat.never, "false", "no value satisfies this schema");
    if (flat.anyOf.length > 0) return this.union(flat, "anyOf");
    if (flat.oneOf.length > 0) return this.union(flat, "oneOf");
    const core = this.core(flat);
    if (flat.not.length === 0) return core;
    const nots = flat.not;
    return this.filtered(core, (v) => nots.every((n) => !this.validator.valid(n.sub, v)), nots[0]!.pointer, "not", "`not`");
  }

  /** `anyOf`/`oneOf`: one arbitrary per branch, each the branch merged with everything beside it. */
  private union(flat: Flat, keyword: "anyOf" | "oneOf"): fc.Arbitrary<unknown> {
    const [first, ...rest] = flat[keyword];
    const base: Flat = { ...flat, [keyword]: rest };
    const arbitraries: fc.Arbitrary<unknown>[] = [];
    let reason: ArbitraryError | undefined;
    for (const [i, branch] of first!.branches.entries()) {
      try {
        let arbitrary = this.fromFlat(this.doc.merge(base, this.doc.flat(branch)));
        if (keyword === "oneOf") {
          const others = first!.branches.filter((_, j) => j !== i);
          arbitrary = this.filtered(arbitrary, (v) => others.every((o) => !this.validator.valid(o, v)), first!.pointer, "oneOf", `exactly one branch of \`oneOf\``);
        }
        arbitraries.push(arbitrary);
      } catch (error) {
        if (!(error instanceof ArbitraryError) || error.code !== ArbitraryErrorCode.Unsatisfiable) throw error;
        reason ??= error;
      }
    }
    if (arbitraries.length === 0) {
      throw this.doc.unsatisfiable(first!.pointer, keyword, `no branch of \`${keyword}\` can be satisfied: ${reason?.message ?? ""}`);
    }
    return arbitraries.length === 1 ? arbitraries[0]! : fc.oneof({ withCrossShrink: true }, ...arbitraries);
  }

  private core(flat: Flat): fc.Arbitrary<unknown> {
    if (flat.values !== undefined) return this.constants(flat);
    const hinted = hintedTypes(flat);
    let types = [...(flat.types ?? JSON_TYPES)];
    if (types.includes("number")) types = types.filter((t) => t !== "integer");
    const arbitraries: fc.WeightedArbitrary<unknown>[] = [];
    let reason: ArbitraryError | undefined;
    for (const type of types) {
      try {
        arbitraries.push({ weight: flat.types === undefined && hinted.size > 0 && !hinted.has(type) ? 1 : 4, arbitrary: this.ofType(flat, type) });
      } catch (error) {
        if (!(error instanceof ArbitraryError) || error.code !== ArbitraryErrorCode.Unsatisfiable) throw error;
        reason ??= error;
      }
    }
    if (arbitraries.length === 0) throw reason!;
    arbitraries.sort((a, b) => b.weight - a.weight);
    return arbitraries.length === 1 ? arbitraries[0]!.arbitrary : fc.oneof({ withCrossShrink: true }, ...arbitraries);
  }

  private constants(flat: Flat): fc.Arbitrary<unknown> {
    const { values, valuesKeyword } = flat;
    const rest: Flat = { ...flat, values: undefined, valuesKeyword: undefined };
    const allowed = values!.filter((v) => this.validator.validFlat(rest, v));
    if (allowed.length === 0) {
      throw this.doc.unsatisfiable(valuesKeyword!.pointer, valuesKeyword!.keyword, `no value of \`${valuesKeyword!.keyword}\` satisfies the rest of the schema`);
    }
    return fc.constantFrom(...allowed);
  }

  private ofType(flat: Flat, type: JsonType): fc.Arbitrary<unknown> {
    switch (type) {
      case "null":
        return fc.constant(null);
      case "boolean":
        return fc.boolean();
      case "integer":
        return this.numbers(flat, true);
      case "number":
        return this.numbers(flat, false);
      case "string":
        return this.strings(flat);
      case "array":
        return this.arrays(flat);
      case "object":
        return this.objects(flat);
    }
  }

  private numbers(flat: Flat, integer: boolean): fc.Arbitrary<number> {
    const format = flat.format === undefined ? undefined : formatSpec(flat.format.name);
    if (flat.format !== undefined && format === undefined) throw this.unknownFormat(flat);
    const range = format?.applies === "number" ? format.integerRange : undefined;
    const { lower, upper } = flat;
    const where = lower?.pointer ?? upper?.pointer ?? flat.pointer;
    const divisor = this.divisor(flat);
    const mustBeInteger = integer || range !== undefined;
    const inRange = (v: number) =>
      (lower === undefined || (lower.exclusive ? v > lower.value : v >= lower.value)) &&
      (upper === undefined || (upper.exclusive ? v < upper.value : v <= upper.value)) &&
      (range === undefined || (v >= range[0] && v <= range[1]));

    // The whole numbers in range, as fast-check integers (which shrink toward 0, or toward the bound nearer to it).
    let lo = lower === undefined ? -Infinity : lower.exclusive ? Math.floor(lower.value) + 1 : Math.ceil(lower.value);
    let hi = upper === undefined ? Infinity : upper.exclusive ? Math.ceil(upper.value) - 1 : Math.floor(upper.value);
    if (range !== undefined) [lo, hi] = [Math.max(lo, range[0]), Math.min(hi, range[1])];
    if (lo === -Infinity) lo = Math.min(-INT32, hi - INT32);
    if (hi === Infinity) hi = Math.max(INT32 - 1, lo + INT32);
    lo = Math.max(lo, Number.MIN_SAFE_INTEGER);
    hi = Math.min(hi, Number.MAX_SAFE_INTEGER);

    if (divisor !== undefined) {
      const kMin = Math.max(Math.ceil((lower?.value ?? lo) / divisor), -(2 ** 40));
      const kMax = Math.min(Math.floor((upper?.value ?? hi) / divisor), 2 ** 40);
      if (kMin > kMax) throw this.doc.unsatisfiable(where, "multipleOf", `no multiple of ${divisor} lies within the bounds`);
      const multiples = fc.integer({ min: kMin, max: kMax }).map((k) => plainZero(k * divisor));
      return this.filtered(
        multiples,
        (v) => inRange(v) && flat.multipleOf.every((m) => isMultipleOf(v, m.value)) && (!mustBeInteger || Number.isInteger(v)),
        where,
        "multipleOf",
        `\`multipleOf\` ${divisor} within the bounds`,
      );
    }
    const integers = lo <= hi ? fc.integer({ min: lo, max: hi }) : undefined;
    if (mustBeInteger) {
      if (integers === undefined) throw this.doc.unsatisfiable(where, lower?.keyword ?? "maximum", "no whole number lies within the bounds");
      return integers;
    }
    const min = lower?.value ?? -Number.MAX_VALUE;
    const max = upper?.value ?? Number.MAX_VALUE;
    if (min > max || (min === max && (lower?.exclusive === true || upper?.exclusive === true))) {
      throw this.doc.unsatisfiable(where, lower?.keyword ?? "maximum", "no number lies within the bounds");
    }
    const doubles = fc
      .double({ min, max, minExcluded: lower?.exclusive === true, maxExcluded: upper?.exclusive === true, noNaN: true, noDefaultInfinity: true })
      .map(plainZero);
    // Whole numbers first: they read well in a counterexample and are what most tools take.
    return integers === undefined ? doubles : fc.oneof({ withCrossShrink: true }, { weight: 3, arbitrary: integers }, { weight: 1, arbitrary: doubles });
  }

  /** One number every value must be a multiple of: the lcm of whole divisors, or the one divisor the others divide. */
  private divisor(flat: Flat): number | undefined {
    const divisors = flat.multipleOf.map((m) => m.value);
    if (divisors.length === 0) return undefined;
    if (divisors.every(Number.isInteger)) return divisors.reduce((a, b) => (a * b) / gcd(a, b));
    const all = divisors.find((d) => divisors.every((e) => isMultipleOf(d, e)));
    if (all === undefined) {
      throw this.doc.unsupported(flat.multipleOf[1]!.pointer, "multipleOf", `\`multipleOf\` ${divisors.join(" and ")} have no common multiple the generator can find`);
    }
    return all;
  }

  private unknownFormat(flat: Flat): ArbitraryError {
    return this.doc.unsupported(flat.format!.pointer, "format", `format \`${flat.format!.name}\` is not one the generator knows`);
  }

  private strings(flat: Flat): fc.Arbitrary<string> {
    const min = flat.minLength?.value ?? 0;
    const max = flat.maxLength?.value;
    if (max !== undefined && min > max) throw this.doc.unsatisfiable(flat.maxLength!.pointer, "maxLength", "`minLength` is above `maxLength`");
    const format = flat.format === undefined ? undefined : formatSpec(flat.format.name);
    if (flat.format !== undefined && format === undefined) throw this.unknownFormat(flat);
    const lengthOk = (s: string) => {
      const n = lengthOf(s);
      return n >= min && (max === undefined || n <= max);
    };
    if (format?.applies === "string") {
      const patterns = flat.patterns;
      return this.filtered(format.arbitrary!(), (s) => lengthOk(s) && patterns.every((p) => p.regex.test(s)), flat.format!.pointer, "format", "the length and pattern constraints");
    }
    const [first, ...others] = flat.patterns;
    if (first !== undefined) {
      let matching: fc.Arbitrary<string>;
      try {
        matching = fc.stringMatching(first.regex, max === undefined ? {} : { maxLength: Math.max(max * 2, 1) });
        fc.sample(matching, { seed: FILTER_PROBE.seed, numRuns: 1 });
      } catch (error) {
        const detail = error instanceof Error ? error.message : String(error);
        throw this.doc.unsupported(first.pointer, "pattern", `pattern \`${first.source}\` uses regular expression syntax fast-check cannot generate from (${detail})`);
      }
      return this.filtered(matching, (s) => lengthOk(s) && others.every((p) => p.regex.test(s)), first.pointer, "pattern", "the length and other pattern constraints");
    }
    return fc.string({ unit: STRING_UNIT, minLength: min, ...(max === undefined ? {} : { maxLength: max }) });
  }

  private arrays(flat: Flat): fc.Arbitrary<unknown[]> {
    const minimal = this.minimal(flat);
    const min = flat.minItems?.value ?? 0;
    const max = flat.maxItems?.value ?? Infinity;
    if (min > max) throw this.doc.unsatisfiable(flat.maxItems!.pointer, "maxItems", "`minItems` is above `maxItems`");
    const cap = minimal ? min : Math.min(max, min + this.options.maxExtraItems);
    const prefix = flat.prefixItems ?? [];
    const restNever = flat.items !== undefined && this.doc.flat(flat.items).never !== undefined;
    const longest = restNever ? Math.min(cap, prefix.length) : cap;
    if (min > longest) throw this.doc.unsatisfiable(flat.pointer, "items", `arrays need ${min} items but the schema allows only ${prefix.length}`);
    // Built only when some array can hold an item past the prefix, so a recursive item schema stops at the bound.
    const rest = restNever || longest <= prefix.length ? undefined : flat.items === undefined ? anyJson(minimal) : this.arbitrary(flat.items);
    const unique = flat.uniqueItems;

    if (prefix.length === 0) {
      if (rest === undefined) return fc.constant([]);
      if (unique === undefined) return fc.array(rest, { minLength: min, maxLength: cap });
      // Not fc.uniqueArray: it keeps drawing when the items have fewer distinct values than `minItems` (booleans,
      // a short enum). Dropping repeats and then requiring the length lets the probe report such a schema instead.
      const arrays = fc.array(rest, { minLength: min, maxLength: cap }).map(distinct);
      return this.filtered(arrays, (a) => a.length >= min, unique, "uniqueItems", `${min} distinct items`);
    }
    const positions = prefix.map((p) => this.arbitrary(p));
    const arrays = fc
      .integer({ min, max: longest })
      .chain((length) => fc.tuple(...Array.from({ length }, (_, i) => (i < positions.length ? positions[i]! : rest!))));
    if (unique === undefined) return arrays;
    return this.filtered(arrays, (a) => new Set(a.map(jsonKey)).size === a.length, unique, "uniqueItems", "distinct items");
  }

  private objects(flat: Flat): fc.Arbitrary<Record<string, unknown>> {
    const minimal = this.minimal(flat);
    const names = flat.propertyNames;
    const nameOk = (key: string) => names === undefined || this.validator.valid(names, key);
    const entries: fc.Arbitrary<readonly [string, unknown] | undefined>[] = [];

    for (const [key, declared] of flat.properties) {
      const required = flat.required.has(key);
      if (!required && minimal) continue;
      const schema = this.propertySchema(flat, key, declared);
      const problem = !nameOk(key)
        ? this.doc.unsatisfiable(flat.propertyNamesPointer!, "propertyNames", `property \`${key}\` is required but \`propertyNames\` rejects its name`)
        : this.doc.flat(schema).never !== undefined
          ? this.doc.unsatisfiable(flat.pointer, "required", `property \`${key}\` is required but no value satisfies its schema`)
          : undefined;
      if (problem !== undefined) {
        if (required) throw problem;
        continue;
      }
      let value: fc.Arbitrary<unknown>;
      try {
        value = this.arbitrary(schema);
      } catch (error) {
        // An optional property no value fits is one the call leaves out; a required one makes the schema unsatisfiable.
        if (required || !(error instanceof ArbitraryError) || error.code !== ArbitraryErrorCode.Unsatisfiable) throw error;
        continue;
      }
      const entry = value.map((v) => [key, v] as const);
      entries.push(required ? entry : fc.option(entry, { nil: undefined, freq: 2 }));
    }
    for (const key of flat.required.keys()) {
      if (flat.properties.has(key)) continue;
      if (!nameOk(key)) throw this.doc.unsatisfiable(flat.propertyNamesPointer!, "propertyNames", `property \`${key}\` is required but \`propertyNames\` rejects its name`);
      const schema = this.undeclaredSchema(flat, key);
      if (schema !== undefined && this.doc.flat(schema).never !== undefined) {
        throw this.doc.unsatisfiable(flat.required.get(key)!, "required", `property \`${key}\` is required but the schema does not allow it`);
      }
      entries.push((schema === undefined ? anyJson(minimal) : this.arbitrary(schema)).map((v) => [key, v] as const));
    }
    const extras = minimal ? undefined : this.extraProperties(flat, nameOk);
    let objects = fc.tuple(fc.tuple(...entries), extras ?? fc.constant([])).map(([own, more]) =>
      Object.fromEntries([...own.filter((e) => e !== undefined), ...more]),
    );
    const { minProperties, maxProperties } = flat;
    if (minProperties !== undefined || maxProperties !== undefined) {
      const count = (o: object) => Object.keys(o).length;
      objects = this.filtered(
        objects,
        (o) => count(o) >= (minProperties?.value ?? 0) && count(o) <= (maxProperties?.value ?? Infinity),
        (minProperties ?? maxProperties)!.pointer,
        minProperties !== undefined ? "minProperties" : "maxProperties",
        "the number of properties",
      );
    }
    return objects;
  }

  /** A declared property's schema, with the `patternProperties` its name matches, which apply to it as well. */
  private propertySchema(flat: Flat, key: string, declared: Sub): Sub {
    const patterns = flat.patternProperties.filter((p) => p.pattern.regex.test(key)).map((p) => p.sub);
    return patterns.length === 0 ? declared : conjunction([declared, ...patterns]);
  }

  /** The schema of a property the schema does not declare: its matching patterns, else `additionalProperties`. */
  private undeclaredSchema(flat: Flat, key: string): Sub | undefined {
    const patterns = flat.patternProperties.filter((p) => p.pattern.regex.test(key)).map((p) => p.sub);
    if (patterns.length > 0) return patterns.length === 1 ? patterns[0] : conjunction(patterns);
    return flat.additionalProperties;
  }

  /** Properties the schema does not declare, where it allows them: names from its patterns or `propertyNames`. */
  private extraProperties(flat: Flat, nameOk: (key: string) => boolean): fc.Arbitrary<(readonly [string, unknown])[]> | undefined {
    if (this.options.maxExtraProperties === 0) return undefined;
    const additionalAllowed = flat.additionalProperties === undefined || this.doc.flat(flat.additionalProperties).never === undefined;
    const sources: fc.Arbitrary<string>[] = flat.patternProperties.map((p) => fc.stringMatching(p.pattern.regex, { maxLength: 24 }));
    if (additionalAllowed) {
      sources.push(flat.propertyNames === undefined ? PROPERTY_NAME : (this.fromFlat(this.doc.merge(this.doc.flat(flat.propertyNames), stringOnly(flat))) as fc.Arbitrary<string>));
    }
    if (sources.length === 0) return undefined;
    const source = sources.length === 1 ? sources[0]! : fc.oneof(...sources);
    const fresh = (k: string) =>
      !flat.properties.has(k) && !flat.required.has(k) && k !== "__proto__" && nameOk(k) && (additionalAllowed || this.undeclaredSchema(flat, k) !== flat.additionalProperties);
    // Extra properties are optional: a schema whose extra names are all taken or rejected simply gets none.
    if (!fc.sample(source, FILTER_PROBE).some(fresh)) return undefined;
    const names = source.filter(fresh);
    const values = new Map<string, fc.Arbitrary<unknown>>();
    const valueFor = (key: string): fc.Arbitrary<unknown> => {
      const schema = this.undeclaredSchema(flat, key);
      const id = schema === undefined ? "" : flat.patternProperties.filter((p) => p.pattern.regex.test(key)).map((p) => p.pattern.source).join("\u0000");
      let arbitrary = values.get(id);
      if (arbitrary === undefined) {
        arbitrary = schema === undefined ? anyJson(false) : this.arbitrary(schema);
        values.set(id, arbitrary);
      }
      return arbitrary;
    };
    const entry = names.chain((key) => valueFor(key).map((v) => [key, v] as const));
    return fc.uniqueArray(entry, { maxLength: this.options.maxExtraProperties, selector: (e) => e[0] });
  }

  /** `arbitrary.filter(keep)`, once a fixed-seed sample shows that `keep` lets some values through. */
  private filtered<T>(arbitrary: fc.Arbitrary<T>, keep: (value: T) => boolean, pointer: string, keyword: string, what: string): fc.Arbitrary<T> {
    const sample = fc.sample(arbitrary, FILTER_PROBE);
    if (!sample.some(keep)) {
      throw this.doc.unsatisfiable(pointer, keyword, `none of ${FILTER_PROBE.numRuns} generated values satisfied ${what}`);
    }
    return arbitrary.filter(keep);
  }
}

function distinct(values: readonly unknown[]): unknown[] {
  const seen = new Set<string>();
  return values.filter((v) => {
    const key = jsonKey(v);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** `propertyNames` constrains names, which are strings whatever else its schema says. */
function stringOnly(flat: Flat): Flat {
  return { ...emptyFlat(flat.pointer, flat.refs, flat.trail), types: new Set<JsonType>(["string"]) };
}

/** Types whose keywords the schema uses, so that `{ "properties": ... }` without `type` mostly yields objects. */
function hintedTypes(flat: Flat): ReadonlySet<JsonType> {
  const hinted = new Set<JsonType>();
  if (flat.properties.size > 0 || flat.required.size > 0 || flat.additionalProperties !== undefined || flat.patternProperties.length > 0) hinted.add("object");
  if (flat.items !== undefined || flat.prefixItems !== undefined || flat.minItems !== undefined || flat.maxItems !== undefined) hinted.add("array");
  if (flat.minLength !== undefined || flat.maxLength !== undefined || flat.patterns.length > 0) hinted.add("string");
  if (flat.lower !== undefined || flat.upper !== undefined || flat.multipleOf.length > 0) hinted.add("number");
  if (flat.format !== undefined) hinted.add(formatSpec(flat.format.name)?.applies === "number" ? "number" : "string");
  return hinted;
}

const SCALAR = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer({ min: -1000, max: 1000 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map(plainZero),
  fc.string({ unit: STRING_UNIT, maxLength: 12 }),
);

/** Any JSON value, for a schema that says nothing: scalars, and lists and objects of scalars unless `minimal`. */
export function anyJson(minimal: boolean): fc.Arbitrary<unknown> {
  if (minimal) return SCALAR;
  return fc.oneof(
    { weight: 4, arbitrary: SCALAR },
    { weight: 1, arbitrary: fc.array(SCALAR, { maxLength: 3 }) },
    { weight: 1, arbitrary: fc.uniqueArray(fc.tuple(PROPERTY_NAME, SCALAR), { maxLength: 3, selector: (e) => e[0] }).map((e) => Object.fromEntries(e)) },
  );
}
