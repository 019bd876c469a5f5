// Differential tests: for random well-typed policies and random calls, the compiled guard and the reference
// interpreter agree on the decision, the determining rules, the reason and the explanation.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { interpret } from "../../compiler/interpreter.js";
import type { CheckedPolicy } from "../../compiler/ir.js";
import type { GuardModule } from "../../runtime/guard/types.js";
import { callArb, generatedToolsOf, policyArb, type GeneratedCall } from "../support/arbitraries.js";
import { checked, compiledGuard, REPO_ROOT } from "../support/guards.js";

const CALLS_PER_POLICY = 150;

function agree(policy: CheckedPolicy, compiled: GuardModule, call: GeneratedCall): void {
  const oracle = interpret(policy);
  assert.deepEqual(compiled.guard(call.request, call.context), oracle.guard(call.request, call.context), `call: ${JSON.stringify(call.json)}`);
  const reachable = compiled.reachableTools?.(call.context);
  assert.deepEqual(reachable, oracle.reachableTools?.(call.context), `reachable tools, call: ${JSON.stringify(call.json)}`);
  // A tool the guard allows or sends for approval is never one that tools/list hides.
  const decision = oracle.guard(call.request, call.context).decision;
  if (decision !== "deny" && policy.tools.some((t) => t.name === call.request.tool)) {
    assert.ok(reachable?.includes(call.request.tool), `\`${call.request.tool}\` was ${decision} but not reachable`);
  }
}

describe("compiled guards agree with the interpreter", function () {
  this.timeout(120_000);
  let policies = 0;

  it("on random well-typed policies and random calls", async () => {
    await fc.assert(
      fc.asyncProperty(
        policyArb.chain((shape) => fc.tuple(fc.constant(shape), fc.array(callArb(shape.tools), { minLength: CALLS_PER_POLICY, maxLength: CALLS_PER_POLICY }))),
        async ([shape, calls]) => {
          const policy = checked(shape.source, shape.manifests, "generated.policy");
          const compiled = await compiledGuard(policy, "differential", `generated${policies++ % 4}`);
          assert.equal(compiled.longestWindowMs, interpret(policy).longestWindowMs, "longest window");
          for (const call of calls) agree(policy, compiled, call);
        },
      ),
      { numRuns: 40, reporter: compactReport },
    );
  });

  for (const name of ["payments", "healthcare", "filesystem"]) {
    it(`on the ${name} example policy and random calls`, async () => {
      const dir = join(REPO_ROOT, "policies", name);
      const manifest = JSON.parse(readFileSync(join(dir, `${name}.tools.json`), "utf8")) as { tools: Record<string, unknown>[] };
      const policy = checked(readFileSync(join(dir, `${name}.policy`), "utf8"), { [`${name}.tools.json`]: manifest }, `${name}.policy`);
      const compiled = await compiledGuard(policy, "differential", name);
      fc.assert(fc.property(callArb(generatedToolsOf(policy)), (call) => agree(policy, compiled, call)), { numRuns: 1500 });
    });
  }
});

/** Reports a failure by its error and seed only: printing 150 generated calls would bury the disagreement. */
function compactReport<T>(details: fc.RunDetails<T>): void {
  if (!details.failed) return;
  throw new Error(`differential failure (seed ${details.seed}):\n${String(details.errorInstance)}`);
}
