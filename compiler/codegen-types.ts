// Argument interfaces for generated guard modules: one TypeScript interface per tool, from its inputSchema, through
// json-schema-to-typescript. Names are made unique per module so two tools never declare the same type.
import { compile, type JSONSchema } from "json-schema-to-typescript";
import type { ToolInfo } from "./ir.js";

/** `process_refund` → `ProcessRefundArgs`; `github.create-issue` → `GithubCreateIssueArgs`. */
export function argumentTypeName(tool: string): string {
  const words = tool.split(/[^A-Za-z0-9]+/).filter((w) => w.length > 0);
  const base = words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join("") || "Tool";
  return `${/^[0-9]/.test(base) ? `Tool${base}` : base}Args`;
}

const SCHEMA_MAPS = new Set(["properties", "patternProperties", "definitions", "$defs"]);
const SCHEMA_LISTS = new Set(["anyOf", "oneOf", "allOf", "prefixItems"]);
const SCHEMA_VALUES = new Set(["items", "additionalProperties", "additionalItems", "not", "if", "then", "else", "contains"]);

/**
 * A copy of a schema without nested `title`s (json-schema-to-typescript would name an exported interface after
 * each, and two tools' nested titles may collide) and without `$id`s, so no `$ref` can leave the document.
 */
function withoutTitles(schema: unknown, root: boolean): unknown {
  if (Array.isArray(schema)) return schema.map((s) => withoutTitles(s, false));
  if (typeof schema !== "object" || schema === null) return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if ((key === "title" && !root) || key === "$id" || key === "id" || key === "$schema") continue;
    if (SCHEMA_MAPS.has(key) && typeof value === "object" && value !== null && !Array.isArray(value)) {
      out[key] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withoutTitles(v, false)]));
    } else if (SCHEMA_LISTS.has(key) && Array.isArray(value)) {
      out[key] = value.map((v) => withoutTitles(v, false));
    } else if (SCHEMA_VALUES.has(key)) {
      out[key] = withoutTitles(value, false);
    } else {
      out[key] = value;
    }
  }
  return out;
}

/** Text safe inside a block comment: a tool name comes from a manifest and must not be able to end the comment. */
function blockCommentText(text: string): string {
  return text.replace(/\*\//g, "*\\/");
}

/** The interfaces of every tool's arguments, in tool-name order, as one block of TypeScript. */
export async function generateArgumentTypes(tools: readonly ToolInfo[]): Promise<string> {
  const taken = new Set<string>();
  const blocks: string[] = [];
  for (const tool of tools) {
    let name = argumentTypeName(tool.name);
    for (let n = 2; taken.has(name); n++) name = `${argumentTypeName(tool.name).replace(/Args$/, "")}${n}Args`;
    taken.add(name);
    const prefix = name.replace(/Args$/, "");
    const input = tool.definition["inputSchema"];
    const schema = (typeof input === "object" && input !== null ? withoutTitles(input, true) : { type: "object" }) as JSONSchema;
    const code = await compile({ ...schema, title: name }, name, {
      bannerComment: "",
      additionalProperties: false,
      format: false,
      strictIndexSignatures: true,
      declareExternallyReferenced: true,
      $refOptions: { resolve: { external: false } },
      // Definitions become `<Tool><Definition>` so that two tools' definitions never clash.
      customName: (_s, definitionKey) => (definitionKey === undefined ? undefined : `${prefix}${argumentTypeName(definitionKey).replace(/Args$/, "")}`),
    });
    blocks.push(`/** Arguments of \`${blockCommentText(tool.name)}\`, from its inputSchema. */\n${code.trim()}`);
  }
  return blocks.join("\n\n");
}
