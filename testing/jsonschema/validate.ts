// A JSON Schema validator over the flat form, for exactly the keywords the generator honours: it filters `oneOf` and
// `not` branches and proves that an invalid call violates its schema in the one place it claims. Numbers follow ajv
// (`multipleOf` is "the quotient is an integer"), lengths count code points, patterns use the `u` flag.
import { formatSpec } from "./formats.js";
import { jsonKey, pointerToken, type Flat, type JsonType, type SchemaDocument, type Sub } from "./flat.js";

/** One failed keyword: where in the instance, which keyword, and where in the schema it is. */
export interface SchemaError {
  /** JSON pointer into the value, `/items/0/price`; `""` for the value itself. */
  readonly instancePath: string;
  readonly keyword: string;
  readonly schemaPointer: string;
}

export function typeOf(value: unknown): JsonType | undefined {
  if (value === null) return "null";
  if (typeof value === "boolean") return "boolean";
  if (typeof value === "number") return Number.isFinite(value) ? (Number.isInteger(value) ? "integer" : "number") : undefined;
  if (typeof value === "string") return "string";
  if (Array.isArray(value)) return "array";
  if (typeof value === "object") return "object";
  return undefined;
}

export function hasType(types: ReadonlySet<JsonType>, value: unknown): boolean {
  const type = typeOf(value);
  if (type === undefined) return false;
  return types.has(type) || (type === "integer" && types.has("number"));
}

/** Code points, as JSON Schema counts string length. */
export function lengthOf(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

export function isMultipleOf(value: number, divisor: number): boolean {
  return Number.isInteger(value / divisor);
}

export class Validator {
  constructor(private readonly doc: SchemaDocument) {}

  valid(sub: Sub, value: unknown): boolean {
    return this.errors(sub, value, "", 1).length === 0;
  }

  /** The failed keywords of `value` against `sub`, at most `limit` of them (validation stops there). */
  errors(sub: Sub, value: unknown, path = "", limit = Infinity): SchemaError[] {
    const out: SchemaError[] = [];
    this.check(this.doc.flat(sub), value, path, out, limit);
    return out;
  }

  validFlat(flat: Flat, value: unknown): boolean {
    const out: SchemaError[] = [];
    this.check(flat, value, "", out, 1);
    return out.length === 0;
  }

  errorsFlat(flat: Flat, value: unknown, path = "", limit = Infinity): SchemaError[] {
    const out: SchemaError[] = [];
    this.check(flat, value, path, out, limit);
    return out;
  }

  private check(flat: Flat, value: unknown, path: string, out: SchemaError[], limit: number): void {
    const fail = (keyword: string, schemaPointer: string): boolean => {
      out.push({ instancePath: path, keyword, schemaPointer });
      return out.length >= limit;
    };
    if (flat.never !== undefined) {
      fail("false", flat.never);
      return;
    }
    // A value of the wrong type still meets the other keywords of its own type, as ajv checks them: 1.5 against
    // `{ "type": "integer", "multipleOf": 5 }` fails both.
    if (flat.types !== undefined && !hasType(flat.types, value) && fail("type", `${flat.typePointer}/type`)) return;
    if (flat.values !== undefined && !flat.values.some((v) => jsonKey(v) === jsonKey(value))) {
      if (fail(flat.valuesKeyword!.keyword, `${flat.valuesKeyword!.pointer}/${flat.valuesKeyword!.keyword}`)) return;
    }
    if (typeof value === "number" && this.checkNumber(flat, value, fail)) return;
    if (typeof value === "string" && this.checkString(flat, value, fail)) return;
    if (Array.isArray(value) && this.checkArray(flat, value, path, out, limit, fail)) return;
    if (typeOf(value) === "object" && this.checkObject(flat, value as Record<string, unknown>, path, out, limit, fail)) return;
    for (const { pointer, branches } of flat.anyOf) {
      if (!branches.some((b) => this.valid(b, value)) && fail("anyOf", `${pointer}/anyOf`)) return;
    }
    for (const { pointer, branches } of flat.oneOf) {
      if (branches.filter((b) => this.valid(b, value)).length !== 1 && fail("oneOf", `${pointer}/oneOf`)) return;
    }
    for (const { pointer, sub } of flat.not) {
      if (this.valid(sub, value) && fail("not", `${pointer}/not`)) return;
    }
  }

  private checkNumber(flat: Flat, value: number, fail: (k: string, p: string) => boolean): boolean {
    const { lower, upper } = flat;
    if (lower !== undefined && (lower.exclusive ? value <= lower.value : value < lower.value)) {
      if (fail(lower.keyword, `${lower.pointer}/${lower.keyword}`)) return true;
    }
    if (upper !== undefined && (upper.exclusive ? value >= upper.value : value > upper.value)) {
      if (fail(upper.keyword, `${upper.pointer}/${upper.keyword}`)) return true;
    }
    for (const m of flat.multipleOf) {
      if (!isMultipleOf(value, m.value) && fail("multipleOf", `${m.pointer}/multipleOf`)) return true;
    }
    const format = flat.format === undefined ? undefined : formatSpec(flat.format.name);
    if (format?.applies === "number" && !format.check(value) && fail("format", `${flat.format!.pointer}/format`)) return true;
    return false;
  }

  private checkString(flat: Flat, value: string, fail: (k: string, p: string) => boolean): boolean {
    const length = flat.minLength !== undefined || flat.maxLength !== undefined ? lengthOf(value) : 0;
    if (flat.minLength !== undefined && length < flat.minLength.value && fail("minLength", `${flat.minLength.pointer}/minLength`)) return true;
    if (flat.maxLength !== undefined && length > flat.maxLength.value && fail("maxLength", `${flat.maxLength.pointer}/maxLength`)) return true;
    for (const p of flat.patterns) {
      if (!p.regex.test(value) && fail("pattern", `${p.pointer}/pattern`)) return true;
    }
    const format = flat.format === undefined ? undefined : formatSpec(flat.format.name);
    if (format?.applies === "string" && !format.check(value) && fail("format", `${flat.format!.pointer}/format`)) return true;
    return false;
  }

  private checkArray(
    flat: Flat,
    value: readonly unknown[],
    path: string,
    out: SchemaError[],
    limit: number,
    fail: (k: string, p: string) => boolean,
  ): boolean {
    if (flat.minItems !== undefined && value.length < flat.minItems.value && fail("minItems", `${flat.minItems.pointer}/minItems`)) return true;
    if (flat.maxItems !== undefined && value.length > flat.maxItems.value && fail("maxItems", `${flat.maxItems.pointer}/maxItems`)) return true;
    if (flat.uniqueItems !== undefined && new Set(value.map(jsonKey)).size !== value.length) {
      if (fail("uniqueItems", `${flat.uniqueItems}/uniqueItems`)) return true;
    }
    const prefix = flat.prefixItems ?? [];
    for (const [i, item] of value.entries()) {
      const sub = i < prefix.length ? prefix[i] : flat.items;
      if (sub === undefined) continue;
      this.check(this.doc.flat(sub), item, `${path}/${i}`, out, limit);
      if (out.length >= limit) return true;
    }
    return false;
  }

  private checkObject(
    flat: Flat,
    value: Readonly<Record<string, unknown>>,
    path: string,
    out: SchemaError[],
    limit: number,
    fail: (k: string, p: string) => boolean,
  ): boolean {
    for (const [key, pointer] of flat.required) {
      if (!Object.hasOwn(value, key) && fail("required", `${pointer}/required`)) return true;
    }
    const keys = Object.keys(value);
    if (flat.minProperties !== undefined && keys.length < flat.minProperties.value) {
      if (fail("minProperties", `${flat.minProperties.pointer}/minProperties`)) return true;
    }
    if (flat.maxProperties !== undefined && keys.length > flat.maxProperties.value) {
      if (fail("maxProperties", `${flat.maxProperties.pointer}/maxProperties`)) return true;
    }
    for (const key of keys) {
      const at = `${path}/${pointerToken(key)}`;
      // Like ajv, a bad name and an unexpected property are failures of the object, not of the property's value.
      if (flat.propertyNames !== undefined && !this.valid(flat.propertyNames, key)) {
        if (fail("propertyNames", `${flat.propertyNamesPointer}/propertyNames`)) return true;
      }
      const declared = flat.properties.get(key);
      const patterns = flat.patternProperties.filter((p) => p.pattern.regex.test(key));
      if (declared !== undefined) this.check(this.doc.flat(declared), value[key], at, out, limit);
      for (const p of patterns) this.check(this.doc.flat(p.sub), value[key], at, out, limit);
      if (out.length >= limit) return true;
      if (declared === undefined && patterns.length === 0 && flat.additionalProperties !== undefined) {
        const additional = this.doc.flat(flat.additionalProperties);
        if (additional.never !== undefined && fail("additionalProperties", `${flat.additionalPointer}/additionalProperties`)) return true;
        if (additional.never === undefined) this.check(additional, value[key], at, out, limit);
        if (out.length >= limit) return true;
      }
    }
    return false;
  }
}
