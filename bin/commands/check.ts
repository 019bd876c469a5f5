// `pqguard check FILE... [--manifest M.json] [--format text|json]`: checks policies and prints their diagnostics.
// Exit 0 when clean or only warnings, 1 when any file has an error, 2 for a wrong command line.
import { isAbsolute, resolve } from "node:path";
import { checkPolicyFile } from "../../compiler/load.js";
import { renderDiagnostics, type DiagnosticFormat } from "../../compiler/render.js";
import type { Diagnostic } from "../../compiler/diagnostics.js";
import { EXIT_ERRORS, EXIT_OK, UsageError, type CommandIO, parseCommandLine } from "./io.js";

function parse(argv: readonly string[]): { files: string[]; manifests: string[]; format: DiagnosticFormat } {
  const parsed = parseCommandLine({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      manifest: { type: "string", multiple: true },
      format: { type: "string", default: "text" },
    },
  });
  const format = parsed.values.format;
  if (format !== "text" && format !== "json") throw new UsageError(`unknown format \`${format}\`; use \`text\` or \`json\``);
  if (parsed.positionals.length === 0) throw new UsageError("no policy file given");
  return { files: parsed.positionals, manifests: parsed.values.manifest ?? [], format };
}


export async function run(io: CommandIO): Promise<number> {
  const { files, manifests, format } = parse(io.argv);
  const inCwd = (p: string): string => (isAbsolute(p) ? p : resolve(io.cwd, p));
  const diagnostics: Diagnostic[] = [];
  const sources: Record<string, string> = {};
  for (const file of files) {
    // Diagnostics name the file as the user typed it, not the absolute path it was read from.
    const outcome = await checkPolicyFile(inCwd(file), { manifests: manifests.map(inCwd), displayName: file });
    diagnostics.push(...outcome.diagnostics);
    sources[file] = outcome.source;
  }
  const errors = diagnostics.filter((d) => d.severity === "error").length;
  const warnings = diagnostics.length - errors;
  if (format === "json") io.out(renderDiagnostics(diagnostics, sources, "json"));
  else {
    // Diagnostics are the command's output, so they go to stdout like a compiler's; a pipe to a pager keeps them.
    if (diagnostics.length > 0) io.out(renderDiagnostics(diagnostics, sources, "text"));
    const summary = errors === 0 && warnings === 0 ? "no problems" : `${plural(errors, "error")}, ${plural(warnings, "warning")}`;
    io.out(`checked ${plural(files.length, "file")}: ${summary}\n`);
  }
  return errors > 0 ? EXIT_ERRORS : EXIT_OK;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
