// Reads tool manifests (a `tools/list` result, a bare tool array, or a signed pqguard manifest) and resolves each
// tool's JSON Schema `inputSchema` into the shapes the checker types `args.*` paths with.
import { readFile } from "node:fs/promises";
import type { Type } from "./ir.js";
import { toolDigest } from "../runtime/manifest/digest.js";

/** The `format` field that marks a signed manifest (runtime/manifest/). */
export const SIGNED_MANIFEST_FORMAT = "pqguard-manifest/1";

/** `$ref` chains and nesting deeper than this resolve to `unknown`: schemas may be recursive, the checker is not. */
const MAX_SCHEMA_DEPTH = 32;

/** What a path into a tool's arguments can reach: its type and, for objects and lists, what lies further in. */
export interface ArgShape {
  readonly type: Type;
  /** Declared properties of an object; undefined for an object that declares none (any field is `unknown`). */
  readonly fields?: ReadonlyMap<string, ArgField>;
  /** The item shape of a list. */
  readonly element?: ArgShape;
}

export interface ArgField {
  readonly shape: ArgShape;
  /** Listed in the schema's `required`; other fields may be absent, which `has` tests. */
  readonly required: boolean;
}

export interface ManifestTool {
  readonly name: string;
  readonly definition: Readonly<Record<string, unknown>>;
  readonly digest: string;
  readonly annotations: Readonly<Record<string, unknown>>;
  /** The shape of `args`: always an object. */
  readonly args: ArgShape;
}

export interface Manifest {
  readonly tools: readonly ManifestTool[];
  /** The signed envelope, when the file is a signed manifest; undefined for a plain tool list. */
  readonly signed: Readonly<Record<string, unknown>> | undefined;
}

export type ManifestResult = { readonly ok: true; readonly manifest: Manifest } | { readonly ok: false; readonly detail: string };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Interprets parsed JSON as a manifest. Never throws: a malformed manifest is `{ ok: false, detail }`. */
export function parseManifest(json: unknown): ManifestResult {
  let list: unknown;
  let signed: Record<string, unknown> | undefined;
  if (Array.isArray(json)) list = json;
  else if (isRecord(json)) {
    if (json["format"] !== undefined) {
      if (json["format"] !== SIGNED_MANIFEST_FORMAT) return { ok: false, detail: `unsupported format \`${String(json["format"])}\`` };
      signed = json;
    }
    list = json["tools"];
    if (list === undefined) return { ok: false, detail: "it has no `tools` array" };
  } else return { ok: false, detail: "expected a `tools/list` result, an array of tools or a signed manifest" };
  if (!Array.isArray(list)) return { ok: false, detail: "`tools` is not an array" };
  const tools: ManifestTool[] = [];
  const seen = new Set<string>();
  for (const [index, raw] of list.entries()) {
    const tool = parseTool(raw, index);
    if (typeof tool === "string") return { ok: false, detail: tool };
    if (seen.has(tool.name)) return { ok: false, detail: `tool \`${tool.name}\` is listed twice` };
    seen.add(tool.name);
    tools.push(tool);
  }
  return { ok: true, manifest: { tools, signed } };
}

function parseTool(raw: unknown, index: number): ManifestTool | string {
  if (!isRecord(raw)) return `tool ${index} is not an object`;
  const name = raw["name"];
  if (typeof name !== "string" || name.length === 0) return `tool ${index} has no \`name\` string`;
  const inputSchema = raw["inputSchema"];
  if (!isRecord(inputSchema)) return `tool \`${name}\` has no \`inputSchema\` object`;
  const annotations = raw["annotations"];
  if (annotations !== undefined && !isRecord(annotations)) return `the \`annotations\` of tool \`${name}\` are not an object`;
  let digest: string;
  try {
    digest = toolDigest(raw);
  } catch {
    return `tool \`${name}\` cannot be digested`;
  }
  const args = schemaShape(inputSchema, inputSchema, 0);
  // The arguments of a call are always an object, whatever the schema claims at top level.
  const argsShape: ArgShape = args.type.kind === "object" ? args : { type: { kind: "object" }, fields: new Map() };
  return { name, definition: raw, digest, annotations: annotations ?? {}, args: argsShape };
}

const UNKNOWN: ArgShape = { type: { kind: "unknown" } };

function resolveRef(ref: string, root: Record<string, unknown>): unknown {
  if (ref === "#") return root;
  if (!ref.startsWith("#/")) return undefined;
  let node: unknown = root;
  for (const raw of ref.slice(2).split("/")) {
    const key = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
    if (!isRecord(node) || !Object.hasOwn(node, key)) return undefined;
    node = node[key];
  }
  return node;
}

/** The shape a JSON Schema describes. Unions, `$ref`s outside the document and anything unrecognised are `unknown`. */
export function schemaShape(schema: unknown, root: Record<string, unknown>, depth: number): ArgShape {
  if (depth > MAX_SCHEMA_DEPTH || !isRecord(schema)) return UNKNOWN;
  if (typeof schema["$ref"] === "string") return schemaShape(resolveRef(schema["$ref"], root), root, depth + 1);
  if (schema["anyOf"] !== undefined || schema["oneOf"] !== undefined || schema["not"] !== undefined) return UNKNOWN;
  const allOf = schema["allOf"];
  if (Array.isArray(allOf) && allOf.length === 1 && Object.keys(schema).every((k) => k === "allOf" || k === "description" || k === "title")) {
    return schemaShape(allOf[0], root, depth + 1);
  }
  if (allOf !== undefined) return UNKNOWN;
  const literals = Array.isArray(schema["enum"]) ? (schema["enum"] as unknown[]) : "const" in schema ? [schema["const"]] : undefined;
  let type = schema["type"];
  if (type === undefined && literals !== undefined && literals.length > 0 && literals.every((v) => typeof v === "string")) type = "string";
  if (type === undefined && isRecord(schema["properties"])) type = "object";
  switch (type) {
    case "string":
      if (literals !== undefined) {
        if (!literals.every((v): v is string => typeof v === "string")) return UNKNOWN;
        return { type: { kind: "string", enum: [...new Set(literals)] } };
      }
      return { type: typeof schema["format"] === "string" ? { kind: "string", format: schema["format"] } : { kind: "string" } };
    case "number":
    case "integer":
      return { type: { kind: "number" } };
    case "boolean":
      return { type: { kind: "boolean" } };
    case "array": {
      const items = schema["items"];
      const element = isRecord(items) ? schemaShape(items, root, depth + 1) : UNKNOWN;
      return { type: { kind: "list", element: element.type }, element };
    }
    case "object": {
      const properties = schema["properties"];
      if (!isRecord(properties)) return { type: { kind: "object" } };
      const required = new Set(Array.isArray(schema["required"]) ? schema["required"].filter((r): r is string => typeof r === "string") : []);
      const fields = new Map<string, ArgField>();
      for (const [name, sub] of Object.entries(properties)) fields.set(name, { shape: schemaShape(sub, root, depth + 1), required: required.has(name) });
      return { type: { kind: "object" }, fields };
    }
    default:
      return UNKNOWN;
  }
}

/** Reads and parses a manifest file. Never throws: every failure is `{ ok: false, detail }`. */
export async function loadManifestFile(path: string): Promise<ManifestResult> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    return { ok: false, detail: readErrorDetail(error) };
  }
  const json = parseJsonText(text);
  return json.ok ? parseManifest(json.value) : { ok: false, detail: json.detail };
}

export function parseJsonText(text: string): { ok: true; value: unknown } | { ok: false; detail: string } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    // Node's own wording differs between versions; only the position is kept, as line and column.
    const position = error instanceof SyntaxError ? /position (\d+)/.exec(error.message)?.[1] : undefined;
    if (position === undefined) return { ok: false, detail: /end of JSON/.test(String(error)) ? "invalid JSON: it ends too early" : "invalid JSON" };
    const before = text.slice(0, Number(position));
    const line = before.split("\n").length;
    const column = Number(position) - before.lastIndexOf("\n");
    return { ok: false, detail: `invalid JSON at line ${line}, column ${column}` };
  }
}

/** A one-phrase reason for a failed read, without the absolute path node puts into its messages. */
export function readErrorDetail(error: unknown): string {
  const code = typeof error === "object" && error !== null && "code" in error ? String((error as { code: unknown }).code) : "";
  switch (code) {
    case "ENOENT":
      return "no such file";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EISDIR":
      return "it is a directory";
    default:
      return code === "" ? "read failed" : `read failed (${code})`;
  }
}
