// fast-check arbitraries of tool results, for property-testing result rules: `structuredContent` generated from the
// tool's outputSchema (with its JSON text as the text content, as servers send it), or text content for a tool
// without one, with texts the caller plants (a private key, an injected instruction) mixed in.
import fc from "fast-check";
import { ArbitraryError, ArbitraryErrorCode } from "./errors.js";
import { SchemaDocument } from "./jsonschema/flat.js";
import { Generator, type GenerationOptions } from "./jsonschema/generate.js";
import { manifestTools } from "./schema.js";
import type { ManifestInput } from "./types.js";

/** A generated `tools/call` result of one tool. */
export interface GeneratedResult {
  readonly tool: string;
  readonly result: {
    readonly content: readonly { readonly type: "text"; readonly text: string }[];
    readonly structuredContent?: Readonly<Record<string, unknown>>;
    readonly isError?: boolean;
  };
}

export interface ToolResultOptions extends GenerationOptions {
  /** Texts to plant in results (in a text item, and inside generated strings): secrets, injected instructions. */
  readonly planted?: fc.Arbitrary<string>;
}

/** Inserts `planted` into every string of a JSON value where `where` says, keeping its shape. */
function plantIn(value: unknown, planted: string, where: readonly boolean[], at = { i: 0 }): unknown {
  if (typeof value === "string") return where[at.i++ % where.length] === true ? `${value}${planted}` : value;
  if (Array.isArray(value)) return value.map((v) => plantIn(v, planted, where, at));
  if (typeof value === "object" && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plantIn(v, planted, where, at)]));
  return value;
}

/**
 * Results of `toolName` (every tool of the manifest when absent). A tool with an outputSchema gets structured content
 * that satisfies it, planted texts only where its schema leaves strings free being the caller's concern; one without
 * gets text items. Throws an ArbitraryError as `toolCall` does for a schema the generator cannot honour.
 */
export function toolResult(manifest: ManifestInput, toolName?: string, options: ToolResultOptions = {}): fc.Arbitrary<GeneratedResult> {
  const tools = manifestTools(manifest).filter((t) => toolName === undefined || t["name"] === toolName);
  if (tools.length === 0) throw new ArbitraryError(ArbitraryErrorCode.UnknownTool, `the manifest has no tool \`${toolName}\``);
  const planted = options.planted ?? fc.constant("");
  return fc.oneof(
    ...tools.map((tool) => {
      const name = tool["name"] as string;
      const schema = tool["outputSchema"];
      const texts = fc.array(fc.oneof(fc.string({ maxLength: 200 }), planted), { minLength: 1, maxLength: 3 });
      if (typeof schema !== "object" || schema === null) {
        return fc.record({ texts, isError: fc.boolean() }).map(({ texts: t, isError }): GeneratedResult => ({
          tool: name,
          result: { content: t.map((text) => ({ type: "text" as const, text })), ...(isError ? { isError } : {}) },
        }));
      }
      const doc = new SchemaDocument(name, schema);
      const structured = new Generator(doc, options).fromFlat(doc.flat(doc.root)) as fc.Arbitrary<Record<string, unknown>>;
      return fc.record({ structured, planted, where: fc.array(fc.boolean(), { minLength: 1, maxLength: 4 }) }).map(({ structured: s, planted: p, where }): GeneratedResult => {
        const value = p === "" ? s : (plantIn(s, p, where) as Record<string, unknown>);
        return { tool: name, result: { content: [{ type: "text", text: JSON.stringify(value) }], structuredContent: value } };
      });
    }),
  );
}
