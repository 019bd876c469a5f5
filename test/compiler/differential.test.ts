// Differential tests: for random well-typed policies and random calls, the compiled guard and the reference
// interpreter agree on the decision, the determining rules, the reason and the explanation. The two evaluate
// independently (the interpreter calls none of the helpers generated guards call, and the fact table gives each its
// own reader), but both read the static analysis of compiler/analysis.ts: the order rules are explained in, the
// clause texts, the callable tools and the longest window. Comparing those here would compare a function with
// itself, so each is checked against a computation of its own: the explanation order and the longest window below,
// from the policy text; callable tools and outlines in analysis.test.ts; windows by hand in windows.test.ts.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { interpret } from "../../compiler/interpreter.js";
import type { CheckedPolicy } from "../../compiler/ir.js";
import type { Decision, GuardModule } from "../../runtime/guard/types.js";
import { callArb, generatedToolsOf, policyArb, type GeneratedCall } from "../support/arbitraries.js";
import { checked, compiledGuard, REPO_ROOT } from "../support/guards.js";

const CALLS_PER_POLICY = 150;

function agree(policy: CheckedPolicy, compiled: GuardModule, call: GeneratedCall): void {
  const oracle = interpret(policy);
  const decided = oracle.guard(call.request, call.context);
  assert.deepEqual(compiled.guard(call.request, call.context), decided, `call: ${JSON.stringify(call.json)}`);
  explainedInOrder(policy, call.request.tool, decided);
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
          assert.equal(compiled.longestWindowMs, windowOfText(shape.source), "longest window of the compiled guard");
          assert.equal(interpret(policy).longestWindowMs, windowOfText(shape.source), "longest window of the interpreter");
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

const LINE = (id: string): number => Number(id.slice(id.lastIndexOf(":") + 1));

/**
 * The explanation lists the requirements in order, then the rules and limits that target the tool phase by phase
 * (limits and forbids, then asks, then permits), each phase in source order and complete, up to the phase that
 * decided; then the default deny if no phase did. Worked out from the checked rules, not from the shared outline.
 */
function explainedInOrder(policy: CheckedPolicy, tool: string, decision: Decision): void {
  const ids = decision.explain.map((e) => e.rule);
  const requirements = policy.requirements.map((r) => r.id);
  const explainedRequirements = ids.filter((id) => requirements.includes(id));
  assert.deepEqual(explainedRequirements, requirements.slice(0, explainedRequirements.length), "requirements in order");
  if (explainedRequirements.length < requirements.length || decision.determining.some((id) => requirements.includes(id))) return;
  const targeted = (tools: readonly string[] | "*"): boolean => tools === "*" || tools.includes(tool);
  const phases = [
    [...policy.limits.filter((l) => targeted(l.tools)).map((l) => l.id), ...policy.rules.filter((r) => r.effect === "forbid" && targeted(r.tools)).map((r) => r.id)],
    policy.rules.filter((r) => r.effect === "ask" && targeted(r.tools)).map((r) => r.id),
    policy.rules.filter((r) => r.effect === "permit" && targeted(r.tools)).map((r) => r.id),
  ].map((phase) => phase.sort((a, b) => LINE(a) - LINE(b)));
  const expected: string[] = [];
  for (const [i, phase] of phases.entries()) {
    expected.push(...phase);
    const decided = decision.decision === (["deny", "ask", "allow"] as const)[i] && decision.determining.length > 0;
    if (decided) break;
  }
  if (decision.determining.length === 0) expected.push("default");
  assert.deepEqual(ids.slice(requirements.length), expected, "rules explained phase by phase in source order");
}

/** The longest window of a generated policy, read from its text: limits per 90s, 10m or 1h, and `calls(…, 10m)`. */
function windowOfText(source: string): number {
  const ms: Readonly<Record<string, number>> = { "90s": 90_000, "10m": 600_000, "1h": 3_600_000 };
  const limits = [...source.matchAll(/ to \d+ per (90s|10m|1h)/g)].map((m) => ms[m[1]!]!);
  const calls = [...source.matchAll(/(?:calls|sum|max|min)\([^()]*, (10m|1h)(?:, \w+)?\)/g)].map((m) => ms[m[1]!]!);
  return Math.max(0, ...limits, ...calls);
}

/** Reports a failure by its error and seed only: printing 150 generated calls would bury the disagreement. */
function compactReport<T>(details: fc.RunDetails<T>): void {
  if (!details.failed) return;
  throw new Error(`differential failure (seed ${details.seed}):\n${String(details.errorInstance)}`);
}
