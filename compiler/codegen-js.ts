// The `--js` form of a guard module: plain JavaScript plus declarations, for projects that do not run tsc.
// Kept apart from the generator so that compiling to TypeScript never loads the TypeScript compiler.
import ts from "typescript";

export interface EmittedJs {
  /** `<name>.guard.js`: the module with its types erased. */
  readonly js: string;
  /** `<name>.guard.d.ts`: the interfaces and the declarations of the exports. */
  readonly dts: string;
}

/** Plain JavaScript and declarations of a generated module, for projects that do not run tsc. */
export function emitJs(source: string, fileName = "guard.ts"): EmittedJs {
  const compilerOptions: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    verbatimModuleSyntax: true,
    declaration: true,
    isolatedDeclarations: true,
  };
  const js = ts.transpileModule(source, { compilerOptions, fileName, reportDiagnostics: false }).outputText;
  const dts = ts.transpileDeclaration(source, { compilerOptions, fileName, reportDiagnostics: false }).outputText;
  return { js, dts };
}
