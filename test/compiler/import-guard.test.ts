// `importGuard`, through which `pqguard proxy` and `pqguard eval` load a policy: the JavaScript form, imported from a
// temporary folder that is removed, deciding as the interpreter does; and on their path neither the TypeScript
// compiler nor json-schema-to-typescript is ever loaded, since an installed package runs without them.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import fc from "fast-check";
import { importGuard } from "../../compiler/import-guard.js";
import { interpret } from "../../compiler/interpreter.js";
import { callArb } from "../support/arbitraries.js";
import { OUT_DIR, REPO_ROOT, samplePolicies, writeText } from "../support/guards.js";

const PAYMENTS = join(REPO_ROOT, "policies", "payments", "payments.policy");
const REQUEST = join(OUT_DIR, "import-guard", "request.json");

/**
 * Loads the payments guard through the proxy's `compileGuard` and decides through `pqguard eval`, then prints the
 * TypeScript and json-schema-to-typescript files loaded (both are CommonJS, so the require cache lists them); last,
 * as a control, loads the argument-interface generator and prints them again.
 */
const PROXY_PATH_SCRIPT = `
import { createRequire } from "node:module";
const cache = createRequire(import.meta.url).cache;
const loaded = () => Object.keys(cache).filter((f) => /[\\\\/]node_modules[\\\\/](typescript|json-schema-to-typescript)[\\\\/]/.test(f)).length;
const { compileGuard } = await import(${JSON.stringify(pathToFileURL(join(REPO_ROOT, "bin", "commands", "proxy.ts")).href)});
const compiled = await compileGuard(${JSON.stringify(PAYMENTS)});
const { main } = await import(${JSON.stringify(pathToFileURL(join(REPO_ROOT, "bin", "cli.ts")).href)});
let out = "";
const code = await main(["eval", ${JSON.stringify(PAYMENTS)}, "--request", ${JSON.stringify(REQUEST)}], { cwd: process.cwd(), out: (t) => (out += t), err: (t) => (out += t) });
const before = loaded();
await import(${JSON.stringify(pathToFileURL(join(REPO_ROOT, "compiler", "codegen-types.ts")).href)});
console.log(JSON.stringify({ policy: compiled.guard.policyName, code, decision: JSON.parse(out).decision, before, after: loaded() }));
`;

describe("importGuard", function () {
  this.timeout(60_000);

  it("loads a policy's compiled guard, deciding as the interpreter, and removes its temporary folder", async () => {
    const { policy, tools } = (await samplePolicies(0)).find((p) => p.label === "policies-payments-payments")!;
    const temporary = mkdtempSync(join(tmpdir(), "pqguard-import-test-"));
    const saved = process.env["TMPDIR"];
    process.env["TMPDIR"] = temporary;
    try {
      const guard = await importGuard(policy);
      assert.deepEqual(readdirSync(temporary), []);
      const oracle = interpret(policy);
      for (const { request, context } of fc.sample(callArb(tools), { numRuns: 300, seed: 3 })) {
        assert.deepEqual(guard.guard(request, context), oracle.guard(request, context));
      }
    } finally {
      if (saved === undefined) delete process.env["TMPDIR"];
      else process.env["TMPDIR"] = saved;
      rmSync(temporary, { recursive: true, force: true });
    }
  });

  it("loads neither TypeScript nor json-schema-to-typescript on the path of `pqguard proxy` and `pqguard eval`", async () => {
    writeText(REQUEST, JSON.stringify({ tool: "get_balance", client: { authenticated: true } }));
    const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", "--input-type=module", "-e", PROXY_PATH_SCRIPT], { cwd: REPO_ROOT });
    const result = JSON.parse(stdout) as { policy: string; code: number; decision: string; before: number; after: number };
    assert.deepEqual({ ...result, after: result.after > 0 }, { policy: "payments", code: 0, decision: "deny", before: 0, after: true });
  });
});
