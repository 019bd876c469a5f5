// The fact table (compiler/facts.ts): for every fact, the interpreter's reader and the code generator's emitter read
// the same value, or fail alike, on random contexts, among them absent and ill-typed facts, claims of every shape and
// clocks past the range of a Date. The random policies of differential.test.ts read no claims; this reads them all.
import assert from "node:assert/strict";
import fc from "fast-check";
import { FACTS } from "../../compiler/facts.js";
import type { Type } from "../../compiler/ir.js";
import { interpret } from "../../compiler/interpreter.js";
import type { GuardContext } from "../../runtime/guard/types.js";
import { callArb, toolsArb, toolDefinition } from "../support/arbitraries.js";
import { checked, compiledGuard } from "../support/guards.js";

/** An algorithm of each family to compare with. */
const ALGORITHM: Readonly<Record<string, string>> = { kem: "ML-KEM-768", signature: "ML-DSA-65", aead: "AES-256-GCM" };

/** Conditions on a fact that tell apart the values the generated contexts give it. */
function probes(path: string, type: Type): string[] {
  switch (type.kind) {
    case "string":
      if (type.enum !== undefined) return type.enum.slice(0, 3).map((v) => `${path} == ${JSON.stringify(v)}`);
      return [`${path} startsWith "a"`, `${path} startsWith "s"`, `${path} endsWith "2"`, `len(${path}) > 3`, `${path} == "Alpha"`];
    case "number":
      return [`${path} > 2`, `${path} >= 5`, `${path} < 12`, `${path} < 30`];
    case "duration":
      return [`${path} > 30m`, `${path} < 90m`];
    case "timestamp":
      return [`${path} > "2026-06-01T00:00:00Z"`, `${path} == ${path}`];
    case "boolean":
      return [path];
    case "algorithm":
      return [`${path} >= ${JSON.stringify(ALGORITHM[type.family])}`, `${path} == ${JSON.stringify(ALGORITHM[type.family])}`];
    default:
      return [`${path} == ${path}`];
  }
}

/** Permit rules for every tool that tell every fact's values apart (or fail to read it), and some that read claims. */
function policySource(): string {
  const rules = [...FACTS.values()].flatMap((f) => probes(f.path, f.type).map((c) => `permit tool *\n  when ${c}`));
  rules.push(
    `permit tool *\n  when client.claims.tenant == "acme"`,
    `permit tool *\n  when has client.claims.org`,
    `permit tool *\n  when client.claims["org"].teams[0] == "x"`,
  );
  return `policy facts\nmanifest "t.json"\n${rules.join("\n")}\n`;
}

const CLAIMS: readonly unknown[] = [undefined, {}, { tenant: "acme" }, { tenant: 5, org: { teams: ["x"] } }, { org: null }, { org: { teams: "x" } }];
const INSTANTS: readonly number[] = [8.64e15, -8.64e15, 8.64e15 + 1, Number.NaN, Number.POSITIVE_INFINITY];

describe("the fact table", function () {
  this.timeout(60_000);

  it("has a reader and an emitter that agree for every fact, on random contexts", async () => {
    const [tools] = fc.sample(toolsArb, { numRuns: 1, seed: 7 });
    const policy = checked(policySource(), { "t.json": { tools: tools!.map(toolDefinition) } }, "facts.policy");
    const compiled = await compiledGuard(policy, "facts");
    const oracle = interpret(policy);
    const contextArb = fc.tuple(callArb(tools!), fc.constantFrom(...CLAIMS), fc.option(fc.constantFrom(...INSTANTS), { freq: 4 }));
    fc.assert(
      fc.property(contextArb, ([call, claims, now]) => {
        const context: GuardContext = {
          ...call.context,
          client: { ...call.context.client, claims: claims as GuardContext["client"]["claims"] },
          now: now ?? call.context.now,
        };
        assert.deepEqual(compiled.guard(call.request, context), oracle.guard(call.request, context));
      }),
      { numRuns: 600 },
    );
  });
});
