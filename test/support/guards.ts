// Test support for the policy back ends: check policy text, compile it into test/.out/ and import the generated guard,
// and type-check generated modules with the project's compiler options.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import ts from "typescript";
import { generateGuardModule } from "../../compiler/codegen.js";
import type { CheckedPolicy } from "../../compiler/ir.js";
import { checkPolicySource } from "../../compiler/load.js";
import type { GuardModule } from "../../runtime/guard/types.js";

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

/** Writes the guard module of a policy to test/.out/<folder>/<name>.guard.ts and returns its path. */
export async function writeGuard(policy: CheckedPolicy, folder: string, name = policy.name): Promise<string> {
  const dir = join(OUT_DIR, folder);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.guard.ts`);
  writeFileSync(file, await generateGuardModule(policy, { runtimeImport: runtimeImportFrom(dir) }));
  return file;
}

/** Compiles a policy and imports the generated module (through tsx, which mocha registers). */
export async function compiledGuard(policy: CheckedPolicy, folder: string, name?: string): Promise<GuardModule> {
  const file = await writeGuard(policy, folder, name);
  // A query string per load, because a rewritten file at the same path would otherwise come from the module cache.
  const module = (await import(`${pathToFileURL(file).href}?load=${++loads}`)) as { default: GuardModule };
  return module.default;
}

/** Type-checks files with the project's tsconfig options; returns the diagnostics as text lines. */
export function typeCheck(files: readonly string[]): string[] {
  const config = ts.readConfigFile(join(REPO_ROOT, "tsconfig.json"), (p) => ts.sys.readFile(p));
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, REPO_ROOT);
  const program = ts.createProgram({ rootNames: [...files], options: { ...parsed.options, noEmit: true } });
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file === undefined ? "" : `${d.file.fileName}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}: `;
    return `${where}${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
  });
}

export function writeText(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
}
