// `pqguard compile FILE...|DIR --out DIR [--js] [--runtime-import SPEC]`: checks every policy first and, only when none
// has an error, writes one guard module per policy (`<name>.guard.ts`, or `.guard.js` + `.guard.d.ts` with --js).
import { mkdir, readdir, stat, writeFile } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import { generateGuardDeclarations, generateGuardModule } from "../../compiler/codegen.js";
import type { Diagnostic } from "../../compiler/diagnostics.js";
import type { CheckedPolicy } from "../../compiler/ir.js";
import { checkPolicyFile } from "../../compiler/load.js";
import { renderDiagnostics } from "../../compiler/render.js";
import { EXIT_ERRORS, EXIT_OK, UsageError, type CommandIO, parseCommandLine } from "./io.js";

/** The specifier generated modules import the guard runtime through, unless `--runtime-import` says otherwise. */
export const DEFAULT_RUNTIME_IMPORT = "pqguard/guard";

interface CompileArgs {
  readonly inputs: string[];
  readonly out: string;
  readonly js: boolean;
  readonly runtimeImport: string;
  readonly manifests: string[];
}

function parse(argv: readonly string[]): CompileArgs {
  const parsed = parseCommandLine({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      out: { type: "string" },
      js: { type: "boolean", default: false },
      "runtime-import": { type: "string", default: DEFAULT_RUNTIME_IMPORT },
      manifest: { type: "string", multiple: true },
    },
  });
  const { out, js, manifest } = parsed.values;
  if (parsed.positionals.length === 0) throw new UsageError("no policy file or folder given");
  if (out === undefined) throw new UsageError("`--out DIR` is required");
  const runtimeImport = parsed.values["runtime-import"];
  if (runtimeImport.length === 0) throw new UsageError("`--runtime-import` must not be empty");
  return { inputs: parsed.positionals, out, js, runtimeImport, manifests: manifest ?? [] };
}

/** A folder stands for every `.policy` file below it, in name order. */
async function policyFiles(path: string): Promise<string[]> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined || !info.isDirectory()) return [path];
  const entries = await readdir(path, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith(".policy"))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

interface Output {
  readonly path: string;
  readonly text: string;
}

async function outputsOf(policy: CheckedPolicy, args: CompileArgs, outDir: string): Promise<Output[]> {
  const base = join(outDir, `${policy.name}.guard`);
  const { runtimeImport } = args;
  if (!args.js) return [{ path: `${base}.ts`, text: await generateGuardModule(policy, { runtimeImport }) }];
  return [
    { path: `${base}.js`, text: await generateGuardModule(policy, { runtimeImport, language: "js" }) },
    { path: `${base}.d.ts`, text: await generateGuardDeclarations(policy, runtimeImport) },
  ];
}

export async function run(io: CommandIO): Promise<number> {
  const args = parse(io.argv);
  const inCwd = (p: string): string => (isAbsolute(p) ? p : resolve(io.cwd, p));
  const files = (await Promise.all(args.inputs.map((p) => policyFiles(inCwd(p))))).flat();
  if (files.length === 0) {
    io.err("error PQG9004: no `.policy` files found\n");
    return EXIT_ERRORS;
  }

  // Check everything before writing anything: one bad policy means no output at all.
  const diagnostics: Diagnostic[] = [];
  const sources: Record<string, string> = {};
  const policies: CheckedPolicy[] = [];
  for (const file of files) {
    const display = isAbsolute(file) && file.startsWith(io.cwd) ? file.slice(io.cwd.length).replace(/^[\\/]/, "") : file;
    const outcome = await checkPolicyFile(file, { manifests: args.manifests.map(inCwd), displayName: display });
    diagnostics.push(...outcome.diagnostics);
    sources[display] = outcome.source;
    if (outcome.policy !== undefined) policies.push(outcome.policy);
  }
  if (diagnostics.length > 0) io.err(renderDiagnostics(diagnostics, sources, "text"));
  const errors = diagnostics.filter((d) => d.severity === "error").length;
  if (errors > 0) {
    io.err(`compile failed: ${errors} error${errors === 1 ? "" : "s"}; no files were written\n`);
    return EXIT_ERRORS;
  }

  const byName = new Map<string, string>();
  for (const policy of policies) {
    const other = byName.get(policy.name);
    if (other !== undefined) {
      io.err(`error PQG9005: policies \`${other}\` and \`${policy.fileName}\` are both named \`${policy.name}\`; no files were written\n`);
      return EXIT_ERRORS;
    }
    byName.set(policy.name, policy.fileName);
  }

  const outDir = inCwd(args.out);
  const outputs = (await Promise.all(policies.map((p) => outputsOf(p, args, outDir)))).flat();
  try {
    await mkdir(outDir, { recursive: true });
    for (const output of outputs) await writeFile(output.path, output.text);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    io.err(`error PQG9003: cannot write to \`${args.out}\`: ${detail}\n`);
    return EXIT_ERRORS;
  }
  for (const output of outputs) io.out(`wrote ${output.path}\n`);
  return EXIT_OK;
}
