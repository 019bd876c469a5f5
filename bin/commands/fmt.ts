// `pqguard fmt FILE... [--check]`: rewrites policy files in canonical form, or with --check lists those that would change.
import { readFile, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { parsePolicy } from "../../grammar/parse.js";
import { formatPolicy } from "../../grammar/printer.js";
import { EXIT_ERRORS, EXIT_OK, UsageError, type CommandIO } from "./io.js";

/** The catalogue code for an unreadable policy file (compiler/diagnostics.ts `unreadablePolicy`). */
const UNREADABLE_POLICY = "PQG2019";

interface FmtOptions {
  readonly files: string[];
  readonly check: boolean;
}

function parseOptions(argv: readonly string[]): FmtOptions {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: { check: { type: "boolean", default: false } }, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message.split(". ")[0]!.replace(/^./, (c) => c.toLowerCase()) : String(error));
  }
  if (parsed.positionals.length === 0) throw new UsageError("no policy files given");
  return { files: parsed.positionals, check: parsed.values.check === true };
}

type FileOutcome = "unchanged" | "changed" | "failed";

async function formatFile(io: CommandIO, file: string, check: boolean): Promise<FileOutcome> {
  const path = resolve(io.cwd, file);
  let source: string;
  try {
    source = await readFile(path, "utf8");
  } catch (error) {
    const detail = (error as NodeJS.ErrnoException).code ?? (error instanceof Error ? error.message : String(error));
    io.err(`${file}:1:1: error ${UNREADABLE_POLICY}: policy file \`${file}\` cannot be read: ${detail}\n`);
    return "failed";
  }
  const { ast, problems } = parsePolicy(source);
  if (problems.length > 0) {
    for (const p of problems) {
      io.err(`${file}:${p.span.line}:${p.span.column}: error ${p.code}: ${p.message}\n`);
      if (p.help !== undefined) io.err(`  help: ${p.help}\n`);
    }
    return "failed";
  }
  const formatted = formatPolicy(ast);
  if (formatted === source) return "unchanged";
  if (!check) await writeFile(path, formatted, "utf8");
  return "changed";
}

export async function run(io: CommandIO): Promise<number> {
  const options = parseOptions(io.argv);
  let failed = false;
  const changed: string[] = [];
  for (const file of options.files) {
    const outcome = await formatFile(io, file, options.check);
    if (outcome === "failed") failed = true;
    if (outcome === "changed") changed.push(file);
  }
  if (options.check && changed.length > 0) {
    io.out(changed.map((file) => `${file}\n`).join(""));
    return EXIT_ERRORS;
  }
  return failed ? EXIT_ERRORS : EXIT_OK;
}
