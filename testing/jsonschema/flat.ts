// One JSON Schema location read into a flat set of constraints: `$ref`s followed, `allOf` merged, every keyword checked
// against the ones the generator honours. Generation, validation and violation all read this one form, so they agree
// on what a keyword means; a keyword none of them honours is an ArbitraryError here, before anything is generated.
import { ArbitraryError, ArbitraryErrorCode } from "../errors.js";

export type JsonType = "null" | "boolean" | "integer" | "number" | "string" | "array" | "object";
export const JSON_TYPES: readonly JsonType[] = ["null", "boolean", "integer", "number", "string", "array", "object"];

/** A subschema not read yet: a schema at a pointer, or the conjunction of several (merged `allOf` children). */
export type Sub =
  | { readonly schema: unknown; readonly pointer: string; readonly refs: number; readonly trail: readonly string[] }
  | { readonly all: readonly Sub[]; readonly refs: number; readonly trail: readonly string[] };

/** A bound on numbers; `exclusive` for `exclusiveMinimum`/`exclusiveMaximum` (and draft-04's boolean form). */
export interface Bound {
  readonly value: number;
  readonly exclusive: boolean;
  readonly keyword: string;
  readonly pointer: string;
}

/** A number-valued keyword with the pointer of the schema that set it. */
export interface Limit {
  readonly value: number;
  readonly pointer: string;
}

export interface Pattern {
  readonly source: string;
  readonly regex: RegExp;
  readonly pointer: string;
}

/** A keyword whose value is a list of subschemas (`anyOf`, `oneOf`), with the pointer of the list. */
export interface Branches {
  readonly pointer: string;
  readonly branches: readonly Sub[];
}

/** Everything one schema location requires, after `$ref` and `allOf`. Absent keys constrain nothing. */
export interface Flat {
  /** Pointer of the first schema read into this one; keywords carry their own. */
  readonly pointer: string;
  /** How many times a `$ref` already followed on the way here from the root was followed again: bounds recursion. */
  readonly refs: number;
  /** The `$ref`s followed on the way here. */
  readonly trail: readonly string[];
  /** Set when no value can satisfy the schema (`false`, or contradictory types): the pointer at fault. */
  readonly never?: string;
  readonly types?: ReadonlySet<JsonType>;
  readonly typePointer?: string;
  readonly values?: readonly unknown[];
  readonly valuesKeyword?: { readonly keyword: "enum" | "const"; readonly pointer: string };
  readonly lower?: Bound;
  readonly upper?: Bound;
  readonly multipleOf: readonly Limit[];
  readonly minLength?: Limit;
  readonly maxLength?: Limit;
  readonly patterns: readonly Pattern[];
  readonly format?: { readonly name: string; readonly pointer: string };
  readonly prefixItems?: readonly Sub[];
  readonly prefixPointer?: string;
  /** The schema of items after `prefixItems` (or of every item when there are none). */
  readonly items?: Sub;
  readonly minItems?: Limit;
  readonly maxItems?: Limit;
  readonly uniqueItems?: string;
  readonly properties: ReadonlyMap<string, Sub>;
  readonly required: ReadonlyMap<string, string>;
  readonly patternProperties: readonly { readonly pattern: Pattern; readonly sub: Sub }[];
  /** undefined: any additional property is allowed. */
  readonly additionalProperties?: Sub;
  readonly additionalPointer?: string;
  readonly propertyNames?: Sub;
  readonly propertyNamesPointer?: string;
  readonly minProperties?: Limit;
  readonly maxProperties?: Limit;
  readonly anyOf: readonly Branches[];
  readonly oneOf: readonly Branches[];
  readonly not: readonly { readonly pointer: string; readonly sub: Sub }[];
}

/** Keywords that describe and never constrain: read past on purpose. */
const ANNOTATIONS = new Set([
  "$schema", "$id", "$comment", "$anchor", "$vocabulary", "$dynamicAnchor", "$recursiveAnchor", "title", "description",
  "default", "examples", "deprecated", "readOnly", "writeOnly", "contentEncoding", "contentMediaType", "contentSchema",
  "$defs", "definitions",
]);

/** Validation keywords the generator cannot honour yet: a schema using one is reported, never half-generated. */
const UNSUPPORTED = new Set([
  "if", "dependentRequired", "dependentSchemas", "dependencies", "contains", "unevaluatedProperties", "unevaluatedItems",
  "$dynamicRef", "$recursiveRef",
]);

/** Keywords this module reads. Anything neither here nor above is not JSON Schema and constrains nothing. */
const HONOURED = new Set([
  "type", "enum", "const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength",
  "maxLength", "pattern", "format", "items", "prefixItems", "additionalItems", "minItems", "maxItems", "uniqueItems",
  "properties", "required", "additionalProperties", "patternProperties", "propertyNames", "minProperties",
  "maxProperties", "anyOf", "oneOf", "allOf", "not", "$ref",
]);

/** The keywords in each class, for the documentation and its test. */
export const HONOURED_KEYWORDS: readonly string[] = [...HONOURED];
export const UNSUPPORTED_KEYWORDS: readonly string[] = [...UNSUPPORTED];
export const ANNOTATION_KEYWORDS: readonly string[] = [...ANNOTATIONS];

/** Direct `$ref`/`allOf` chains longer than this are cycles that never reach a constraint (`{ "$ref": "#" }`). */
const MAX_REF_CHAIN = 64;

type Json = Readonly<Record<string, unknown>>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** JSON pointer escaping of one reference token. */
export function pointerToken(token: string | number): string {
  return String(token).replaceAll("~", "~0").replaceAll("/", "~1");
}

/** One tool's input schema and the caches every reader of it shares. */
export class SchemaDocument {
  private readonly flats = new WeakMap<Sub, Flat>();
  private readonly targets = new Map<string, unknown>();
  readonly root: Sub;

  constructor(
    readonly tool: string,
    readonly schema: unknown,
  ) {
    this.root = { schema, pointer: "#", refs: 0, trail: ["#"] };
  }

  error(code: ArbitraryErrorCode, pointer: string, keyword: string, sentence: string): ArbitraryError {
    return new ArbitraryError(code, `tool \`${this.tool}\`: ${sentence} (at \`${pointer}\`, keyword \`${keyword}\`)`, {
      tool: this.tool,
      pointer,
      keyword,
    });
  }

  unsupported(pointer: string, keyword: string, sentence: string): ArbitraryError {
    return this.error(ArbitraryErrorCode.UnsupportedKeyword, pointer, keyword, sentence);
  }

  unsatisfiable(pointer: string, keyword: string, sentence: string): ArbitraryError {
    return this.error(ArbitraryErrorCode.Unsatisfiable, pointer, keyword, sentence);
  }

  /** The flat form of a subschema, read once. */
  flat(sub: Sub): Flat {
    let found = this.flats.get(sub);
    if (found === undefined) {
      found = this.read(sub, 0);
      this.flats.set(sub, found);
    }
    return found;
  }

  private read(sub: Sub, chain: number): Flat {
    if (chain > MAX_REF_CHAIN) {
      const pointer = "pointer" in sub ? sub.pointer : "#";
      throw this.unsatisfiable(pointer, "$ref", "`$ref` and `allOf` refer to each other without ever reaching a constraint");
    }
    if ("all" in sub) return sub.all.map((part) => this.read(part, chain + 1)).reduce((a, b) => this.merge(a, b));
    const { schema, pointer, refs, trail } = sub;
    if (schema === true) return emptyFlat(pointer, refs, trail);
    if (schema === false) return { ...emptyFlat(pointer, refs, trail), never: pointer };
    if (!isObject(schema)) throw this.unsupported(pointer, "$schema", "a schema must be an object or a boolean");
    for (const keyword of Object.keys(schema)) {
      if (UNSUPPORTED.has(keyword)) {
        throw this.unsupported(pointer, keyword, `keyword \`${keyword}\` is not supported by the generator`);
      }
    }
    let flat = this.own(schema, pointer, refs, trail);
    const ref = schema["$ref"];
    if (ref !== undefined) {
      const target = this.resolve(ref, pointer);
      const again = trail.includes(target.pointer) ? refs + 1 : refs;
      flat = this.merge(flat, this.read({ schema: target.schema, pointer: target.pointer, refs: again, trail: [...trail, target.pointer] }, chain + 1));
    }
    const allOf = schema["allOf"];
    if (allOf !== undefined) {
      const list = this.list(allOf, pointer, "allOf");
      for (const [i, branch] of list.entries()) {
        flat = this.merge(flat, this.read({ schema: branch, pointer: `${pointer}/allOf/${i}`, refs, trail }, chain + 1));
      }
    }
    return flat;
  }

  private list(value: unknown, pointer: string, keyword: string): readonly unknown[] {
    if (!Array.isArray(value) || value.length === 0) {
      throw this.unsupported(pointer, keyword, `\`${keyword}\` must be a non-empty list of schemas`);
    }
    return value;
  }

  /** The schema a local `$ref` names: `#`, `#/$defs/x`, `#/definitions/x` or any JSON pointer into the document. */
  private resolve(ref: unknown, pointer: string): { schema: unknown; pointer: string } {
    if (typeof ref !== "string" || !ref.startsWith("#")) {
      throw this.unsupported(pointer, "$ref", `\`$ref\` ${JSON.stringify(ref)} is not a local reference; only \`#...\` pointers into the schema are followed`);
    }
    if (this.targets.has(ref)) return { schema: this.targets.get(ref), pointer: ref };
    if (ref !== "#" && !ref.startsWith("#/")) {
      throw this.unsupported(pointer, "$ref", `\`$ref\` \`${ref}\` names an anchor; only JSON pointers are followed`);
    }
    let target: unknown = this.schema;
    const tokens = ref === "#" ? [] : ref.slice(2).split("/");
    for (const raw of tokens) {
      const token = decodeURIComponent(raw).replaceAll("~1", "/").replaceAll("~0", "~");
      const next = Array.isArray(target) ? target[Number(token)] : isObject(target) ? target[token] : undefined;
      if (next === undefined || (Array.isArray(target) && !/^\d+$/.test(token))) {
        throw this.unsupported(pointer, "$ref", `\`$ref\` \`${ref}\` points at nothing in the schema`);
      }
      target = next;
    }
    this.targets.set(ref, target);
    return { schema: target, pointer: ref };
  }

  /** The constraints a schema object states itself, without its `$ref` and `allOf`. */
  private own(schema: Json, pointer: string, refs: number, trail: readonly string[]): Flat {
    const num = (key: string, min = -Infinity): Limit | undefined => {
      const value = schema[key];
      if (value === undefined) return undefined;
      if (typeof value !== "number" || !Number.isFinite(value) || value < min) {
        throw this.unsupported(pointer, key, `\`${key}\` must be a number${min === 0 ? " at least 0" : ""}`);
      }
      return { value, pointer };
    };
    const count = (key: string): Limit | undefined => {
      const limit = num(key, 0);
      if (limit !== undefined && !Number.isInteger(limit.value)) throw this.unsupported(pointer, key, `\`${key}\` must be a whole number`);
      return limit;
    };
    const sub = (key: string, value: unknown, at = `${pointer}/${pointerToken(key)}`): Sub => ({ schema: value, pointer: at, refs, trail });
    const out: { -readonly [K in keyof Flat]: Flat[K] } = emptyFlat(pointer, refs, trail);

    const type = schema["type"];
    if (type !== undefined) {
      const list = Array.isArray(type) ? type : [type];
      for (const t of list) {
        if (!JSON_TYPES.includes(t as JsonType)) throw this.unsupported(pointer, "type", `type ${JSON.stringify(t)} is not a JSON Schema type`);
      }
      out.types = new Set(list as JsonType[]);
      out.typePointer = pointer;
      if (out.types.size === 0) out.never = pointer;
    }
    if ("const" in schema) {
      out.values = [schema["const"]];
      out.valuesKeyword = { keyword: "const", pointer };
    }
    if (schema["enum"] !== undefined) {
      const values = schema["enum"];
      if (!Array.isArray(values)) throw this.unsupported(pointer, "enum", "`enum` must be a list");
      out.values = out.values === undefined ? values : out.values.filter((v) => values.some((w) => jsonEqual(v, w)));
      out.valuesKeyword ??= { keyword: "enum", pointer };
    }

    const minimum = num("minimum");
    const maximum = num("maximum");
    const exMin = schema["exclusiveMinimum"];
    const exMax = schema["exclusiveMaximum"];
    if (minimum !== undefined) out.lower = { value: minimum.value, exclusive: exMin === true, keyword: "minimum", pointer };
    if (maximum !== undefined) out.upper = { value: maximum.value, exclusive: exMax === true, keyword: "maximum", pointer };
    if (exMin !== undefined && typeof exMin !== "boolean") {
      const limit = num("exclusiveMinimum")!;
      out.lower = tighterLower(out.lower, { value: limit.value, exclusive: true, keyword: "exclusiveMinimum", pointer });
    }
    if (exMax !== undefined && typeof exMax !== "boolean") {
      const limit = num("exclusiveMaximum")!;
      out.upper = tighterUpper(out.upper, { value: limit.value, exclusive: true, keyword: "exclusiveMaximum", pointer });
    }
    const multipleOf = num("multipleOf");
    if (multipleOf !== undefined) {
      if (multipleOf.value <= 0) throw this.unsupported(pointer, "multipleOf", "`multipleOf` must be greater than 0");
      out.multipleOf = [multipleOf];
    }

    out.minLength = count("minLength");
    out.maxLength = count("maxLength");
    const pattern = schema["pattern"];
    if (pattern !== undefined) out.patterns = [this.pattern(pattern, pointer, "pattern")];
    const format = schema["format"];
    if (format !== undefined) {
      if (typeof format !== "string") throw this.unsupported(pointer, "format", "`format` must be a string");
      out.format = { name: format, pointer };
    }

    const items = schema["items"];
    const prefixItems = schema["prefixItems"];
    if (prefixItems !== undefined) {
      out.prefixItems = this.list(prefixItems, pointer, "prefixItems").map((s, i) => sub("prefixItems", s, `${pointer}/prefixItems/${i}`));
      out.prefixPointer = pointer;
      if (items !== undefined) out.items = sub("items", items);
    } else if (Array.isArray(items)) {
      // Draft-07 tuples: `items` is a list, `additionalItems` governs the rest.
      out.prefixItems = items.map((s, i) => sub("items", s, `${pointer}/items/${i}`));
      out.prefixPointer = pointer;
      if (schema["additionalItems"] !== undefined) out.items = sub("additionalItems", schema["additionalItems"]);
    } else if (items !== undefined) {
      out.items = sub("items", items);
    }
    out.minItems = count("minItems");
    out.maxItems = count("maxItems");
    if (schema["uniqueItems"] === true) out.uniqueItems = pointer;

    const properties = schema["properties"];
    if (properties !== undefined) {
      if (!isObject(properties)) throw this.unsupported(pointer, "properties", "`properties` must be an object");
      out.properties = new Map(Object.entries(properties).map(([k, s]) => [k, sub(k, s, `${pointer}/properties/${pointerToken(k)}`)]));
    }
    const required = schema["required"];
    if (required !== undefined) {
      if (!Array.isArray(required) || required.some((r) => typeof r !== "string")) {
        throw this.unsupported(pointer, "required", "`required` must be a list of property names");
      }
      out.required = new Map(required.map((r: string) => [r, pointer]));
    }
    const patternProperties = schema["patternProperties"];
    if (patternProperties !== undefined) {
      if (!isObject(patternProperties)) throw this.unsupported(pointer, "patternProperties", "`patternProperties` must be an object");
      out.patternProperties = Object.entries(patternProperties).map(([p, s]) => ({
        pattern: this.pattern(p, pointer, "patternProperties"),
        sub: sub(p, s, `${pointer}/patternProperties/${pointerToken(p)}`),
      }));
    }
    const additional = schema["additionalProperties"];
    if (additional !== undefined && additional !== true) {
      out.additionalProperties = sub("additionalProperties", additional);
      out.additionalPointer = pointer;
    }
    if (schema["propertyNames"] !== undefined && schema["propertyNames"] !== true) {
      out.propertyNames = sub("propertyNames", schema["propertyNames"]);
      out.propertyNamesPointer = pointer;
    }
    out.minProperties = count("minProperties");
    out.maxProperties = count("maxProperties");

    for (const keyword of ["anyOf", "oneOf"] as const) {
      if (schema[keyword] === undefined) continue;
      const branches = this.list(schema[keyword], pointer, keyword).map((s, i) => sub(keyword, s, `${pointer}/${keyword}/${i}`));
      out[keyword] = [{ pointer, branches }];
    }
    if (schema["not"] !== undefined) out.not = [{ pointer, sub: sub("not", schema["not"]) }];
    return out;
  }

  private pattern(source: unknown, pointer: string, keyword: string): Pattern {
    if (typeof source !== "string") throw this.unsupported(pointer, keyword, "a pattern must be a string");
    try {
      return { source, regex: new RegExp(source, "u"), pointer };
    } catch {
      throw this.unsupported(pointer, keyword, `pattern \`${source}\` is not a valid ECMAScript regular expression with the \`u\` flag`);
    }
  }

  /** The conjunction of two flat schemas: what `allOf` and a `$ref` with siblings mean. */
  merge(a: Flat, b: Flat): Flat {
    const deeper = b.refs > a.refs ? b : a;
    const out: { -readonly [K in keyof Flat]: Flat[K] } = { ...a, refs: deeper.refs, trail: deeper.trail };
    out.never = a.never ?? b.never;
    if (b.types !== undefined) {
      out.types = a.types === undefined ? b.types : intersectTypes(a.types, b.types);
      out.typePointer = b.typePointer;
      if (out.types.size === 0) out.never ??= b.typePointer;
    }
    if (b.values !== undefined) {
      out.values = a.values === undefined ? b.values : a.values.filter((v) => b.values!.some((w) => jsonEqual(v, w)));
      out.valuesKeyword = a.valuesKeyword ?? b.valuesKeyword;
    }
    out.lower = tighterLower(a.lower, b.lower);
    out.upper = tighterUpper(a.upper, b.upper);
    out.multipleOf = [...a.multipleOf, ...b.multipleOf];
    out.minLength = larger(a.minLength, b.minLength);
    out.maxLength = smaller(a.maxLength, b.maxLength);
    out.patterns = [...a.patterns, ...b.patterns];
    if (a.format !== undefined && b.format !== undefined && a.format.name !== b.format.name) {
      throw this.unsupported(b.format.pointer, "format", `formats \`${a.format.name}\` and \`${b.format.name}\` both apply here; the generator takes one format per value`);
    }
    out.format = a.format ?? b.format;
    if (a.prefixItems !== undefined && b.prefixItems !== undefined) {
      throw this.unsupported(b.prefixPointer!, "prefixItems", "two tuple schemas apply to one array; the generator merges only one");
    }
    out.prefixItems = a.prefixItems ?? b.prefixItems;
    out.prefixPointer = a.prefixPointer ?? b.prefixPointer;
    out.items = both(a.items, b.items);
    out.minItems = larger(a.minItems, b.minItems);
    out.maxItems = smaller(a.maxItems, b.maxItems);
    out.uniqueItems = a.uniqueItems ?? b.uniqueItems;
    this.mergeObjects(a, b, out);
    out.minProperties = larger(a.minProperties, b.minProperties);
    out.maxProperties = smaller(a.maxProperties, b.maxProperties);
    out.anyOf = [...a.anyOf, ...b.anyOf];
    out.oneOf = [...a.oneOf, ...b.oneOf];
    out.not = [...a.not, ...b.not];
    return out;
  }

  /**
   * Properties of two schemas in one: a property one side does not declare falls under that side's pattern or
   * additional properties, so `{ properties: {a}, additionalProperties: false }` and `{ properties: {b} }` forbid `b`.
   */
  private mergeObjects(a: Flat, b: Flat, out: { -readonly [K in keyof Flat]: Flat[K] }): void {
    const mixes = (x: Flat, y: Flat) => x.patternProperties.length > 0 && y.additionalProperties !== undefined;
    if (mixes(a, b) || mixes(b, a)) {
      const at = a.additionalPointer ?? b.additionalPointer ?? a.pointer;
      throw this.unsupported(at, "additionalProperties", "`allOf` mixes `patternProperties` of one branch with `additionalProperties` of another");
    }
    const properties = new Map<string, Sub>();
    for (const key of new Set([...a.properties.keys(), ...b.properties.keys()])) {
      const parts = [this.propertySchema(a, key), this.propertySchema(b, key)].filter((s): s is Sub => s !== undefined);
      properties.set(key, parts.length === 1 ? parts[0]! : conjunction(parts));
    }
    out.properties = properties;
    out.required = new Map([...a.required, ...b.required]);
    out.patternProperties = [...a.patternProperties, ...b.patternProperties];
    out.additionalProperties = both(a.additionalProperties, b.additionalProperties);
    out.additionalPointer = a.additionalPointer ?? b.additionalPointer;
    out.propertyNames = both(a.propertyNames, b.propertyNames);
    out.propertyNamesPointer = a.propertyNamesPointer ?? b.propertyNamesPointer;
  }

  /** The schema one side gives a property: declared, else its matching patterns, else its additional properties. */
  private propertySchema(flat: Flat, key: string): Sub | undefined {
    const declared = flat.properties.get(key);
    if (declared !== undefined) return declared;
    const patterns = flat.patternProperties.filter((p) => p.pattern.regex.test(key)).map((p) => p.sub);
    if (patterns.length > 0) return patterns.length === 1 ? patterns[0] : conjunction(patterns);
    return flat.additionalProperties;
  }
}

/** A schema location that requires nothing. */
export function emptyFlat(pointer: string, refs: number, trail: readonly string[]): { -readonly [K in keyof Flat]: Flat[K] } {
  return {
    pointer,
    refs,
    trail,
    multipleOf: [],
    patterns: [],
    properties: new Map(),
    required: new Map(),
    patternProperties: [],
    anyOf: [],
    oneOf: [],
    not: [],
  };
}

/** Several subschemas that all apply to one value, recursing as deep as the deepest of them. */
export function conjunction(parts: readonly Sub[]): Sub {
  const deepest = parts.reduce((a, b) => (b.refs > a.refs ? b : a));
  return { all: parts, refs: deepest.refs, trail: deepest.trail };
}

function both(a: Sub | undefined, b: Sub | undefined): Sub | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return conjunction([a, b]);
}

function larger(a: Limit | undefined, b: Limit | undefined): Limit | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return b.value > a.value ? b : a;
}

function smaller(a: Limit | undefined, b: Limit | undefined): Limit | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return b.value < a.value ? b : a;
}

function tighterLower(a: Bound | undefined, b: Bound | undefined): Bound | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  if (b.value > a.value || (b.value === a.value && b.exclusive && !a.exclusive)) return b;
  return a;
}

function tighterUpper(a: Bound | undefined, b: Bound | undefined): Bound | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  if (b.value < a.value || (b.value === a.value && b.exclusive && !a.exclusive)) return b;
  return a;
}

/** `integer` is a subtype of `number`: `number` ∩ `integer` is `integer`. */
function intersectTypes(a: ReadonlySet<JsonType>, b: ReadonlySet<JsonType>): ReadonlySet<JsonType> {
  const out = new Set<JsonType>();
  for (const t of a) {
    if (b.has(t)) out.add(t);
    else if (t === "number" && b.has("integer")) out.add("integer");
    else if (t === "integer" && b.has("number")) out.add("integer");
  }
  return out;
}

/** Equality of JSON values as JSON Schema means it: object key order does not matter, `1` equals `1.0`. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const other = b as unknown[];
    return a.length === other.length && a.every((v, i) => jsonEqual(v, other[i]));
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && jsonEqual((a as Json)[k], (b as Json)[k]));
}

/** A key that equal JSON values share: canonical JSON with sorted keys. */
export function jsonKey(value: unknown): string {
  if (typeof value !== "object" || value === null) return JSON.stringify(value) ?? "undefined";
  if (Array.isArray(value)) return `[${value.map(jsonKey).join(",")}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${jsonKey((value as Json)[k])}`).join(",")}}`;
}
