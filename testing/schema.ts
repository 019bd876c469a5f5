// Tool calls from a manifest: `toolCall` draws arguments its tool's inputSchema accepts, `invalidToolCall` arguments
// that break it in exactly one place, and `unsupportedTools` reports the tools whose schemas neither can honour.
import fc from "fast-check";
import { ArbitraryError, ArbitraryErrorCode } from "./errors.js";
import { SchemaDocument, type Flat, type JsonType } from "./jsonschema/flat.js";
import { Generator, type GenerationOptions } from "./jsonschema/generate.js";
import { Violator, type Violation } from "./jsonschema/violate.js";
import type { ManifestInput } from "./types.js";

export type { GenerationOptions } from "./jsonschema/generate.js";
export type { Violation } from "./jsonschema/violate.js";

/** A call to one tool: its name and arguments its input schema accepts. */
export interface ToolCall {
  readonly tool: string;
  readonly args: Readonly<Record<string, unknown>>;
}

/** A call whose arguments break the tool's input schema in exactly one place, and which place. */
export interface InvalidToolCall extends ToolCall {
  readonly violation: Violation;
}

export interface ToolCallOptions extends GenerationOptions {
  /**
   * With every tool (no tool name), leave out the tools whose schema cannot be generated from (PQG9550 and PQG9551)
   * instead of throwing on the first; `onSkip` hears of each. A named tool is never skipped.
   */
  readonly skipUnsupported?: boolean;
  readonly onSkip?: (error: ArbitraryError) => void;
}

/** Values sampled, from a fixed seed, to show that a tool has invalid calls at all before offering them. */
const INVALID_PROBE = { seed: 0x5eed, numRuns: 50 };

interface ToolModel {
  readonly name: string;
  readonly doc: SchemaDocument;
  readonly generator: Generator;
}

type Json = Readonly<Record<string, unknown>>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The tools of a manifest in any of its forms: a bare list, a `tools/list` result or a signed manifest. */
export function manifestTools(manifest: ManifestInput): readonly Json[] {
  const list = Array.isArray(manifest) ? manifest : isObject(manifest) && Array.isArray(manifest["tools"]) ? manifest["tools"] : undefined;
  if (list === undefined) {
    throw new ArbitraryError(ArbitraryErrorCode.BadManifest, "a manifest must be a list of tools, a `tools/list` result `{ tools: [...] }` or a signed manifest");
  }
  return list.map((tool: unknown, i: number) => {
    if (!isObject(tool) || typeof tool["name"] !== "string") {
      throw new ArbitraryError(ArbitraryErrorCode.BadManifest, `tool ${i} of the manifest has no \`name\` string`);
    }
    if (!isObject(tool["inputSchema"])) {
      throw new ArbitraryError(ArbitraryErrorCode.BadManifest, `tool \`${tool["name"]}\` has no \`inputSchema\` object`);
    }
    return tool;
  });
}

function models(manifest: ManifestInput, options: GenerationOptions): ToolModel[] {
  return manifestTools(manifest).map((tool) => {
    const doc = new SchemaDocument(tool["name"] as string, tool["inputSchema"]);
    return { name: doc.tool, doc, generator: new Generator(doc, options) };
  });
}

function pick(all: readonly ToolModel[], name: string): ToolModel {
  const found = all.find((m) => m.name === name);
  if (found === undefined) {
    const known = all.map((m) => `\`${m.name}\``).join(", ");
    throw new ArbitraryError(ArbitraryErrorCode.UnknownTool, `the manifest has no tool \`${name}\`; its tools are ${known || "none"}`);
  }
  return found;
}

/** Tool arguments are an object, as MCP requires: a root without `type` gets values of that type only. */
function argumentsFlat(model: ToolModel): Flat {
  const root = model.doc.flat(model.doc.root);
  if (root.types !== undefined && !root.types.has("object")) {
    throw model.doc.unsatisfiable("#", "type", "tool arguments are an object, but the schema does not allow one");
  }
  return { ...root, types: new Set<JsonType>(["object"]), typePointer: root.typePointer ?? "#" };
}

function validArguments(model: ToolModel): fc.Arbitrary<Record<string, unknown>> {
  return model.generator.fromFlat(argumentsFlat(model)) as fc.Arbitrary<Record<string, unknown>>;
}

/** Runs `build` for one tool, or for every tool as one `fc.oneof`, skipping failures when the options say so. */
function forTools<T>(manifest: ManifestInput, toolName: string | undefined, options: ToolCallOptions, build: (m: ToolModel) => fc.Arbitrary<T>, skip: readonly ArbitraryErrorCode[]): fc.Arbitrary<T> {
  const all = models(manifest, options);
  if (toolName !== undefined) return build(pick(all, toolName));
  const arbitraries: fc.Arbitrary<T>[] = [];
  let first: ArbitraryError | undefined;
  for (const model of all) {
    try {
      arbitraries.push(build(model));
    } catch (error) {
      if (!(error instanceof ArbitraryError) || !skip.includes(error.code)) throw error;
      first ??= error;
      options.onSkip?.(error);
    }
  }
  if (arbitraries.length === 0) {
    throw first ?? new ArbitraryError(ArbitraryErrorCode.BadManifest, "the manifest has no tools");
  }
  return fc.oneof(...arbitraries);
}

const UNGENERATABLE: readonly ArbitraryErrorCode[] = [ArbitraryErrorCode.UnsupportedKeyword, ArbitraryErrorCode.Unsatisfiable];

/**
 * Calls to `toolName` (every tool of the manifest when absent) whose arguments satisfy the tool's `inputSchema`.
 * Throws an ArbitraryError naming the tool, schema pointer and keyword when a schema uses a keyword the generator
 * cannot honour (PQG9550) or admits no value (PQG9551), unless `skipUnsupported` leaves such tools out.
 */
export function toolCall(manifest: ManifestInput, toolName?: string, options: ToolCallOptions = {}): fc.Arbitrary<ToolCall> {
  const skip = options.skipUnsupported === true ? UNGENERATABLE : [];
  return forTools(manifest, toolName, options, (model) => validArguments(model).map((args): ToolCall => ({ tool: model.name, args })), skip);
}

/**
 * Calls whose arguments break the tool's `inputSchema` in exactly one place: one keyword at one location, described
 * by `violation`. Every other part of the arguments is valid. A tool whose schema accepts every argument object has
 * no such call (PQG9554); with every tool, such tools are left out.
 */
export function invalidToolCall(manifest: ManifestInput, toolName?: string, options: ToolCallOptions = {}): fc.Arbitrary<InvalidToolCall> {
  const skip = options.skipUnsupported === true ? [...UNGENERATABLE, ArbitraryErrorCode.NoInvalidCall] : [ArbitraryErrorCode.NoInvalidCall];
  return forTools(
    manifest,
    toolName,
    { ...options, onSkip: (e) => (e.code === ArbitraryErrorCode.NoInvalidCall ? undefined : options.onSkip?.(e)) },
    (model) => {
      const violator = new Violator(model.doc, model.generator, model.generator.validator);
      const valid = validArguments(model);
      const probe = fc.sample(fc.tuple(valid, fc.nat(), fc.nat()), INVALID_PROBE);
      if (!probe.some(([value, site, option]) => violator.violate(value, site, option) !== undefined)) {
        throw new ArbitraryError(ArbitraryErrorCode.NoInvalidCall, `tool \`${model.name}\`: its schema accepts every argument object the generator tried to break, so no invalid call exists`, {
          tool: model.name,
          pointer: "#",
          keyword: "type",
        });
      }
      return violator.arbitrary(valid).map(({ value, violation }): InvalidToolCall => ({ tool: model.name, args: value as Record<string, unknown>, violation }));
    },
    skip,
  );
}

/**
 * The tools of a manifest whose input schema the generator cannot honour, one error each (PQG9550 for a keyword it
 * does not support, PQG9551 for a schema no value satisfies): what `toolCall` would throw, or skip, for them.
 */
export function unsupportedTools(manifest: ManifestInput, options: GenerationOptions = {}): readonly ArbitraryError[] {
  const errors: ArbitraryError[] = [];
  for (const model of models(manifest, options)) {
    try {
      validArguments(model);
    } catch (error) {
      if (!(error instanceof ArbitraryError)) throw error;
      errors.push(error);
    }
  }
  return errors;
}
