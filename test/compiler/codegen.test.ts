// The generated guard modules are real TypeScript: they pass `tsc --strict --noEmit` with the project's options,
// import only runtime/guard/ and have no eval. (Their JavaScript form: codegen-js.test.ts.)
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import fc from "fast-check";
import { generateGuardModule } from "../../compiler/codegen.js";
import { argumentTypeName } from "../../compiler/codegen-types.js";
import type { CheckedPolicy } from "../../compiler/ir.js";
import { requestFromJson } from "../../compiler/request.js";
import type { GuardModule } from "../../runtime/guard/types.js";
import { policyArb } from "../support/arbitraries.js";
import { checked, REPO_ROOT, typeCheck, writeGuard } from "../support/guards.js";

function example(name: string): CheckedPolicy {
  const dir = join(REPO_ROOT, "policies", name);
  const manifest: unknown = JSON.parse(readFileSync(join(dir, `${name}.tools.json`), "utf8"));
  return checked(readFileSync(join(dir, `${name}.policy`), "utf8"), { [`${name}.tools.json`]: manifest }, `${name}.policy`);
}

describe("generated guard modules", function () {
  this.timeout(120_000);
  const examples = ["payments", "healthcare", "filesystem"].map(example);
  const shapes = fc.sample(policyArb, { numRuns: 12, seed: 4242 });
  const generated = shapes.map((shape) => checked(shape.source, shape.manifests, "generated.policy"));

  it("pass tsc --strict --noEmit with the project's options (examples and random policies)", async () => {
    const files = [
      ...(await Promise.all(examples.map((p) => writeGuard(p, "typecheck")))),
      ...(await Promise.all(generated.map((p, i) => writeGuard(p, "typecheck", `generated${i}`)))),
    ];
    assert.deepEqual(typeCheck(files), []);
  });

  it("import only the runtime guard entry and never evaluate code", async () => {
    for (const policy of [...examples, ...generated]) {
      const source = await generateGuardModule(policy, { runtimeImport: "pqguard/guard" });
      const imports = [...source.matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1]);
      assert.deepEqual([...new Set(imports)], ["pqguard/guard"]);
      assert.doesNotMatch(source, /\beval\(|new Function\b/);
    }
  });

  it("export one argument interface per tool", async () => {
    const source = await generateGuardModule(examples[0]!, { runtimeImport: "pqguard/guard" });
    for (const tool of examples[0]!.tools) assert.match(source, new RegExp(`export interface ${argumentTypeName(tool.name)} \\{`));
    assert.equal(argumentTypeName("github.create-issue"), "GithubCreateIssueArgs");
    assert.equal(argumentTypeName("2fa"), "Tool2faArgs");
  });

  it("keeps hostile tool names inside strings and comments", async () => {
    const name = "evil\n}); process.exit(1); //";
    const manifest = {
      tools: [{ name, description: "x */ y", inputSchema: { type: "object", properties: { "a\"b": { type: "string", description: "*/ oops" } } } }],
    };
    const policy = checked(`policy hostile\nmanifest "m.json"\npermit tool ${JSON.stringify(name)}\n`, { "m.json": manifest }, "hostile.policy");
    const file = await writeGuard(policy, "hostile");
    assert.deepEqual(typeCheck([file]), []);
    const guard = ((await import(pathToFileURL(file).href)) as { default: GuardModule }).default;
    const { request, context } = requestFromJson({ tool: name, client: { authenticated: true } }, 0);
    assert.equal(guard.guard(request, context).decision, "allow");
  });

  it("keeps a tool name holding `*/` inside the doc comment of its argument interface", async () => {
    const name = "x */ export const injected = 1; /*";
    const manifest = { tools: [{ name, inputSchema: { type: "object" } }] };
    const policy = checked(`policy hostile\nmanifest "m.json"\npermit tool ${JSON.stringify(name)}\n`, { "m.json": manifest }, "hostile.policy");
    const file = await writeGuard(policy, "hostile", "comment");
    assert.deepEqual(typeCheck([file]), []);
    const module = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    assert.deepEqual(Object.keys(module).sort(), ["aggregatedValues", "default", "guard", "inspectResult", "longestWindowMs", "outputSchemas", "policyDigest", "policyName", "reachableTools", "resultRuleCount", "seenLabels", "toolDigests"]);
  });
});
