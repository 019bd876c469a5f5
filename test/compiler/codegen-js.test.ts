// The JavaScript form of a guard module and its declarations (`pqguard compile --js`, and what the proxy and eval load):
// plain JavaScript that decides exactly as the TypeScript form once tsc has erased its types, and declarations that
// match the TypeScript module's exports and that a strict project compiles against.
import assert from "node:assert/strict";
import { join } from "node:path";
import fc from "fast-check";
import ts from "typescript";
import { generateGuardDeclarations, generateGuardModule } from "../../compiler/codegen.js";
import type { CheckedPolicy } from "../../compiler/ir.js";
import type { GuardModule } from "../../runtime/guard/types.js";
import { callArb } from "../support/arbitraries.js";
import {
  importFresh,
  OUT_DIR,
  runtimeImportFrom,
  samplePolicies,
  STRICT_PROJECTS,
  typeCheckWith,
  writeGuard,
  writeText,
  type LabelledPolicy,
} from "../support/guards.js";

const CALLS_PER_POLICY = 300;

type LoadedModule = Record<string, unknown> & { readonly default: GuardModule };

/** The TypeScript form with its types erased the way tsc does, written next to `folder`'s other modules. */
async function erasedTypeScript(policy: CheckedPolicy, folder: string, label: string): Promise<string> {
  const dir = join(OUT_DIR, folder);
  const source = await generateGuardModule(policy, { runtimeImport: runtimeImportFrom(dir) });
  const compilerOptions = { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, verbatimModuleSyntax: true };
  const file = join(dir, `${label}.erased.js`);
  writeText(file, ts.transpileModule(source, { compilerOptions }).outputText);
  return file;
}

/** Name → kind and type of each export of a module, as the type checker sees it. */
function exportsOf(program: ts.Program, file: string): Record<string, string> {
  const checker = program.getTypeChecker();
  const module = checker.getSymbolAtLocation(program.getSourceFile(file)!)!;
  return Object.fromEntries(
    checker.getExportsOfModule(module).map((exported) => {
      // `export default guardModule` exports an alias of the constant.
      const symbol = (exported.flags & ts.SymbolFlags.Alias) !== 0 ? checker.getAliasedSymbol(exported) : exported;
      const value = (symbol.flags & ts.SymbolFlags.Value) !== 0;
      const type = value ? checker.getTypeOfSymbol(symbol) : checker.getDeclaredTypeOfSymbol(symbol);
      return [exported.name, `${value ? "value" : "type"} ${checker.typeToString(type, undefined, ts.TypeFormatFlags.NoTruncation)}`];
    }),
  );
}

describe("JavaScript guard modules", function () {
  this.timeout(180_000);
  let all: LabelledPolicy[];

  before(async () => {
    all = await samplePolicies(16);
  });

  it("hold no TypeScript syntax", async () => {
    const files = await Promise.all(all.map(({ policy, label }) => writeGuard(policy, "js-syntax", label, "js")));
    const program = ts.createProgram({ rootNames: files, options: { allowJs: true, noEmit: true, noResolve: true } });
    const diagnostics = program.getSyntacticDiagnostics().map((d) => `${d.file?.fileName}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`);
    assert.deepEqual(diagnostics, []);
  });

  it("decide, list reachable tools and export the same values as the TypeScript form with its types erased", async () => {
    for (const { label, policy, tools } of all) {
      const js = await importFresh<LoadedModule>(await writeGuard(policy, "js-erased", label, "js"));
      const erased = await importFresh<LoadedModule>(await erasedTypeScript(policy, "js-erased", label));
      assert.deepEqual(Object.keys(js).sort(), Object.keys(erased).sort(), label);
      assert.deepEqual(Object.keys(js.default).sort(), Object.keys(erased.default).sort(), label);
      for (const [name, value] of Object.entries(erased)) if (typeof value !== "function" && name !== "default") assert.deepEqual(js[name], value, `${label}: ${name}`);
      for (const call of fc.sample(callArb(tools), { numRuns: CALLS_PER_POLICY, seed: 7 })) {
        const { request, context } = call;
        assert.deepEqual(js.default.guard(request, context), erased.default.guard(request, context), `${label}: ${JSON.stringify(call.json)}`);
        assert.deepEqual(js.default.reachableTools?.(context), erased.default.reachableTools?.(context), `${label}: reachable tools`);
      }
    }
  });

  it("have declarations with exactly the TypeScript module's exports, and the JavaScript module's values", async () => {
    const dir = join(OUT_DIR, "js-declarations");
    for (const { label, policy } of all) {
      const module = await writeGuard(policy, "js-declarations", label);
      const declarations = join(dir, `${label}.declared.d.ts`);
      writeText(declarations, await generateGuardDeclarations(policy, runtimeImportFrom(dir)));
      const program = ts.createProgram({ rootNames: [module, declarations], options: STRICT_PROJECTS["nodenext"]! });
      const declared = exportsOf(program, declarations);
      assert.deepEqual(declared, exportsOf(program, module), label);
      const values = Object.keys(declared).filter((name) => declared[name]!.startsWith("value "));
      const js = await importFresh<LoadedModule>(await writeGuard(policy, "js-declarations", label, "js"));
      assert.deepEqual(Object.keys(js).sort(), values.sort(), label);
    }
  });

  for (const [name, options] of Object.entries(STRICT_PROJECTS)) {
    it(`have declarations a strict project compiles against (${name})`, async () => {
      const dir = join(OUT_DIR, "js-consumer", name);
      const policy = all.find((c) => c.label === "policies-payments-payments")!.policy;
      writeText(join(dir, "payments.guard.js"), await generateGuardModule(policy, { runtimeImport: "pqguard/guard", language: "js" }));
      writeText(join(dir, "payments.guard.d.ts"), await generateGuardDeclarations(policy, "pqguard/guard"));
      const consumer = join(dir, "consumer.ts");
      writeText(consumer, CONSUMER);
      assert.deepEqual(typeCheckWith([consumer], options), []);
    });
  }
});

/** A strict project's use of every export; the expected errors prove that the declarations are not `any`. */
const CONSUMER = `import guardModule, { guard, longestWindowMs, policyDigest, policyName, reachableTools, toolDigests, type ProcessRefundArgs } from "./payments.guard.js";
import type { Decision, GuardContext, GuardModule } from "pqguard/guard";

export function decideRefund(args: ProcessRefundArgs, context: GuardContext): Decision {
  const module: GuardModule = guardModule;
  const facts: [string, string, number, string | undefined] = [policyName, policyDigest, longestWindowMs, toolDigests["process_refund"]];
  const tools: readonly string[] = reachableTools(context);
  // @ts-expect-error: a request is an object, not a tool name
  guard("process_refund", context);
  // @ts-expect-error: the refund's amount is a number
  const wrong: ProcessRefundArgs = { ...args, amount: "250" };
  const request = { tool: "process_refund", args: { ...(tools.length > facts.length ? wrong : args) } };
  return module === guardModule ? guard(request, context) : module.guard(request, context);
}
`;
