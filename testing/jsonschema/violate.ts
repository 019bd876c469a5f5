// Values that break a schema in exactly one place: a valid value with one location changed so that one keyword there
// fails. Every candidate is proven, not assumed: a replacement value must fail its location's schema in that keyword
// alone, and the whole changed value must fail the whole schema with exactly that one error, so a wrong type where a
// union allows it, or a change another branch of `anyOf` absorbs, is never offered as a violation.
import fc from "fast-check";
import { formatSpec } from "./formats.js";
import { conjunction, jsonKey, pointerToken, type Flat, type JsonType, type SchemaDocument, type Sub } from "./flat.js";
import type { Generator } from "./generate.js";
import { hasType, lengthOf, typeOf, type Validator } from "./validate.js";

/** Where and how a generated call breaks its tool's input schema. */
export interface Violation {
  /** JSON pointer into the arguments, `/items/0/price`; `""` is the arguments object itself. */
  readonly pointer: string;
  /** The schema keyword that fails there. */
  readonly keyword: string;
  /** JSON pointer of that keyword in the tool's `inputSchema`, `#/properties/items/items/properties/price/minimum`. */
  readonly schemaPointer: string;
  /** One sentence, naming the place as a policy would: `` `args.amount` is 5001, above the maximum 5000 ``. */
  readonly message: string;
}

/** A replacement value for one location, and the keyword it fails. */
interface Candidate {
  readonly keyword: string;
  readonly value: unknown;
}

/** One way to break a value: change one location, then check the keyword it must fail. */
interface Site {
  /** The location changed: `apply` receives the value that holds it (its parent) and returns that value changed. */
  readonly path: readonly (string | number)[];
  /** Where the validator must report the one failure, and which keyword fails. */
  readonly pointer: string;
  readonly keyword: string;
  readonly options: readonly unknown[];
  readonly apply: (parent: unknown, option: unknown) => unknown;
  readonly describe: (option: unknown) => string;
}

/** Valid values sampled per location to derive near-miss candidates (a string one character too long). */
const SAMPLE = { seed: 0x5eed, numRuns: 8 };
const NAMES_FOR_EXTRA = ["unexpected", "extra_property", "zz_unexpected", "x"];

/** How a policy names a location: `args`, `args.amount`, `args.items[0]`, `args["content-type"]`. */
export function policyPath(path: readonly (string | number)[]): string {
  return path.reduce<string>(
    (text, step) => (typeof step === "number" ? `${text}[${step}]` : /^[A-Za-z_][A-Za-z0-9_]*$/.test(step) ? `${text}.${step}` : `${text}[${JSON.stringify(step)}]`),
    "args",
  );
}

function jsonPointer(path: readonly (string | number)[]): string {
  return path.map((step) => `/${pointerToken(step)}`).join("");
}

function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function copyWith(container: unknown, key: string | number, value: unknown): unknown {
  if (Array.isArray(container)) return container.map((v, i) => (i === key ? value : v));
  return Object.fromEntries([...Object.entries(container as object).filter(([k]) => k !== key), [key as string, value]]);
}

function replaceAt(root: unknown, path: readonly (string | number)[], change: (current: unknown) => unknown): unknown {
  if (path.length === 0) return change(root);
  const [step, ...rest] = path;
  const child = (root as Record<string | number, unknown>)[step!];
  return copyWith(root, step!, replaceAt(child, rest, change));
}

export class Violator {
  private readonly candidates = new WeakMap<Flat, readonly Candidate[]>();

  constructor(
    private readonly doc: SchemaDocument,
    private readonly generator: Generator,
    private readonly validator: Validator,
  ) {}

  /** Invalid values from valid ones: each value one site away from its schema, and the violation it carries. */
  arbitrary(valid: fc.Arbitrary<unknown>): fc.Arbitrary<{ value: unknown; violation: Violation }> {
    return fc
      .tuple(valid, fc.nat(), fc.nat())
      .map(([value, site, option]) => this.violate(value, site, option))
      .filter((v): v is { value: unknown; violation: Violation } => v !== undefined);
  }

  /** The value with one site broken, or undefined when that site's change is absorbed elsewhere in the schema. */
  violate(value: unknown, siteChoice: number, optionChoice: number): { value: unknown; violation: Violation } | undefined {
    const sites = this.sites(this.doc.root, value, []);
    if (sites.length === 0) return undefined;
    const site = sites[siteChoice % sites.length]!;
    const option = site.options[optionChoice % site.options.length];
    const changed = replaceAt(value, site.path.slice(0, -1), (parent) => site.apply(parent, option));
    const errors = this.validator.errors(this.doc.root, changed, "", 2);
    const [error] = errors;
    if (errors.length !== 1 || error!.keyword !== site.keyword || error!.instancePath !== site.pointer) return undefined;
    return {
      value: changed,
      violation: { pointer: site.pointer, keyword: site.keyword, schemaPointer: error!.schemaPointer, message: site.describe(option) },
    };
  }

  private sites(sub: Sub, value: unknown, path: readonly (string | number)[]): Site[] {
    const flat = this.doc.flat(sub);
    const out: Site[] = path.length === 0 ? [] : this.replacements(flat, path);
    if (Array.isArray(value)) out.push(...this.arraySites(flat, value, path));
    else if (typeOf(value) === "object") out.push(...this.objectSites(flat, value as Record<string, unknown>, path));
    return out;
  }

  /** Sites that put another value at `path`, one per keyword that has candidates there. */
  private replacements(flat: Flat, path: readonly (string | number)[]): Site[] {
    const byKeyword = new Map<string, unknown[]>();
    for (const c of this.candidatesOf(flat)) byKeyword.set(c.keyword, [...(byKeyword.get(c.keyword) ?? []), c.value]);
    const key = path[path.length - 1]!;
    return [...byKeyword].map(([keyword, options]) => ({
      path,
      pointer: jsonPointer(path),
      keyword,
      options,
      apply: (parent: unknown, option: unknown) => copyWith(parent, key, option),
      describe: (option: unknown) => describeReplacement(flat, keyword, `\`${policyPath(path)}\``, option),
    }));
  }

  private objectSites(flat: Flat, value: Readonly<Record<string, unknown>>, path: readonly (string | number)[]): Site[] {
    const out: Site[] = [];
    const at = `\`${policyPath(path)}\``;
    // Sites that change the object itself name a step below it, so that `apply` receives the object.
    const inside = [...path, ""];
    const removable = [...flat.required.keys()].filter((k) => Object.hasOwn(value, k));
    if (removable.length > 0) {
      out.push({
        path: inside,
        pointer: jsonPointer(path),
        keyword: "required",
        options: removable,
        apply: (object, key) => Object.fromEntries(Object.entries(object as object).filter(([k]) => k !== key)),
        describe: (key) => `${at} lacks the required property \`${String(key)}\``,
      });
    }
    const additional = flat.additionalProperties === undefined ? undefined : this.doc.flat(flat.additionalProperties);
    const extraName = NAMES_FOR_EXTRA.find(
      (n) => !flat.properties.has(n) && !Object.hasOwn(value, n) && !flat.patternProperties.some((p) => p.pattern.regex.test(n)),
    );
    const nameAllowed = extraName !== undefined && (flat.propertyNames === undefined || this.validator.valid(flat.propertyNames, extraName));
    if (nameAllowed && additional?.never !== undefined) {
      out.push({
        path: inside,
        pointer: jsonPointer(path),
        keyword: "additionalProperties",
        options: [null, 0, "x"],
        apply: (object, v) => copyWith(object, extraName!, v),
        describe: () => `${at} has the property \`${extraName}\`, which its schema does not allow`,
      });
    }
    if (nameAllowed && additional !== undefined && additional.never === undefined) {
      out.push(...this.replacements(additional, [...path, extraName!]));
    }
    for (const [key, declared] of flat.properties) {
      const schema = this.withPatterns(flat, key, declared);
      // An absent optional property is a site too: adding it with a value its schema rejects.
      if (Object.hasOwn(value, key)) out.push(...this.sites(schema, value[key], [...path, key]));
      else out.push(...this.replacements(this.doc.flat(schema), [...path, key]));
    }
    for (const key of Object.keys(value)) {
      if (flat.properties.has(key)) continue;
      const patterns = flat.patternProperties.filter((p) => p.pattern.regex.test(key)).map((p) => p.sub);
      const schema = patterns.length > 0 ? conjunction(patterns) : flat.additionalProperties;
      if (schema !== undefined) out.push(...this.sites(schema, value[key], [...path, key]));
    }
    return out;
  }

  private withPatterns(flat: Flat, key: string, declared: Sub): Sub {
    const patterns = flat.patternProperties.filter((p) => p.pattern.regex.test(key)).map((p) => p.sub);
    return patterns.length === 0 ? declared : conjunction([declared, ...patterns]);
  }

  private arraySites(flat: Flat, value: readonly unknown[], path: readonly (string | number)[]): Site[] {
    const out: Site[] = [];
    const at = `\`${policyPath(path)}\``;
    // The arguments are an object, so an array always has a parent: these sites replace it there.
    const replaced = (keyword: string, array: unknown[], sentence: string): Site => ({
      path,
      pointer: jsonPointer(path),
      keyword,
      options: [array],
      apply: (parent, option) => copyWith(parent, path[path.length - 1]!, option),
      describe: () => sentence,
    });
    const min = flat.minItems?.value;
    if (min !== undefined && min > 0 && value.length >= min) {
      out.push(replaced("minItems", value.slice(0, min - 1), `${at} has ${min - 1} items, fewer than the minimum ${min}`));
    }
    const max = flat.maxItems?.value;
    if (max !== undefined && value.length > 0 && flat.uniqueItems === undefined) {
      const longer = Array.from({ length: max + 1 }, (_, i) => value[i % value.length]);
      out.push(replaced("maxItems", longer, `${at} has ${max + 1} items, more than the maximum ${max}`));
    }
    if (flat.uniqueItems !== undefined && value.length > 0) {
      const twice = value.length < (max ?? Infinity) ? [...value, value[0]] : value.length >= 2 ? [value[0], value[0], ...value.slice(2)] : undefined;
      if (twice !== undefined) out.push(replaced("uniqueItems", twice, `${at} holds the item ${show(value[0])} twice`));
    }
    const prefix = flat.prefixItems ?? [];
    for (const [i, item] of value.entries()) {
      const sub = i < prefix.length ? prefix[i] : flat.items;
      if (sub !== undefined) out.push(...this.sites(sub, item, [...path, i]));
    }
    return out;
  }

  /** Values that fail `flat` in exactly one keyword, at the value itself. */
  private candidatesOf(flat: Flat): readonly Candidate[] {
    let found = this.candidates.get(flat);
    if (found === undefined) {
      found = this.proposals(flat).filter((c) => {
        const errors = this.validator.errorsFlat(flat, c.value, "", 2);
        return errors.length === 1 && errors[0]!.keyword === c.keyword && errors[0]!.instancePath === "";
      });
      found = dedupe(found);
      this.candidates.set(flat, found);
    }
    return found;
  }

  /** Values that may break one keyword of `flat`; candidatesOf keeps those that break exactly that one. */
  private proposals(flat: Flat): Candidate[] {
    const out: Candidate[] = [];
    const add = (keyword: string, ...values: unknown[]) => values.forEach((value) => out.push({ keyword, value }));
    const samples = this.samples(flat);
    if (flat.types !== undefined) add("type", ...typeWitnesses(flat.types));
    if (flat.values !== undefined) {
      const keyword = flat.valuesKeyword!.keyword;
      const strings = flat.values.filter((v): v is string => typeof v === "string");
      const numbers = flat.values.filter((v): v is number => typeof v === "number");
      add(keyword, "not-a-listed-value", ...strings.slice(0, 2).map((s) => `${s}_`), ...strings.slice(0, 1).map((s) => s.toUpperCase() === s ? s.toLowerCase() : s.toUpperCase()));
      if (numbers.length > 0) add(keyword, Math.max(...numbers) + 1, Math.min(...numbers) - 1, 0.5);
      add(keyword, true, false, null, 0, "", [], {});
    }
    const { lower, upper } = flat;
    if (lower !== undefined) add(lower.keyword, lower.value - 1, lower.value - 0.5, lower.value, Math.floor(lower.value) - 1);
    if (upper !== undefined) add(upper.keyword, upper.value + 1, upper.value + 0.5, upper.value, Math.ceil(upper.value) + 1);
    for (const m of flat.multipleOf) {
      const base = lower === undefined ? 0 : Math.ceil(lower.value / m.value) * m.value;
      add("multipleOf", base + m.value / 2, base + m.value / 3, base + 1, base + 0.5, m.value / 2);
    }
    const strings = samples.filter((s): s is string => typeof s === "string");
    if (flat.minLength !== undefined && flat.minLength.value > 0) {
      const n = flat.minLength.value - 1;
      add("minLength", "a".repeat(n), "0".repeat(n), ...strings.map((s) => [...s].slice(0, n).join("")));
    }
    if (flat.maxLength !== undefined) {
      const n = flat.maxLength.value + 1;
      add("maxLength", "a".repeat(n), "0".repeat(n), ...strings.map((s) => s + "a".repeat(Math.max(0, n - lengthOf(s)))));
    }
    if (flat.patterns.length > 0) {
      add("pattern", "", " ", "!", "not matching", "0", "A", "a", "#", ...strings.flatMap((s) => [`${s} `, ` ${s}`, `!${s}`, s.slice(1), s.toUpperCase(), s.toLowerCase()]));
    }
    const format = flat.format === undefined ? undefined : formatSpec(flat.format.name);
    if (format !== undefined) add("format", ...format.invalid);
    if (flat.anyOf.length > 0) add("anyOf", ...typeWitnesses(new Set()), "", 0, -1, "not-a-branch");
    if (flat.oneOf.length > 0) add("oneOf", ...typeWitnesses(new Set()), "", 0, -1, "not-a-branch", ...samples);
    return out;
  }

  private samples(flat: Flat): unknown[] {
    try {
      return fc.sample(this.generator.fromFlat(flat), SAMPLE);
    } catch {
      return [];
    }
  }
}

/** One value of each JSON type not in `types` (every type when empty). */
function typeWitnesses(types: ReadonlySet<JsonType>): unknown[] {
  const witnesses: unknown[] = [null, true, 7, 1.5, "text", [], {}];
  return types.size === 0 ? witnesses : witnesses.filter((w) => !hasType(types, w));
}

function dedupe(candidates: readonly Candidate[]): Candidate[] {
  const seen = new Set<string>();
  return candidates.filter((c) => {
    const key = `${c.keyword}\u0000${jsonKey(c.value)}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function describeReplacement(flat: Flat, keyword: string, at: string, value: unknown): string {
  const shown = show(value);
  switch (keyword) {
    case "type":
      return `${at} is ${shown}, not ${[...flat.types!].join(" or ")}`;
    case "enum":
      return `${at} is ${shown}, not one of ${show(flat.values)}`;
    case "const":
      return `${at} is ${shown}, not the constant ${show(flat.values![0])}`;
    case "minimum":
      return `${at} is ${shown}, below the minimum ${flat.lower!.value}`;
    case "exclusiveMinimum":
      return `${at} is ${shown}, not above ${flat.lower!.value}`;
    case "maximum":
      return `${at} is ${shown}, above the maximum ${flat.upper!.value}`;
    case "exclusiveMaximum":
      return `${at} is ${shown}, not below ${flat.upper!.value}`;
    case "multipleOf":
      return `${at} is ${shown}, not a multiple of ${flat.multipleOf.map((m) => m.value).join(" and ")}`;
    case "minLength":
      return `${at} has ${lengthOf(String(value))} characters, fewer than the minimum ${flat.minLength!.value}`;
    case "maxLength":
      return `${at} has ${lengthOf(String(value))} characters, more than the maximum ${flat.maxLength!.value}`;
    case "pattern":
      return `${at} is ${shown}, which does not match ${flat.patterns.map((p) => `\`${p.source}\``).join(" and ")}`;
    case "format":
      return `${at} is ${shown}, not a valid \`${flat.format!.name}\``;
    case "anyOf":
      return `${at} is ${shown}, which matches no branch of \`anyOf\``;
    case "oneOf":
      return `${at} is ${shown}, which does not match exactly one branch of \`oneOf\``;
    default:
      return `${at} is ${shown}, which fails \`${keyword}\``;
  }
}
