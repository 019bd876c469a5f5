// `pqguard audit verify LOG [--head HASH] [--json]`: checks an audit log's hash chain and names the first bad line
// (exit 0 when the chain holds, 1 when it is broken or unreadable). `pqguard audit keygen --out FILE [--force]`
// writes an audit key (mode 0600) for keyed argument digests; `pqguard audit digest [--key FILE] ARGS_JSON` prints
// the digest a line records for those arguments, to look a known call up. Exit 2 for a wrong command line.
import { isAbsolute, resolve } from "node:path";
import { argumentsDigest, AuditError, loadAuditKey, verifyAuditLog, writeAuditKey } from "../../runtime/audit/index.js";
import { EXIT_ERRORS, EXIT_OK, UsageError, type CommandIO, parseCommandLine } from "./io.js";

const inCwd = (io: CommandIO, file: string): string => (isAbsolute(file) ? file : resolve(io.cwd, file));

export async function run(io: CommandIO): Promise<number> {
  const [sub, ...rest] = io.argv;
  try {
    if (sub === "verify") return await verify(io, rest);
    if (sub === "keygen") return await keygen(io, rest);
    if (sub === "digest") return await digest(io, rest);
  } catch (error) {
    if (!(error instanceof AuditError)) throw error;
    io.err(`error ${error.code}: ${error.message}\n`);
    return EXIT_ERRORS;
  }
  throw new UsageError(sub === undefined ? "no audit subcommand given (verify, keygen, digest)" : `unknown audit subcommand \`${sub}\` (verify, keygen, digest)`);
}

async function verify(io: CommandIO, args: string[]): Promise<number> {
  const parsed = parseCommandLine({ args, allowPositionals: true, strict: true, options: { head: { type: "string" }, json: { type: "boolean" } } });
  if (parsed.positionals.length !== 1) throw new UsageError("give exactly one audit log");
  const file = parsed.positionals[0]!;
  const head = parsed.values.head;
  if (head !== undefined && !/^[0-9a-f]{64}$/.test(head)) throw new UsageError("`--head` must be 64 lowercase hex digits");
  const result = await verifyAuditLog(inCwd(io, file), head === undefined ? {} : { head });
  if (parsed.values.json === true) io.out(JSON.stringify({ file, ...result }) + "\n");
  else if (result.ok) io.out(`${file}: ${result.lines} lines, chain intact, head ${result.head}\n`);
  else io.err(`error PQG7103: ${file}: ${result.message}\n`);
  return result.ok ? EXIT_OK : EXIT_ERRORS;
}

async function keygen(io: CommandIO, args: string[]): Promise<number> {
  const parsed = parseCommandLine({ args, allowPositionals: false, strict: true, options: { out: { type: "string" }, force: { type: "boolean" } } });
  const out = parsed.values.out;
  if (out === undefined) throw new UsageError("`--out FILE` is required");
  await writeAuditKey(inCwd(io, out), { force: parsed.values.force === true });
  io.err(`wrote ${out} (secret, mode 0600): pass it to \`pqguard proxy --audit-key\`\n`);
  return EXIT_OK;
}

async function digest(io: CommandIO, args: string[]): Promise<number> {
  const parsed = parseCommandLine({ args, allowPositionals: true, strict: true, options: { key: { type: "string" } } });
  if (parsed.positionals.length !== 1) throw new UsageError("give the arguments as one JSON object");
  let value: unknown;
  try {
    value = JSON.parse(parsed.positionals[0]!);
  } catch {
    throw new UsageError("the arguments are not valid JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new UsageError("the arguments must be a JSON object");
  const key = parsed.values.key === undefined ? undefined : await loadAuditKey(inCwd(io, parsed.values.key));
  io.out(`${argumentsDigest(value, key)}\n`);
  return EXIT_OK;
}
