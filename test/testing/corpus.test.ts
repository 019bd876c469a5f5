// The schema arbitraries against real tool schemas: the tools/list results of MCP servers (fixtures/corpus/, each file
// naming the package, version and date it was listed) and one labelled supplementary file for the keywords no server
// uses. Every generated call must pass ajv in the schema's dialect, every invalid call must fail it where it claims,
// and the tools the generator cannot honour must be reported, not skipped.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { ArbitraryErrorCode, invalidToolCall, toolCall, unsupportedTools } from "../../testing/index.js";
import { schemaCheck } from "./ajv.js";

const CORPUS = fileURLToPath(new URL("./fixtures/corpus/", import.meta.url));
const SUPPLEMENTARY = "supplementary";
/** Runs per tool for each of the valid and the invalid arbitrary: some 120 000 checked calls over the corpus. */
const RUNS = 200;

interface CorpusFile {
  readonly server: string;
  readonly provenance: { readonly package: string; readonly version: string; readonly listed: string; readonly how: string };
  readonly tools: readonly { readonly name: string; readonly inputSchema: Record<string, unknown> }[];
}

const corpus: CorpusFile[] = readdirSync(CORPUS)
  .filter((f) => f.endsWith(".tools.json"))
  .sort()
  .map((f) => ({ server: f.replace(/\.tools\.json$/, ""), ...(JSON.parse(readFileSync(join(CORPUS, f), "utf8")) as Omit<CorpusFile, "server">) }));
const real = corpus.filter((c) => c.server !== SUPPLEMENTARY);

/** The tools each file must report, with the keyword at fault: nothing else may fail to generate. */
const EXPECTED_REPORTS: Readonly<Record<string, readonly [string, string, string, string][]>> = {
  "notion-mcp-server": [["API-post-page", ArbitraryErrorCode.UnsupportedKeyword, "#/properties/icon", "format"]],
  [SUPPLEMENTARY]: [
    ["conditional_payment", ArbitraryErrorCode.UnsupportedKeyword, "#", "if"],
    ["contains_check", ArbitraryErrorCode.UnsupportedKeyword, "#/properties/items", "contains"],
    ["remote_reference", ArbitraryErrorCode.UnsupportedKeyword, "#/properties/address", "$ref"],
    ["lookahead_pattern", ArbitraryErrorCode.UnsupportedKeyword, "#/properties/password", "pattern"],
    ["impossible_range", ArbitraryErrorCode.Unsatisfiable, "#/properties/n", "minimum"],
  ],
};

/** The keywords (and keyword values) of every schema location, walked as JSON Schema nests them. */
function keywordsOf(schema: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(schema)) {
    schema.forEach((s) => keywordsOf(s, out));
    return out;
  }
  if (typeof schema !== "object" || schema === null) return out;
  for (const [key, value] of Object.entries(schema)) {
    out.add(key);
    if (key === "type" && Array.isArray(value)) out.add("type[]");
    if (key === "format") out.add(`format:${String(value)}`);
    if (key === "additionalProperties") out.add(`additionalProperties:${typeof value === "boolean" ? value : "schema"}`);
    if (key === "properties") {
      for (const sub of Object.values(value as object)) {
        if (typeof sub === "object" && sub !== null && ((sub as { type?: unknown }).type === "object" || "properties" in sub)) out.add("nested object");
        keywordsOf(sub, out);
      }
    } else if (["$defs", "definitions", "patternProperties"].includes(key)) {
      Object.values(value as object).forEach((s) => keywordsOf(s, out));
    } else if (!["enum", "const", "default", "examples", "required"].includes(key) && typeof value === "object") {
      keywordsOf(value, out);
    }
  }
  return out;
}

const KEYWORDS = [
  "type", "type[]", "enum", "const", "required", "properties", "nested object", "items", "minItems", "maxItems", "uniqueItems",
  "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength", "pattern",
  "format:date-time", "format:date", "format:email", "format:uri", "format:uuid", "format:ipv4", "anyOf", "oneOf", "allOf",
  "additionalProperties:false", "additionalProperties:true", "additionalProperties:schema", "$ref", "$defs",
];
/** What docs/testing.md says only the supplementary fixture covers. */
const ONLY_SUPPLEMENTARY = ["maxItems", "uniqueItems", "exclusiveMaximum", "multipleOf", "format:date-time", "format:date", "format:email", "format:ipv4", "allOf"];

describe("pqguard/testing schema arbitraries on the corpus of real tool schemas", function () {
  this.timeout(120_000);

  it("holds at least 30 tools from at least 8 servers, each file saying where it came from", () => {
    assert.ok(real.length >= 8, `${real.length} servers`);
    assert.ok(real.reduce((n, c) => n + c.tools.length, 0) >= 30);
    for (const file of corpus) {
      assert.equal(Object.keys(file)[1], "provenance", `${file.server}: provenance comes first`);
      assert.match(file.provenance.listed, /^\d{4}-\d\d-\d\d$/);
      assert.ok(file.provenance.package.length > 0 && file.provenance.version.length > 0 && file.provenance.how.length > 0);
    }
  });

  it("uses every keyword the generator is required to honour, the supplementary file only for those no server uses", () => {
    const inReal = new Set<string>();
    for (const file of real) for (const tool of file.tools) keywordsOf(tool.inputSchema, inReal);
    const inSupplementary = keywordsOf(corpus.find((c) => c.server === SUPPLEMENTARY)!.tools.map((t) => t.inputSchema));
    assert.deepEqual(KEYWORDS.filter((k) => !inReal.has(k) && !inSupplementary.has(k)), []);
    assert.deepEqual(KEYWORDS.filter((k) => !inReal.has(k)).sort(), [...ONLY_SUPPLEMENTARY].sort());
  });

  it("reports exactly the tools whose schemas it cannot honour, naming tool, pointer and keyword", () => {
    for (const file of corpus) {
      const reports = unsupportedTools({ tools: file.tools }).map((e) => [e.location!.tool, e.code, e.location!.pointer, e.location!.keyword]);
      assert.deepEqual(reports, EXPECTED_REPORTS[file.server] ?? [], file.server);
    }
  });

  for (const file of corpus) {
    it(`${file.server}: every call passes ajv and every invalid call fails it at the violation it names`, () => {
      const reported = new Set((EXPECTED_REPORTS[file.server] ?? []).map(([tool]) => tool));
      const manifest = { tools: file.tools };
      for (const tool of file.tools.filter((t) => !reported.has(t.name))) {
        const check = schemaCheck(tool.inputSchema);
        fc.assert(
          fc.property(toolCall(manifest, tool.name), (call) => {
            assert.equal(call.tool, tool.name);
            assert.deepEqual(check.errors(call.args), check.dialects.map(() => []));
          }),
          { numRuns: RUNS },
        );
        let invalid;
        try {
          invalid = invalidToolCall(manifest, tool.name);
        } catch (error) {
          // Only a schema that accepts every argument object may have no invalid call; ajv must agree on a few.
          assert.equal((error as { code?: string }).code, ArbitraryErrorCode.NoInvalidCall, String(error));
          for (const args of [{}, { unexpected: 1 }]) assert.deepEqual(check.errors(args), check.dialects.map(() => []), tool.name);
          continue;
        }
        fc.assert(
          fc.property(invalid, ({ args, violation }) => {
            for (const errors of check.errors(args)) {
              assert.ok(errors.length > 0, `${tool.name}: ajv accepted ${JSON.stringify(args)} (${violation.message})`);
              const at = errors.filter((e) => e.instancePath === violation.pointer);
              const keyword = violation.keyword === "false" ? "false schema" : violation.keyword;
              assert.ok(at.some((e) => e.keyword === keyword), `${tool.name}: ${violation.message}; ajv: ${JSON.stringify(errors)}`);
            }
          }),
          { numRuns: RUNS },
        );
      }
    });
  }
});
