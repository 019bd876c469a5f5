// `has` on a quantifier's variable (`all e in args.edits: has e.oldText and …`): typed by the list's item schema,
// decided alike by the reference interpreter and the compiled guard, with explanations that name the element.
import assert from "node:assert/strict";
import fc from "fast-check";
import { checkPolicySource } from "../../compiler/index.js";
import { interpret } from "../../compiler/interpreter.js";
import { requestFromJson } from "../../compiler/request.js";
import { parsePolicy } from "../../grammar/parse.js";
import { formatPolicy } from "../../grammar/printer.js";
import type { Decision, GuardModule } from "../../runtime/guard/types.js";
import { checked, compiledGuard } from "../support/guards.js";

const string = { type: "string" };
const MANIFEST = {
  tools: [
    {
      name: "patch",
      inputSchema: {
        type: "object",
        properties: {
          edits: {
            type: "array",
            items: {
              type: "object",
              properties: {
                oldText: string,
                newText: string,
                limit: { type: "integer" },
                meta: { type: "object", properties: { secret: { type: "boolean" }, tags: { type: "array", items: string } } },
              },
              required: ["newText"],
            },
          },
          groups: { type: "array", items: { type: "array", items: { type: "object", properties: { name: string, owner: string }, required: ["name"] } } },
        },
        required: ["edits"],
      },
    },
  ],
};

const POLICY = `policy has_element
manifest "tools.json"

permit tool patch
  when all e in args.edits: has e.oldText and len(e.oldText) > 0 and (not has e.limit or e.limit <= 10)

forbid tool patch
  when any e in args.edits: has e.meta.secret and e.meta.secret
  because "secret edits need review"

forbid tool patch
  when has args.groups and any g in args.groups: any m in g: not has m.owner
  because "every group member has an owner"
`;

function call(args: unknown): ReturnType<typeof requestFromJson> {
  return requestFromJson({ tool: "patch", args, client: { id: "agent", authenticated: true }, time: "2026-12-01T12:00:00Z" }, 0);
}

describe("has on a quantifier's variable", function () {
  this.timeout(60_000);
  let compiled: GuardModule;
  let oracle: GuardModule;

  before(async () => {
    const policy = checked(POLICY, { "tools.json": MANIFEST }, "has_element.policy");
    compiled = await compiledGuard(policy, "quantifier-has");
    oracle = interpret(policy);
  });

  function decide(args: unknown): Decision {
    const { request, context } = call(args);
    const expected = oracle.guard(request, context);
    assert.deepEqual(compiled.guard(request, context), expected, JSON.stringify(args));
    return expected;
  }

  it("holds when every element has the optional field, and checks the field only where it is present", () => {
    assert.equal(decide({ edits: [{ oldText: "a", newText: "b" }, { oldText: "c", newText: "d", limit: 3 }] }).decision, "allow");
    assert.equal(decide({ edits: [] }).decision, "allow");
    assert.equal(decide({ edits: [{ oldText: "a", newText: "b", limit: 11 }] }).decision, "deny");
  });

  it("is false, not unevaluable, for an element that lacks the field, and the explanation names that element", () => {
    const d = decide({ edits: [{ oldText: "a", newText: "b" }, { newText: "x" }] });
    assert.equal(d.decision, "deny");
    const permit = d.explain.find((e) => e.rule === "has_element.policy:4")!;
    assert.equal(permit.matched, false);
    assert.equal(
      permit.detail,
      '`all e in args.edits: has e.oldText and len(e.oldText) > 0 and (not has e.limit or e.limit <= 10)` was false: `args.edits[1]` = `{"newText":"x"}` did not satisfy `has e.oldText and len(e.oldText) > 0 and (not has e.limit or e.limit <= 10)`',
    );
  });

  it("reads nested optional fields, and is false when a step on the way is missing or not an object", () => {
    assert.equal(decide({ edits: [{ oldText: "a", newText: "b", meta: { secret: true } }] }).reason, "secret edits need review");
    assert.equal(decide({ edits: [{ oldText: "a", newText: "b", meta: {} }] }).decision, "allow");
    assert.equal(decide({ edits: [{ oldText: "a", newText: "b", meta: { secret: false } }] }).decision, "allow");
    // `meta` is not an object: `has e.meta.secret` is false, so the forbid does not apply, and the permit still holds.
    assert.equal(decide({ edits: [{ oldText: "a", newText: "b", meta: "x" }] }).decision, "allow");
  });

  it("fails closed when the field is present with the wrong type: `has` holds, and reading it cannot be evaluated", () => {
    const d = decide({ edits: [{ oldText: "a", newText: "b", meta: { secret: "yes" } }] });
    assert.equal(d.decision, "deny");
    assert.equal(d.reason, "secret edits need review");
    assert.match(d.explain.find((e) => e.rule === "has_element.policy:7")!.detail, /could not be evaluated: `e\.meta\.secret` is not a boolean/);
  });

  it("nests: an inner variable's field", () => {
    assert.equal(decide({ edits: [{ oldText: "a", newText: "b" }], groups: [[{ name: "x", owner: "o" }]] }).decision, "allow");
    assert.equal(decide({ edits: [{ oldText: "a", newText: "b" }], groups: [[{ name: "x", owner: "o" }], [{ name: "y" }]] }).reason, "every group member has an owner");
  });

  it("agrees between the interpreter and the compiled guard on random elements (differential)", () => {
    const value = fc.oneof(fc.constant(undefined), fc.string({ maxLength: 3 }), fc.integer({ min: 0, max: 20 }), fc.boolean(), fc.constant(null), fc.constant({}));
    const edit = fc.record({ oldText: value, newText: value, limit: value, meta: fc.oneof(value, fc.record({ secret: value, tags: value }, { requiredKeys: [] })) }, { requiredKeys: [] });
    const member = fc.record({ name: value, owner: value }, { requiredKeys: [] });
    fc.assert(
      fc.property(fc.array(fc.oneof(edit, value), { maxLength: 4 }), fc.option(fc.array(fc.array(fc.oneof(member, value), { maxLength: 3 }), { maxLength: 3 }), { nil: undefined }), (edits, groups) => {
        decide(groups === undefined ? { edits } : { edits, groups });
      }),
      { numRuns: 1500 },
    );
  });
});

describe("checking has on a variable", () => {
  function diagnostics(body: string): string[] {
    const source = `policy t\nmanifest "tools.json"\n${body}\n`;
    return checkPolicySource(source, { fileName: "t.policy", manifests: { "tools.json": MANIFEST } }).diagnostics.map((d) => `${d.code} ${d.message}`);
  }

  it("types the field from the item schema, with a suggestion for a misspelt one", () => {
    assert.deepEqual(diagnostics("permit tool patch when all e in args.edits: has e.oldText"), []);
    assert.match(diagnostics("permit tool patch when all e in args.edits: has e.oldTxt").join("\n"), /PQG2002 unknown field `oldTxt`.*\n?.*/);
    assert.match(diagnostics("permit tool patch when all e in args.edits: has e.newText.x").join("\n"), /PQG3011/);
  });

  it("refuses `has` on the variable itself, which always stands for an element", () => {
    assert.match(diagnostics("permit tool patch when all e in args.edits: has e").join("\n"), /PQG3013 `has` applies to `args` paths, `client.claims\[...\]` and fields of a quantifier's variable, not to `e`/);
  });

  it("reports a name that no quantifier binds as a syntax error", () => {
    const outcome = checkPolicySource('policy t\nmanifest "tools.json"\npermit tool patch when has x.oldText\n', { fileName: "t.policy", manifests: { "tools.json": MANIFEST } });
    assert.equal(outcome.policy, undefined);
    assert.match(outcome.diagnostics.map((d) => d.message).join("\n"), /x/);
  });

  it("prints as written with `pqguard fmt`", () => {
    const source = 'policy t\nmanifest "tools.json"\n\npermit tool patch\n  when all e in args.edits: has e.meta.tags[0] and not has e["limit"]\n';
    assert.match(formatPolicy(parsePolicy(source).ast), /all e in args\.edits: has e\.meta\.tags\[0\] and not has e(\["limit"\]|\.limit)/);
  });
});
