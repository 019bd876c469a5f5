// Consumer fixture (plain ESM): checks and compiles a policy with `pqguard/compiler`, writes the guard module where
// argv[3] says, and prints the diagnostics of a broken policy the way the CLI renders them.
import { writeFile } from "node:fs/promises";
import { checkPolicyFile, checkPolicySource, generateGuardModule, interpret, renderDiagnostics } from "pqguard/compiler";

const outcome = await checkPolicyFile(process.argv[2]);
if (outcome.policy === undefined) throw new Error(renderDiagnostics(outcome.diagnostics, { [outcome.fileName]: outcome.source }, "text"));
await writeFile(process.argv[3], await generateGuardModule(outcome.policy, { runtimeImport: "pqguard/guard", language: "js" }));

const broken = checkPolicySource("policy broken version 1\npermit tool", { fileName: "broken.policy", manifests: {} });
console.log(JSON.stringify({
  policy: outcome.policy.name,
  interpreted: typeof interpret(outcome.policy).guard,
  brokenCodes: broken.diagnostics.map((d) => d.code),
  rendered: renderDiagnostics(broken.diagnostics, { "broken.policy": "policy broken version 1\npermit tool" }, "text"),
}));
