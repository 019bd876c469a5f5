// Test support for the policy back ends: check policy text, compile it into test/.out/ and import the generated guard,
// find every policy of the repository that checks, and type-check generated modules with the project's compiler
// options or those of a strict user project.
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import fc from "fast-check";
import ts from "typescript";
import { generateGuardModule } from "../../compiler/codegen.js";
import type { CheckedPolicy } from "../../compiler/ir.js";
import { checkPolicyFile, checkPolicySource } from "../../compiler/load.js";
import type { GuardModule } from "../../runtime/guard/types.js";
import { generatedToolsOf, policyArb, type GeneratedTool } from "./arbitraries.js";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** Generated files go here; the folder is git-ignored and excluded from the project's tsconfig. */
export const OUT_DIR = join(REPO_ROOT, "test", ".out");
const RUNTIME_GUARD = join(REPO_ROOT, "runtime", "guard", "index.js");

/** Checks policy text with in-memory manifests; fails the test with the diagnostics when it has errors. */
export function checked(source: string, manifests: Readonly<Record<string, unknown>>, fileName = "test.policy"): CheckedPolicy {
  const outcome = checkPolicySource(source, { fileName, manifests });
  if (outcome.policy === undefined) {
    const messages = outcome.diagnostics.map((d) => `${d.span.line}:${d.span.column} ${d.code} ${d.message}`).join("\n");
    throw new Error(`policy did not check:\n${messages}\n--- source ---\n${source}`);
  }
  return outcome.policy;
}

/** The import specifier of runtime/guard/ as seen from a file in `dir`. */
export function runtimeImportFrom(dir: string): string {
  const rel = relative(dir, RUNTIME_GUARD).split("\\").join("/");
  return rel.startsWith(".") ? rel : `./${rel}`;
}

let loads = 0;

/** Writes the guard module of a policy to test/.out/<folder>/<name>.guard.ts (or `.js`) and returns its path. */
export async function writeGuard(policy: CheckedPolicy, folder: string, name = policy.name, language: "ts" | "js" = "ts"): Promise<string> {
  const dir = join(OUT_DIR, folder);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.guard.${language}`);
  writeFileSync(file, await generateGuardModule(policy, { runtimeImport: runtimeImportFrom(dir), language }));
  return file;
}

/** Imports a module written during the test run, afresh: a file rewritten at the same path would come from the cache. */
export async function importFresh<T>(file: string): Promise<T> {
  return (await import(`${pathToFileURL(file).href}?load=${++loads}`)) as T;
}

/** Compiles a policy and imports the generated module (through tsx, which mocha registers). */
export async function compiledGuard(policy: CheckedPolicy, folder: string, name?: string): Promise<GuardModule> {
  const file = await writeGuard(policy, folder, name);
  return (await importFresh<{ default: GuardModule }>(file)).default;
}

export interface LabelledPolicy {
  /** Unique among the policies of a test, and usable as a file name. */
  readonly label: string;
  readonly policy: CheckedPolicy;
  /** The policy's tools, for `callArb`. */
  readonly tools: readonly GeneratedTool[];
}

/**
 * Every policy in policies/ and in the test fixtures that checks without errors, with the manifests next to it,
 * labelled by its path; and `generated` random ones, for the constructs those do not use.
 */
export async function samplePolicies(generated: number): Promise<LabelledPolicy[]> {
  const random = fc.sample(policyArb, { numRuns: generated, seed: 2027 }).map((shape, i) => ({
    label: `generated${i}`,
    policy: checked(shape.source, shape.manifests, "generated.policy"),
    tools: shape.tools,
  }));
  return [...(await repositoryPolicies()), ...random];
}

async function repositoryPolicies(): Promise<LabelledPolicy[]> {
  const files = [join(REPO_ROOT, "policies"), join(REPO_ROOT, "test")].flatMap((root) =>
    readdirSync(root, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && e.name.endsWith(".policy") && !e.parentPath.startsWith(OUT_DIR))
      .map((e) => join(e.parentPath, e.name)),
  );
  const outcomes = await Promise.all(files.sort().map(async (file) => ({ file, outcome: await checkPolicyFile(file) })));
  return outcomes.flatMap(({ file, outcome }) => {
    if (outcome.policy === undefined) return [];
    const label = relative(REPO_ROOT, file).replace(/\.policy$/, "").split(/[\\/]/).join("-");
    return [{ label, policy: outcome.policy, tools: generatedToolsOf(outcome.policy) }];
  });
}

/** Type-checks files with the project's tsconfig options; returns the diagnostics as text lines. */
export function typeCheck(files: readonly string[]): string[] {
  const config = ts.readConfigFile(join(REPO_ROOT, "tsconfig.json"), (p) => ts.sys.readFile(p));
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, REPO_ROOT);
  return typeCheckWith(files, parsed.options);
}

/** The strictest options a user project may set, and the two ways it may resolve modules. */
const STRICT_PROJECT: ts.CompilerOptions = {
  strict: true,
  noUncheckedIndexedAccess: true,
  exactOptionalPropertyTypes: true,
  noPropertyAccessFromIndexSignature: true,
  noUnusedLocals: true,
  verbatimModuleSyntax: true,
  skipLibCheck: false,
  target: ts.ScriptTarget.ES2022,
  lib: ["lib.es2022.d.ts"],
  types: [],
  // `pqguard/guard` is the runtime's sources, so that they are held to these options too.
  paths: { "pqguard/guard": [join(REPO_ROOT, "runtime", "guard", "index.ts")] },
};

export const STRICT_PROJECTS: Readonly<Record<string, ts.CompilerOptions>> = {
  nodenext: { ...STRICT_PROJECT, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext },
  bundler: { ...STRICT_PROJECT, module: ts.ModuleKind.Preserve, moduleResolution: ts.ModuleResolutionKind.Bundler },
};

/** Type-checks files with the given options; returns the diagnostics as text lines. */
export function typeCheckWith(files: readonly string[], options: ts.CompilerOptions): string[] {
  const program = ts.createProgram({ rootNames: [...files], options: { ...options, noEmit: true } });
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file === undefined ? "" : `${d.file.fileName}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}: `;
    return `${where}${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
  });
}

export function writeText(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
}
