// `pqguard eval POLICY --request R.json [--manifest M.json] [--interpret]`: decides one call and prints the decision
// as JSON. By default through the compiled guard (compiled to a temporary folder and imported); `--interpret` uses
// the reference interpreter instead.
import { readFile } from "node:fs/promises";
import { isAbsolute, resolve } from "node:path";
import { interpret } from "../../compiler/interpreter.js";
import type { CheckedPolicy } from "../../compiler/ir.js";
import { checkPolicyFile } from "../../compiler/load.js";
import { renderDiagnostics } from "../../compiler/render.js";
import { parseRequest, RequestError } from "../../compiler/request.js";
import type { GuardModule } from "../../runtime/guard/types.js";
import { EXIT_ERRORS, EXIT_OK, UsageError, type CommandIO, parseCommandLine } from "./io.js";

interface EvalArgs {
  readonly policy: string;
  readonly request: string;
  readonly manifests: string[];
  readonly interpret: boolean;
}

function parse(argv: readonly string[]): EvalArgs {
  const parsed = parseCommandLine({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      request: { type: "string" },
      manifest: { type: "string", multiple: true },
      interpret: { type: "boolean", default: false },
    },
  });
  const [policy, ...extra] = parsed.positionals;
  if (policy === undefined) throw new UsageError("no policy file given");
  if (extra.length > 0) throw new UsageError(`one policy at a time; unexpected \`${extra[0]}\``);
  if (parsed.values.request === undefined) throw new UsageError("`--request R.json` is required");
  return { policy, request: parsed.values.request, manifests: parsed.values.manifest ?? [], interpret: parsed.values.interpret };
}

/** The compiled guard of the policy. */
async function compiledGuard(policy: CheckedPolicy): Promise<GuardModule> {
  // Loaded only here: `--interpret` should not pay for the code generator.
  const { importGuard } = await import("../../compiler/import-guard.js");
  return importGuard(policy);
}

export async function run(io: CommandIO): Promise<number> {
  const args = parse(io.argv);
  const inCwd = (p: string): string => (isAbsolute(p) ? p : resolve(io.cwd, p));

  const outcome = await checkPolicyFile(inCwd(args.policy), { manifests: args.manifests.map(inCwd), displayName: args.policy });
  if (outcome.diagnostics.length > 0) io.err(renderDiagnostics(outcome.diagnostics, { [args.policy]: outcome.source }, "text"));
  if (outcome.policy === undefined) return EXIT_ERRORS;

  let text: string;
  try {
    text = await readFile(inCwd(args.request), "utf8");
  } catch (error) {
    const detail = error instanceof Error && "code" in error ? String(error.code) : "unreadable";
    io.err(`error PQG9006: cannot read the request file \`${args.request}\` (${detail})\n`);
    return EXIT_ERRORS;
  }
  let input;
  try {
    input = parseRequest(text, Date.now());
  } catch (error) {
    if (!(error instanceof RequestError)) throw error;
    io.err(`${args.request}: error ${error.code}: ${error.message}\n`);
    return EXIT_ERRORS;
  }

  const guard = args.interpret ? interpret(outcome.policy) : await compiledGuard(outcome.policy);
  const { decision, determining, reason, explain } = guard.guard(input.request, input.context);
  io.out(`${JSON.stringify({ decision, determining, reason, explain }, null, 2)}\n`);
  return EXIT_OK;
}
