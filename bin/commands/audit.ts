// `pqguard audit verify LOG [--head HASH] [--json]`: checks an audit log's hash chain and names the first bad line.
// Exit 0 when the chain holds, 1 when it is broken (or unreadable), 2 for a wrong command line.
import { isAbsolute, resolve } from "node:path";
import { verifyAuditLog } from "../../runtime/audit/verify.js";
import { EXIT_ERRORS, EXIT_OK, UsageError, type CommandIO, parseCommandLine } from "./io.js";

export async function run(io: CommandIO): Promise<number> {
  const [sub, ...rest] = io.argv;
  if (sub !== "verify") throw new UsageError(sub === undefined ? "no audit subcommand given" : `unknown audit subcommand \`${sub}\``);
  const parsed = parseCommandLine({ args: rest, allowPositionals: true, strict: true, options: { head: { type: "string" }, json: { type: "boolean" } } });
  if (parsed.positionals.length !== 1) throw new UsageError("give exactly one audit log");
  const file = parsed.positionals[0]!;
  const head = parsed.values.head;
  if (head !== undefined && !/^[0-9a-f]{64}$/.test(head)) throw new UsageError("`--head` must be 64 lowercase hex digits");
  const result = await verifyAuditLog(isAbsolute(file) ? file : resolve(io.cwd, file), head === undefined ? {} : { head });
  if (parsed.values.json === true) io.out(JSON.stringify({ file, ...result }) + "\n");
  else if (result.ok) io.out(`${file}: ${result.lines} lines, chain intact, head ${result.head}\n`);
  else io.err(`error PQG7103: ${file}: ${result.message}\n`);
  return result.ok ? EXIT_OK : EXIT_ERRORS;
}
