// The schema arbitraries keyword by keyword: what a violation is (never a value a union allows), what is reported
// (typed errors naming tool, pointer and keyword), recursion bounds, formats against ajv-formats, determinism and
// shrinking, and a property over generated schemas: whatever the schema, values pass ajv or the schema is reported.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { generateIdentity } from "../../runtime/identity/index.js";
import { signManifest } from "../../runtime/manifest/signed.js";
import { FORMATS } from "../../testing/jsonschema/formats.js";
import { ArbitraryError, ArbitraryErrorCode, invalidToolCall, request, toolCall, unsupportedTools } from "../../testing/index.js";
import { schemaCheck } from "./ajv.js";

const SUPPLEMENTARY = JSON.parse(readFileSync(new URL("./fixtures/corpus/supplementary.tools.json", import.meta.url), "utf8")) as { tools: unknown[] };
const PAYMENTS = JSON.parse(readFileSync(new URL("../../policies/payments/payments.tools.json", import.meta.url), "utf8")) as { tools: unknown[] };

function tool(name: string, inputSchema: unknown): { tools: unknown[] } {
  return { tools: [{ name, inputSchema }] };
}

function thrown(run: () => unknown): ArbitraryError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof ArbitraryError, String(error));
    return error;
  }
  assert.fail("expected an ArbitraryError");
}

function depth(value: unknown): number {
  if (Array.isArray(value)) return 1 + Math.max(0, ...value.map(depth));
  if (typeof value === "object" && value !== null) return 1 + Math.max(0, ...Object.values(value).map(depth));
  return 0;
}

describe("pqguard/testing toolCall and invalidToolCall", function () {
  this.timeout(60_000);

  it("never offers a type a union allows as a type violation", () => {
    const manifest = tool("t", { type: "object", properties: { v: { type: ["string", "null"] }, n: { type: "number" } }, required: ["v", "n"] });
    fc.assert(
      fc.property(invalidToolCall(manifest, "t"), ({ args, violation }) => {
        if (violation.pointer === "/v" && violation.keyword === "type") assert.ok(typeof args["v"] !== "string" && args["v"] !== null);
        // An integer is a number: only a non-number breaks `type: number`.
        if (violation.pointer === "/n" && violation.keyword === "type") assert.notEqual(typeof args["n"], "number");
      }),
    );
  });

  it("breaks a schema without anyOf in exactly one place: ajv reports that one error and no other", () => {
    const check = schemaCheck((SUPPLEMENTARY.tools[0] as { inputSchema: unknown }).inputSchema);
    fc.assert(
      fc.property(invalidToolCall(SUPPLEMENTARY, "transfer_funds"), ({ args, violation }) => {
        for (const errors of check.errors(args)) {
          assert.deepEqual(errors.map((e) => [e.instancePath, e.keyword]), [[violation.pointer, violation.keyword]]);
        }
      }),
    );
  });

  it("describes a violation as a policy names the place", () => {
    const [call] = fc.sample(invalidToolCall(tool("t", { type: "object", properties: { amount: { type: "number", maximum: 5000 } }, required: ["amount"], additionalProperties: false }), "t"), { seed: 7, numRuns: 1 });
    assert.match(call!.violation.message, /^`args(\.amount)?` /);
    assert.ok(call!.violation.schemaPointer.startsWith("#"));
  });

  it("reports a keyword it cannot honour with a typed error naming the tool, pointer and keyword", () => {
    const error = thrown(() => toolCall(SUPPLEMENTARY, "conditional_payment"));
    assert.equal(error.code, ArbitraryErrorCode.UnsupportedKeyword);
    assert.deepEqual(error.location, { tool: "conditional_payment", pointer: "#", keyword: "if" });
    assert.match(error.message, /^tool `conditional_payment`: keyword `if` is not supported/);
    assert.equal(thrown(() => toolCall(SUPPLEMENTARY)).code, ArbitraryErrorCode.UnsupportedKeyword);
  });

  it("leaves unsupported tools out of every-tool arbitraries only when asked, and says which", () => {
    const skipped: string[] = [];
    const calls = fc.sample(toolCall(SUPPLEMENTARY, undefined, { skipUnsupported: true, onSkip: (e) => skipped.push(e.tool!) }), { seed: 1, numRuns: 300 });
    assert.deepEqual(skipped, unsupportedTools(SUPPLEMENTARY).map((e) => e.tool));
    assert.deepEqual([...new Set(calls.map((c) => c.tool))].sort(), ["configure_firewall", "search_records", "set_labels", "tag_resources", "transfer_funds", "update_tree"]);
    assert.equal(thrown(() => toolCall(SUPPLEMENTARY, "contains_check", { skipUnsupported: true })).code, ArbitraryErrorCode.UnsupportedKeyword);
  });

  it("names unknown tools, malformed manifests and tools without invalid calls", () => {
    const unknown = thrown(() => toolCall(PAYMENTS, "process_refnd"));
    assert.equal(unknown.code, ArbitraryErrorCode.UnknownTool);
    assert.match(unknown.message, /`process_refund`/);
    assert.equal(thrown(() => toolCall({ tools: [{ name: "x" }] })).code, ArbitraryErrorCode.BadManifest);
    assert.equal(thrown(() => toolCall("tools.json")).code, ArbitraryErrorCode.BadManifest);
    const open = tool("anything", { type: "object" });
    assert.equal(thrown(() => invalidToolCall(open, "anything")).code, ArbitraryErrorCode.NoInvalidCall);
    const mixed = { tools: [...open.tools, ...PAYMENTS.tools] };
    assert.ok(fc.sample(invalidToolCall(mixed), { seed: 1, numRuns: 100 }).every((c) => c.tool !== "anything"));
  });

  it("reads all three manifest forms: a list, a tools/list result and a signed manifest", () => {
    const signed = signManifest(PAYMENTS, generateIdentity());
    for (const manifest of [PAYMENTS.tools, PAYMENTS, signed]) {
      assert.deepEqual(fc.sample(toolCall(manifest), { seed: 4, numRuns: 20 }), fc.sample(toolCall(PAYMENTS), { seed: 4, numRuns: 20 }));
    }
  });

  it("bounds recursive schemas: a tree stops nesting a few levels past maxRecursion", () => {
    for (const maxRecursion of [0, 2]) {
      const depths = fc.sample(toolCall(SUPPLEMENTARY, "update_tree", { maxRecursion }), { seed: 3, numRuns: 300 }).map((c) => depth(c.args["root"]));
      // Each level of the tree is an object and a `children` array: two levels of JSON per recursion.
      assert.ok(Math.max(...depths) <= 2 * (maxRecursion + 2) + 1, `${maxRecursion}: ${Math.max(...depths)}`);
      if (maxRecursion > 0) assert.ok(depths.some((d) => d >= 3), "some trees nest");
    }
  });

  it("generates every format it knows so that ajv-formats accepts it, and offers as violations only values ajv rejects", () => {
    for (const [name, spec] of Object.entries(FORMATS)) {
      const check = schemaCheck({ type: spec.applies, format: name });
      if (spec.arbitrary !== undefined) {
        fc.assert(fc.property(spec.arbitrary(), (value) => assert.deepEqual(check.errors(value), check.dialects.map(() => []), `${name}: ${value}`)), { numRuns: 300 });
      }
      for (const value of spec.invalid.filter((v) => !spec.check(v))) {
        assert.ok(check.errors(value).every((e) => e.length > 0), `${name}: ajv accepted ${JSON.stringify(value)}`);
      }
    }
  });

  it("draws the same calls from the same seed", () => {
    const params = { seed: 42, numRuns: 50 };
    assert.deepEqual(fc.sample(toolCall(SUPPLEMENTARY, undefined, { skipUnsupported: true }), params), fc.sample(toolCall(SUPPLEMENTARY, undefined, { skipUnsupported: true }), params));
    assert.deepEqual(fc.sample(invalidToolCall(PAYMENTS), params), fc.sample(invalidToolCall(PAYMENTS), params));
  });

  it("shrinks a failing property to a minimal call: the smallest amount over the limit and nothing optional", () => {
    const details = fc.check(fc.property(request({ call: toolCall(PAYMENTS, "process_refund") }), (r) => !((r.args["amount"] as number) > 5000)), { seed: 11 });
    assert.equal(details.failed, true);
    const [counterexample] = details.counterexample!;
    assert.deepEqual(counterexample.args, { amount: 5001, customer_id: "" });
    assert.equal(counterexample.context.session.calls, 0);
  });
});

// Schemas from a small grammar of the keywords above, nested one level: the generator must either produce values ajv
// accepts (and invalid values it rejects) or report the schema with a typed error, never produce a wrong value.
const leaf: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.record(
    { type: fc.constantFrom("integer", "number"), minimum: fc.integer({ min: -20, max: 20 }), exclusiveMaximum: fc.integer({ min: -20, max: 40 }), multipleOf: fc.constantFrom(0.1, 0.25, 0.5, 2, 3, 7) },
    { requiredKeys: ["type"] },
  ),
  fc.record(
    { type: fc.constant("string"), minLength: fc.nat(5), maxLength: fc.nat(12), pattern: fc.constantFrom("^[a-z]+$", "[0-9]", "^x", "^[A-F0-9]{2,6}$"), format: fc.constantFrom("date", "email", "uuid", "ipv4", "uri") },
    { requiredKeys: ["type"] },
  ),
  fc.record({ enum: fc.uniqueArray(fc.oneof(fc.integer(), fc.string(), fc.constant(null)), { minLength: 1, maxLength: 4 }) }),
  fc.record({ type: fc.subarray(["string", "integer", "null", "boolean"], { minLength: 1 }) }),
);
const node: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  leaf,
  fc.record({ type: fc.constant("array"), items: leaf, minItems: fc.nat(3), maxItems: fc.nat(5), uniqueItems: fc.boolean() }, { requiredKeys: ["type", "items"] }),
  fc.record({ anyOf: fc.array(leaf, { minLength: 1, maxLength: 3 }) }),
  fc.record({ allOf: fc.array(leaf, { minLength: 1, maxLength: 2 }) }),
  fc.record({ oneOf: fc.array(leaf, { minLength: 2, maxLength: 3 }) }),
);
const rootSchema = fc
  .record({
    properties: fc.dictionary(fc.constantFrom("a", "b", "c", "d"), node, { minKeys: 1, maxKeys: 4 }),
    additionalProperties: fc.oneof(fc.boolean(), leaf),
    required: fc.subarray(["a", "b", "c", "d"]),
  })
  .map((s) => ({ type: "object", ...s, required: s.required.filter((k) => k in s.properties) }));

describe("pqguard/testing schema arbitraries on generated schemas", function () {
  this.timeout(60_000);

  it("draw values ajv accepts, and invalid values ajv rejects, or report the schema", () => {
    fc.assert(
      fc.property(rootSchema, fc.integer(), (schema, seed) => {
        const manifest = tool("t", schema);
        const check = schemaCheck(schema);
        let calls;
        try {
          calls = fc.sample(toolCall(manifest, "t"), { seed, numRuns: 20 });
        } catch (error) {
          assert.ok(error instanceof ArbitraryError && (error.code === ArbitraryErrorCode.Unsatisfiable || error.code === ArbitraryErrorCode.UnsupportedKeyword), String(error));
          return;
        }
        for (const call of calls) assert.deepEqual(check.errors(call.args), check.dialects.map(() => []), JSON.stringify(call.args));
        let invalid;
        try {
          invalid = fc.sample(invalidToolCall(manifest, "t"), { seed, numRuns: 20 });
        } catch (error) {
          assert.ok(error instanceof ArbitraryError && error.code === ArbitraryErrorCode.NoInvalidCall, String(error));
          return;
        }
        for (const call of invalid) assert.ok(check.errors(call.args).every((e) => e.length > 0), `${call.violation.message}: ${JSON.stringify(call.args)}`);
      }),
      { numRuns: 150 },
    );
  });
});
