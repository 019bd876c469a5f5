// `pqguard manifest sign --key NAME.key (TOOLS.json | --from-server "CMD ARGS") --out M.json [--ttl 90d]` and
// `pqguard manifest verify M.json [--signer FINGERPRINT]`. Exit 0 success, 1 invalid input or manifest, 2 usage.
import { writeFile } from "node:fs/promises";
import { isAbsolute, resolve } from "node:path";
import { loadSecretKey } from "../../runtime/identity/index.js";
import { ManifestError } from "../../runtime/manifest/errors.js";
import { readJsonFile, toolsFromServer } from "../../runtime/manifest/files.js";
import { signManifest, verifySignedManifest } from "../../runtime/manifest/signed.js";
import { EXIT_ERRORS, EXIT_OK, UsageError, type CommandIO, parseCommandLine } from "./io.js";

const DURATION = /^(\d+)(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export async function run(io: CommandIO): Promise<number> {
  const [sub, ...rest] = io.argv;
  const inCwd = (p: string): string => (isAbsolute(p) ? p : resolve(io.cwd, p));
  try {
    if (sub === "sign") return await sign(io, rest, inCwd);
    if (sub === "verify") return await verify(io, rest, inCwd);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    if (error instanceof ManifestError || isCodedError(error)) {
      io.err(`error ${error.code}: ${error.message}\n`);
      return EXIT_ERRORS;
    }
    throw error;
  }
  throw new UsageError(sub === undefined ? "no manifest subcommand given" : `unknown manifest subcommand \`${sub}\``);
}

type OptionSpec = Record<string, { type: "string" | "boolean" }>;

function options(argv: readonly string[], spec: OptionSpec): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  return parseCommandLine({ args: [...argv], allowPositionals: true, strict: true, options: spec });
}

async function sign(io: CommandIO, argv: readonly string[], inCwd: (p: string) => string): Promise<number> {
  const parsed = options(argv, {
    key: { type: "string" },
    "from-server": { type: "string" },
    out: { type: "string" },
    ttl: { type: "string" },
  });
  const { key, out, ttl } = parsed.values as { key?: string; out?: string; ttl?: string; "from-server"?: string };
  const fromServer = (parsed.values as { "from-server"?: string })["from-server"];
  if (key === undefined) throw new UsageError("`--key NAME.key` is required");
  if (out === undefined) throw new UsageError("`--out M.json` is required");
  if ((fromServer === undefined) === (parsed.positionals.length !== 1)) {
    throw new UsageError("give either one TOOLS.json or `--from-server \"CMD ARGS\"`");
  }
  if (parsed.positionals.length > 1) throw new UsageError("give exactly one TOOLS.json");
  let ttlMs: number | undefined;
  if (ttl !== undefined) {
    const m = DURATION.exec(ttl);
    if (m === null || Number(m[1]) === 0) throw new UsageError(`\`--ttl ${ttl}\` must be a positive duration such as \`90d\``);
    ttlMs = Number(m[1]) * UNIT_MS[m[2]!]!;
  }
  const identity = await loadSecretKey(inCwd(key));
  const tools = fromServer !== undefined ? await toolsFromServer(fromServer, { cwd: io.cwd }) : await readJsonFile(inCwd(parsed.positionals[0]!));
  const manifest = signManifest(tools, identity, ttlMs === undefined ? {} : { ttlMs });
  await writeFile(inCwd(out), JSON.stringify(manifest, null, 2) + "\n");
  io.out(`signed ${manifest.tools.length} tools as ${manifest.issuer}, valid until ${manifest.expiresAt}: ${out}\n`);
  return EXIT_OK;
}

async function verify(io: CommandIO, argv: readonly string[], inCwd: (p: string) => string): Promise<number> {
  const parsed = options(argv, { signer: { type: "string" } });
  if (parsed.positionals.length !== 1) throw new UsageError("give exactly one manifest file");
  const file = parsed.positionals[0]!;
  const signer = (parsed.values as { signer?: string }).signer;
  const verified = verifySignedManifest(await readJsonFile(inCwd(file)), signer === undefined ? {} : { signer });
  io.out(
    `${file}: valid, ${verified.tools.length} tools signed by ${verified.issuer} (${verified.algorithm}), ` +
      `expires ${new Date(verified.expiresAt).toISOString()}, digest ${verified.digest}\n`,
  );
  return EXIT_OK;
}

/** Key-file errors from runtime/identity carry their own PQG code. */
function isCodedError(error: unknown): error is Error & { code: string } {
  const code = error instanceof Error ? (error as unknown as { code?: unknown }).code : undefined;
  return typeof code === "string" && /^PQG\d{4}$/.test(code);
}
