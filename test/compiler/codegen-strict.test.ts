// Generated guard modules compile in strict user projects: every policy of the repository that checks, and random
// ones, under the strictest options a project may set, resolving modules the Node way and the bundler way.
import assert from "node:assert/strict";
import { samplePolicies, STRICT_PROJECTS, typeCheckWith, writeGuard, type LabelledPolicy } from "../support/guards.js";

describe("generated guard modules in strict projects", function () {
  this.timeout(120_000);
  let policies: LabelledPolicy[];
  let files: string[];

  before(async () => {
    policies = await samplePolicies(12);
    files = await Promise.all(policies.map(({ label, policy }) => writeGuard(policy, "strict", label)));
  });

  it("cover the shipped policies and the fixtures that check", () => {
    const labels = policies.map((p) => p.label);
    for (const name of ["payments", "healthcare", "filesystem"]) assert.ok(labels.includes(`policies-${name}-${name}`), name);
    assert.ok(labels.some((l) => l.startsWith("test-")), "no fixture policy checked");
  });

  for (const [name, options] of Object.entries(STRICT_PROJECTS)) {
    it(`type-check with strict, noUncheckedIndexedAccess, exactOptionalPropertyTypes, noPropertyAccessFromIndexSignature (${name})`, () => {
      assert.deepEqual(typeCheckWith(files, options), []);
    });
  }
});
