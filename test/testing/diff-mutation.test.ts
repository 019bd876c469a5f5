// pqguard diff measured by mutation on the shipped policies: of a sample of their mutants (every third: an operator
// flipped, a constant moved, a list member swapped or removed, a window or limit changed, a regex altered, a rule
// dropped, an effect changed), at least 95 % of those not proved equivalent are reported as changes; none of their
// semantics-preserving rewrites is; and every proof of equivalence survives random requests. `npm run bench -- diff`
// runs all of them.
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { interpret } from "../../compiler/interpreter.js";
import type { CheckedPolicy } from "../../compiler/ir.js";
import { judgeVariant, policyVariants, type CheckedVariant, type VariantResult } from "../../testing/diff/measure.js";
import { changeOf, correspond, outcomeOf } from "../../testing/diff/outcome.js";
import { policyReads } from "../../testing/diff/reads.js";
import { clock, history, request, session, toolCall } from "../../testing/index.js";
import { REPO_ROOT } from "../support/guards.js";

/** One mutant in this many is diffed; the benchmark diffs all. */
const SAMPLE_EVERY = 3;
const SEED = 1;
/** Random requests that must find no change where the diff proved none. */
const RANDOM_CHECKS = 2000;

/**
 * The example policies the measurement is pinned to, so that its figures (docs/performance.md) compare run to run; the
 * policy library beside them (policies/README.md) is tested against its servers in test/policies/.
 */
const MEASURED = ["filesystem", "healthcare", "payments"];

function shippedPolicies(): string[] {
  const root = join(REPO_ROOT, "policies");
  return readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && MEASURED.includes(e.name))
    .flatMap((e) => readdirSync(join(root, e.name)).filter((f) => f.endsWith(".policy")).map((f) => join(root, e.name, f)))
    .sort();
}

/** Whether random requests over every tool find a change between the two policies; the first one found, if any. */
function randomChange(before: CheckedPolicy, after: CheckedPolicy): string | undefined {
  const tools = before.tools.map((t) => t.definition);
  const requests = fc.sample(request({ call: toolCall(tools), session: session(), clock: clock({ zone: before.timezone }), history: history(tools, { now: 0 }) }), { seed: SEED, numRuns: RANDOM_CHECKS });
  const groups = correspond(policyReads(before), policyReads(after));
  const [a, b] = [interpret(before), interpret(after)];
  for (const r of requests) {
    const call = { tool: r.tool, args: r.args };
    if (changeOf(r.tool, outcomeOf(a.guard(call, r.context), groups.before), outcomeOf(b.guard(call, r.context), groups.after)) !== undefined) return r.tool;
  }
  return undefined;
}

describe("pqguard diff on mutants of the shipped policies", function () {
  this.timeout(180_000);
  const mutants: { original: CheckedPolicy; mutant: CheckedVariant<string>; result?: VariantResult }[] = [];
  const rewrites: { description: string; result: VariantResult }[] = [];
  const broken: string[] = [];

  before(async () => {
    let index = 0;
    for (const file of shippedPolicies()) {
      const variants = await policyVariants(file);
      broken.push(...variants.brokenRewrites);
      for (const mutant of variants.mutants) if (index++ % SAMPLE_EVERY === 0) mutants.push({ original: variants.original, mutant });
      for (const rewrite of variants.rewrites) rewrites.push({ description: rewrite.description, result: judgeVariant(variants.original, rewrite, { seed: SEED }) });
    }
    for (const entry of mutants) entry.result = judgeVariant(entry.original, entry.mutant, { seed: SEED });
  });

  it("reports at least 95 % of the sampled mutants not proved equivalent as changes", () => {
    const judged = mutants.filter((m) => m.result!.verdict !== "equivalent");
    const missed = judged.filter((m) => m.result!.verdict === "missed").map((m) => m.mutant.description);
    const rate = (judged.length - missed.length) / judged.length;
    assert.ok(judged.length >= 80, `a sample of ${judged.length} mutants`);
    assert.ok(rate >= 0.95, `detected ${(rate * 100).toFixed(1)} %; missed:\n${missed.join("\n")}`);
  });

  it("reports no change for any rewrite that keeps what the policy decides", () => {
    assert.deepEqual(broken, [], "every rewrite still checks");
    assert.ok(rewrites.length >= 40, `${rewrites.length} rewrites`);
    const changed = rewrites.filter((r) => r.result.verdict === "detected").map((r) => `${r.description}: ${r.result.diff.changes.map((c) => c.tool).join(", ")}`);
    assert.deepEqual(changed, []);
    assert.ok(rewrites.every((r) => r.result.diff.exhaustive), "a rewrite is proved, not only searched");
  });

  it("proves equivalence only where random requests find no change either", () => {
    const proved = mutants.filter((m) => m.result!.verdict === "equivalent");
    assert.ok(proved.length > 0, "the sample holds a mutant proved equivalent, so this test checks something");
    for (const { original, mutant } of proved) assert.equal(randomChange(original, mutant.policy), undefined, mutant.description);
  });
});
