// `pqguard audit verify LOG [--head HASH] [--anchor FILE] [--anchor-at SEQ:HASH]... [--key FILE] [--previous-head HASH]
// [--json]`: checks an audit log's hash chain, its anchors and checkpoints, and names the first bad line (exit 0 when
// the chain holds, 1 when it is broken or unreadable). `pqguard audit anchor LOG --anchor FILE [--key FILE]` anchors a
// verified log's head, so that an existing log can start being anchored. `pqguard audit keygen --out FILE [--force]`
// writes an audit key (mode 0600) for keyed argument digests; `pqguard audit digest [--key FILE] ARGS_JSON` prints
// the digest a line records for those arguments, to look a known call up. Exit 2 for a wrong command line.
import { isAbsolute, resolve } from "node:path";
import { stat } from "node:fs/promises";
import {
  anchorOf,
  argumentsDigest,
  AuditError,
  loadAuditKey,
  readAnchor,
  verifyAuditLog,
  writeAnchor,
  writeAuditKey,
} from "../../runtime/audit/index.js";
import { EXIT_ERRORS, EXIT_OK, UsageError, type CommandIO, parseCommandLine } from "./io.js";

const inCwd = (io: CommandIO, file: string): string => (isAbsolute(file) ? file : resolve(io.cwd, file));

export async function run(io: CommandIO): Promise<number> {
  const [sub, ...rest] = io.argv;
  try {
    if (sub === "verify") return await verify(io, rest);
    if (sub === "keygen") return await keygen(io, rest);
    if (sub === "digest") return await digest(io, rest);
    if (sub === "anchor") return await anchor(io, rest);
  } catch (error) {
    if (!(error instanceof AuditError)) throw error;
    io.err(`error ${error.code}: ${error.message}\n`);
    return EXIT_ERRORS;
  }
  throw new UsageError(sub === undefined ? "no audit subcommand given (verify, anchor, keygen, digest)" : `unknown audit subcommand \`${sub}\` (verify, anchor, keygen, digest)`);
}

const HASH = /^[0-9a-f]{64}$/;

async function verify(io: CommandIO, args: string[]): Promise<number> {
  const parsed = parseCommandLine({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      head: { type: "string" },
      anchor: { type: "string" },
      "anchor-at": { type: "string", multiple: true },
      key: { type: "string" },
      "previous-head": { type: "string" },
      json: { type: "boolean" },
    },
  });
  if (parsed.positionals.length !== 1) throw new UsageError("give exactly one audit log");
  const file = parsed.positionals[0]!;
  const { head, "previous-head": previousHead } = parsed.values;
  if (head !== undefined && !HASH.test(head)) throw new UsageError("`--head` must be 64 lowercase hex digits");
  if (previousHead !== undefined && !HASH.test(previousHead)) throw new UsageError("`--previous-head` must be 64 lowercase hex digits");
  const anchors = (parsed.values["anchor-at"] ?? []).map((text) => {
    const match = /^(\d+):([0-9a-f]{64})$/.exec(text);
    if (match === null) throw new UsageError(`\`--anchor-at ${text}\` is not SEQ:HASH (a line number from 0 and 64 lowercase hex digits)`);
    return { seq: Number(match[1]), hash: match[2]! };
  });
  const key = parsed.values.key === undefined ? undefined : await loadAuditKey(inCwd(io, parsed.values.key));
  const anchorFile = parsed.values.anchor;
  const anchor = anchorFile === undefined ? undefined : await readAnchor(inCwd(io, anchorFile), key);
  if (anchorFile !== undefined && anchor === undefined) throw new AuditError("PQG7106", `audit anchor \`${anchorFile}\` does not exist`);
  const result = await verifyAuditLog(inCwd(io, file), {
    ...(head === undefined ? {} : { head }),
    ...(anchor === undefined ? {} : { anchor }),
    ...(key === undefined ? {} : { key }),
    ...(previousHead === undefined ? {} : { previousHead }),
    anchors,
  });
  if (parsed.values.json === true) io.out(JSON.stringify({ file, ...result }) + "\n");
  else if (result.ok) {
    const c = result.checkpoints;
    const runs = c.open + c.recovered + c.rotated === 0 ? "" : `, ${c.open + c.recovered + c.rotated} runs (${c.recovered} after a crash)${result.closed ? ", closed" : ", still open or crashed"}`;
    const follows = result.follows === undefined ? "" : `, continues seq ${result.follows.seq} of the previous file`;
    io.out(`${file}: ${result.lines} lines, chain intact${runs}${follows}, head ${result.head}\n`);
  } else io.err(`error PQG7103: ${file}: ${result.message}\n`);
  return result.ok ? EXIT_OK : EXIT_ERRORS;
}

async function anchor(io: CommandIO, args: string[]): Promise<number> {
  const parsed = parseCommandLine({ args, allowPositionals: true, strict: true, options: { anchor: { type: "string" }, key: { type: "string" } } });
  if (parsed.positionals.length !== 1) throw new UsageError("give exactly one audit log");
  if (parsed.values.anchor === undefined) throw new UsageError("`--anchor FILE` is required");
  const file = inCwd(io, parsed.positionals[0]!);
  const key = parsed.values.key === undefined ? undefined : await loadAuditKey(inCwd(io, parsed.values.key));
  const result = await verifyAuditLog(file, key === undefined ? {} : { key });
  if (!result.ok) {
    io.err(`error PQG7103: ${parsed.positionals[0]!}: ${result.message}; not anchored\n`);
    return EXIT_ERRORS;
  }
  const size = (await stat(file)).size;
  await writeAnchor(inCwd(io, parsed.values.anchor), anchorOf("closed", result.lines === 0 ? -1 : seqOfHead(result), result.head, size, Date.now(), key));
  io.err(`anchored ${parsed.positionals[0]!} at its head ${result.head}\n`);
  return EXIT_OK;
}

/** The seq of a verified log's last line: its lines count from the seq its first line continues. */
function seqOfHead(result: { lines: number; follows?: { seq: number } }): number {
  return (result.follows === undefined ? 0 : result.follows.seq + 1) + result.lines - 1;
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
