// Manifest loading: the three accepted forms, schema resolution into argument shapes, digests, and bad input.
import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadManifestFile, parseManifest, type ArgShape, type Manifest } from "../../compiler/manifests.js";
import { toolDigest } from "../../runtime/manifest/digest.js";

const refund = {
  name: "process_refund",
  description: "Refund an amount.",
  inputSchema: {
    type: "object",
    properties: { amount: { type: "number" }, customer_id: { type: "string" }, reason: { type: "string" } },
    required: ["amount", "customer_id"],
  },
  annotations: { destructiveHint: false },
};

function ok(json: unknown): Manifest {
  const result = parseManifest(json);
  assert.ok(result.ok, result.ok ? "" : result.detail);
  return result.manifest;
}

function field(shape: ArgShape, ...names: string[]): ArgShape {
  let at = shape;
  for (const name of names) {
    const next = at.fields?.get(name)?.shape;
    assert.ok(next, `no field ${name}`);
    at = next;
  }
  return at;
}

describe("manifests", () => {
  it("accepts a tools/list result, a bare array and a signed manifest envelope", () => {
    assert.equal(ok({ tools: [refund] }).tools[0]!.name, "process_refund");
    assert.equal(ok([refund]).tools[0]!.name, "process_refund");
    const signed = ok({ format: "pqguard-manifest/1", tools: [refund], signature: "AAAA" });
    assert.equal(signed.tools.length, 1);
    assert.ok(signed.signed);
    assert.equal(ok({ tools: [refund] }).signed, undefined);
  });

  it("digests each tool with the shared toolDigest", () => {
    const tool = ok([refund]).tools[0]!;
    assert.equal(tool.digest, toolDigest(refund));
    assert.match(tool.digest, /^[0-9a-f]{64}$/);
    assert.deepEqual(tool.annotations, { destructiveHint: false });
  });

  it("types fields from the schema, with required ones marked", () => {
    const args = ok([refund]).tools[0]!.args;
    assert.deepEqual(field(args, "amount").type, { kind: "number" });
    assert.deepEqual(field(args, "customer_id").type, { kind: "string" });
    assert.equal(args.fields!.get("amount")!.required, true);
    assert.equal(args.fields!.get("reason")!.required, false);
  });

  it("resolves enums, arrays, nested objects, integers and unions", () => {
    const tool = {
      name: "t",
      inputSchema: {
        type: "object",
        properties: {
          mode: { type: "string", enum: ["a", "b"] },
          tags: { type: "array", items: { type: "string" } },
          count: { type: "integer" },
          flag: { type: "boolean" },
          meta: { type: "object", properties: { owner: { type: "string" } } },
          open: { type: "object" },
          either: { anyOf: [{ type: "string" }, { type: "number" }] },
          nullable: { type: ["string", "null"] },
          fixed: { const: "x" },
        },
      },
    };
    const args = ok([tool]).tools[0]!.args;
    assert.deepEqual(field(args, "mode").type, { kind: "string", enum: ["a", "b"] });
    assert.deepEqual(field(args, "tags").type, { kind: "list", element: { kind: "string" } });
    assert.deepEqual(field(args, "count").type, { kind: "number" });
    assert.deepEqual(field(args, "flag").type, { kind: "boolean" });
    assert.deepEqual(field(args, "meta", "owner").type, { kind: "string" });
    assert.equal(field(args, "open").fields, undefined);
    assert.deepEqual(field(args, "either").type, { kind: "unknown" });
    assert.deepEqual(field(args, "nullable").type, { kind: "unknown" });
    assert.deepEqual(field(args, "fixed").type, { kind: "string", enum: ["x"] });
  });

  it("follows local $refs into #/definitions and #/$defs", () => {
    const tool = {
      name: "t",
      inputSchema: {
        type: "object",
        properties: { a: { $ref: "#/$defs/A" }, b: { $ref: "#/definitions/B" }, far: { $ref: "other.json#/x" } },
        $defs: { A: { type: "array", items: { $ref: "#/definitions/B" } } },
        definitions: { B: { type: "object", properties: { id: { type: "integer" } } } },
      },
    };
    const args = ok([tool]).tools[0]!.args;
    assert.deepEqual(field(args, "a").element!.fields!.get("id")!.shape.type, { kind: "number" });
    assert.deepEqual(field(args, "b", "id").type, { kind: "number" });
    assert.deepEqual(field(args, "far").type, { kind: "unknown" });
  });

  it("stops at a recursive schema instead of looping", () => {
    const tool = {
      name: "tree",
      inputSchema: { $ref: "#/$defs/Node", $defs: { Node: { type: "object", properties: { child: { $ref: "#/$defs/Node" } } } } },
    };
    let shape: ArgShape | undefined = ok([tool]).tools[0]!.args;
    let depth = 0;
    while (shape?.fields?.get("child") !== undefined) {
      shape = shape.fields.get("child")!.shape;
      depth++;
    }
    assert.ok(depth > 5 && depth < 100, `depth ${depth}`);
  });

  it("rejects malformed manifests with a reason, never a throw", () => {
    const cases: [unknown, RegExp][] = [
      [42, /expected a `tools\/list` result/],
      [{ tools: 3 }, /`tools` is not an array/],
      [{ nothing: [] }, /no `tools` array/],
      [[{ description: "x" }], /tool 0 has no `name` string/],
      [[{ name: "a" }], /tool `a` has no `inputSchema` object/],
      [[{ name: "a", inputSchema: {}, annotations: [] }], /`annotations` of tool `a`/],
      [[refund, refund], /listed twice/],
      [{ format: "other/9", tools: [] }, /unsupported format `other\/9`/],
    ];
    for (const [json, expected] of cases) {
      const result = parseManifest(json);
      assert.equal(result.ok, false);
      if (!result.ok) assert.match(result.detail, expected);
    }
  });

  it("loads files and reports missing files and invalid JSON as results", async () => {
    const dir = await mkdtemp(join(tmpdir(), "pqguard-manifests-"));
    await writeFile(join(dir, "good.json"), JSON.stringify({ tools: [refund] }));
    await writeFile(join(dir, "bad.json"), "{ not json");
    const good = await loadManifestFile(join(dir, "good.json"));
    assert.ok(good.ok);
    const bad = await loadManifestFile(join(dir, "bad.json"));
    assert.ok(!bad.ok && /invalid JSON/.test(bad.detail));
    const missing = await loadManifestFile(join(dir, "missing.json"));
    assert.ok(!missing.ok && missing.detail === "no such file");
  });
});
