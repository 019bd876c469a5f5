// `pqguard diff OLD.policy NEW.policy [--manifest M.json]... [--runs N] [--seed S] [--expect-no-change]
// [--format text|json]`: the requests two versions of a policy decide differently, each kind of change once with a
// minimal counterexample. Exit as diff(1): 0 no change found, 1 changes, 2 trouble (a policy with errors, a usage error).
import { randomInt } from "node:crypto";
import { isAbsolute, resolve } from "node:path";
import type { CheckedPolicy } from "../../compiler/ir.js";
import { checkPolicyFile } from "../../compiler/load.js";
import { renderDiagnostics } from "../../compiler/render.js";
import { errorCatalogue } from "../../runtime/errors.js";
import { DISAGREEMENT_CODE } from "../../testing/runner/agreement.js";
import { EXIT_ERRORS, EXIT_OK, EXIT_USAGE, UsageError, type CommandIO, integer, parseCommandLine } from "./io.js";

/** `diff` exits as diff(1) does (io.ts): no change found, changes, or trouble (nothing could be compared). */
const EXIT_SAME = EXIT_OK;
const EXIT_CHANGED = EXIT_ERRORS;
const EXIT_TROUBLE = EXIT_USAGE;

export const DIFF_ERRORS = errorCatalogue("pqguard diff", "CLI message", [[9560, 9569]], {
  RefactorChangedBehaviour: ["PQG9560", "`--expect-no-change` was given and the new policy decides some request differently."],
  PolicyHasErrors: ["PQG9561", "One of the two policies does not check."],
  FastCheckMissing: ["PQG9562", "fast-check, which the search draws requests with, cannot be imported."],
});

/** The codes by name; a disagreement of the back ends keeps the one code it has everywhere (testing/runner/agreement.ts). */
export const DiffErrorCode = { ...DIFF_ERRORS.codes, BackendsDisagree: DISAGREEMENT_CODE } as const;

interface DiffArgs {
  readonly before: string;
  readonly after: string;
  readonly manifests: string[];
  readonly runs: number | undefined;
  readonly seed: number | undefined;
  readonly expectNoChange: boolean;
  readonly format: "text" | "json";
}

function parse(argv: readonly string[]): DiffArgs {
  const { values, positionals } = parseCommandLine({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      manifest: { type: "string", multiple: true },
      runs: { type: "string" },
      seed: { type: "string" },
      "expect-no-change": { type: "boolean", default: false },
      format: { type: "string", default: "text" },
    },
  });
  if (positionals.length !== 2) throw new UsageError(`two policy files are needed, the old and the new; ${positionals.length === 0 ? "none was" : `${positionals.length} were`} given`);
  if (values.format !== "text" && values.format !== "json") throw new UsageError(`unknown format \`${values.format}\`; use \`text\` or \`json\``);
  return {
    before: positionals[0]!,
    after: positionals[1]!,
    manifests: values.manifest ?? [],
    runs: integer(values.runs, "runs", 1, 10_000_000),
    // fast-check seeds are 32-bit signed integers.
    seed: integer(values.seed, "seed", -(2 ** 31), 2 ** 31 - 1),
    expectNoChange: values["expect-no-change"],
    format: values.format,
  };
}

/** The search module, which needs fast-check; undefined when fast-check cannot be imported. */
async function loadDiff(): Promise<typeof import("../../testing/diff/index.js") | undefined> {
  try {
    return await import("../../testing/diff/index.js");
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if ((code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") && String((error as Error).message).includes("fast-check")) return undefined;
    throw error;
  }
}

export async function run(io: CommandIO): Promise<number> {
  const args = parse(io.argv);
  const inCwd = (p: string): string => (isAbsolute(p) ? p : resolve(io.cwd, p));
  const policies: CheckedPolicy[] = [];
  for (const file of [args.before, args.after]) {
    const outcome = await checkPolicyFile(inCwd(file), { manifests: args.manifests.map(inCwd), displayName: file });
    if (outcome.diagnostics.length > 0) io.err(renderDiagnostics(outcome.diagnostics, { [file]: outcome.source }, "text"));
    if (outcome.policy === undefined) {
      io.err(`error ${DiffErrorCode.PolicyHasErrors}: \`${file}\` has errors, so the two policies were not compared\n`);
      return EXIT_TROUBLE;
    }
    policies.push(outcome.policy);
  }
  const [before, after] = policies as [CheckedPolicy, CheckedPolicy];

  const diff = await loadDiff();
  if (diff === undefined) {
    io.err(`error ${DiffErrorCode.FastCheckMissing}: \`pqguard diff\` needs fast-check, which cannot be imported from here; install it (\`npm install --save-dev fast-check\`)\n`);
    return EXIT_TROUBLE;
  }
  // Compiling costs some 20 ms a policy; then every request is decided by the compiled guards too.
  const { importGuard } = await import("../../compiler/import-guard.js");
  const compiled = { before: await importGuard(before), after: await importGuard(after) };
  const seed = args.seed ?? randomInt(2 ** 31);
  const result = diff.diffPolicies(before, after, { seed, runs: args.runs, compiled });

  const names = { before: args.before, after: args.after };
  io.out(args.format === "json" ? diff.formatDiffJson(result, names) : diff.formatDiffText(result, names));
  if (result.disagreements.length > 0) {
    io.err(`error ${DiffErrorCode.BackendsDisagree}: a compiled guard and the interpreter decided ${result.disagreements.length === 1 ? "a request" : "requests"} differently (shown above), so this comparison cannot be trusted; please report it\n`);
    return EXIT_TROUBLE;
  }
  if (result.same) return EXIT_SAME;
  if (args.expectNoChange) {
    const count = result.changes.length + result.manifest.length;
    io.err(
      `error ${DiffErrorCode.RefactorChangedBehaviour}: \`${args.after}\` was expected to decide every request as \`${args.before}\` does (a refactor), but it changes behaviour: ${count === 1 ? "1 change" : `${count} changes`}, listed above\n`,
    );
  }
  return EXIT_CHANGED;
}
