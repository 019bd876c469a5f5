// `pqguard manifest sign --key NAME.key (TOOLS.json | --from-server "CMD ARGS" | --from-url URL [--header H]...) --out M.json
// [--ttl 90d]`, `pqguard manifest verify M.json [--signer FINGERPRINT]` (exit 0 success, 1 invalid input or manifest,
// 2 usage) and `pqguard manifest diff M.json (TOOLS.json | --from-server … | --from-url …) [--signer FP]
// [--format text|json]` (exit as diff(1): 0 no difference, 1 differences, 2 trouble).
import { readFile, writeFile } from "node:fs/promises";
import { isAbsolute, resolve } from "node:path";
import { loadSecretKey } from "../../runtime/identity/index.js";
import { changePath, diffToolLists, type FieldChange, type ToolDifference, type ToolListDiff } from "../../runtime/manifest/diff.js";
import { ManifestError } from "../../runtime/manifest/errors.js";
import { readJsonFile, reviewCapabilityNames, toolsFromServer, toolsFromUrl } from "../../runtime/manifest/files.js";
import { signManifest, toolListOf, verifySignedManifest, type VerifiedManifest } from "../../runtime/manifest/signed.js";
import { displayUrl, upstreamUrlOf } from "../../runtime/proxy/upstream-link.js";
import { checkPins } from "../../runtime/transport/tls.js";
import { EXIT_ERRORS, EXIT_OK, EXIT_USAGE, UsageError, type CommandIO, parseCommandLine } from "./io.js";

const DURATION = /^(\d+)(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `manifest diff` exits as diff(1) does (io.ts): the same, different, or trouble (the comparison could not be made). */
const EXIT_SAME = EXIT_OK;
const EXIT_DIFFERENT = EXIT_ERRORS;
const EXIT_TROUBLE = EXIT_USAGE;

export async function run(io: CommandIO): Promise<number> {
  const [sub, ...rest] = io.argv;
  const inCwd = (p: string): string => (isAbsolute(p) ? p : resolve(io.cwd, p));
  try {
    if (sub === "sign") return await sign(io, rest, inCwd);
    if (sub === "verify") return await verify(io, rest, inCwd);
    if (sub === "diff") return await diff(io, rest, inCwd);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    if (error instanceof ManifestError || isCodedError(error)) {
      io.err(`error ${error.code}: ${error.message}\n`);
      return sub === "diff" ? EXIT_TROUBLE : EXIT_ERRORS;
    }
    throw error;
  }
  throw new UsageError(sub === undefined ? "no manifest subcommand given" : `unknown manifest subcommand \`${sub}\``);
}

type OptionSpec = Record<string, { type: "string" | "boolean"; multiple?: boolean }>;

function options(argv: readonly string[], spec: OptionSpec): { values: Record<string, unknown>; positionals: string[] } {
  return parseCommandLine({ args: [...argv], allowPositionals: true, strict: true, options: spec });
}

/** The options naming where a tool list comes from, shared by `sign` and `diff`. */
const SOURCE_OPTIONS: OptionSpec = {
  "from-server": { type: "string" },
  "from-url": { type: "string" },
  header: { type: "string", multiple: true },
  "tls-ca": { type: "string" },
  "tls-pin": { type: "string", multiple: true },
};

/** Where the tool list to sign or compare comes from. */
type ToolSource =
  | { readonly kind: "file"; readonly path: string }
  | { readonly kind: "server"; readonly commandLine: string }
  | { readonly kind: "url"; readonly url: URL; readonly headers: Readonly<Record<string, string>>; readonly tlsCa: string | undefined; readonly tlsPins: readonly string[] };

/** The one source among a TOOLS.json (`file`, when given), `--from-server` and `--from-url`; a usage error otherwise. */
function toolSourceOf(values: Record<string, unknown>, file: string | undefined): ToolSource {
  const server = values["from-server"] as string | undefined;
  const url = values["from-url"] as string | undefined;
  const headers = (values.header as string[] | undefined) ?? [];
  const given = [file, server, url].filter((value) => value !== undefined).length;
  if (given !== 1) throw new UsageError("give one tool list: a TOOLS.json, `--from-server \"CMD ARGS\"` or `--from-url URL`");
  if (headers.length > 0 && url === undefined) throw new UsageError("`--header` goes with `--from-url` only");
  const tlsCa = values["tls-ca"] as string | undefined;
  const tlsPins = (values["tls-pin"] as string[] | undefined) ?? [];
  if ((tlsCa !== undefined || tlsPins.length > 0) && !url?.startsWith("https:")) throw new UsageError("`--tls-ca` and `--tls-pin` verify an `https://` server: give it with `--from-url`");
  try {
    checkPins(tlsPins);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (file !== undefined) return { kind: "file", path: file };
  if (server !== undefined) return { kind: "server", commandLine: server };
  let endpoint: URL;
  try {
    endpoint = upstreamUrlOf(url!);
  } catch (error) {
    throw new UsageError(`\`--from-url\`: ${error instanceof Error ? error.message : String(error)}`);
  }
  return { kind: "url", url: endpoint, headers: headersOf(headers), tlsCa, tlsPins };
}

/** RFC 9110 field name (a token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** What a field value may not hold: a line break or NUL would end or split the header. */
const HEADER_VALUE_FORBIDDEN = /[\r\n\0]/;

/** `--header "Name: value"` options as a record. Messages name the option by position, never show a value: it may be a secret. */
function headersOf(options: readonly string[]): Record<string, string> {
  const seen = new Set<string>();
  return Object.fromEntries(
    options.map((option, index) => {
      const colon = option.indexOf(":");
      const name = colon < 0 ? "" : option.slice(0, colon).trim();
      const value = colon < 0 ? "" : option.slice(colon + 1).trim();
      if (!HEADER_NAME.test(name) || HEADER_VALUE_FORBIDDEN.test(value)) {
        throw new UsageError(`\`--header\` number ${index + 1} must be \`Name: value\`, a name without spaces and a value on one line`);
      }
      if (seen.has(name.toLowerCase())) throw new UsageError(`\`--header\` \`${name}\` is given twice`);
      seen.add(name.toLowerCase());
      return [name, value];
    }),
  );
}

/** A tool list read from its source, and what a reader should know about how it was read. */
interface ReadTools {
  readonly tools: Record<string, unknown>[];
  /** The file, the command line or the URL (without its query, which may carry a token). */
  readonly source: string;
  /** The client capabilities declared to a live server; undefined for a file. */
  readonly capabilities: readonly string[] | undefined;
}

async function readTools(source: ToolSource, io: CommandIO, inCwd: (p: string) => string): Promise<ReadTools> {
  switch (source.kind) {
    case "file":
      return { tools: toolListOf(await readJsonFile(inCwd(source.path))), source: source.path, capabilities: undefined };
    case "server":
      return { tools: await toolsFromServer(source.commandLine, { cwd: io.cwd }), source: `\`${source.commandLine}\``, capabilities: reviewCapabilityNames() };
    case "url":
      return {
        tools: await toolsFromUrl(source.url, { headers: source.headers, tls: { ca: source.tlsCa === undefined ? undefined : await readFile(inCwd(source.tlsCa)), pins: source.tlsPins } }),
        source: displayUrl(source.url),
        capabilities: reviewCapabilityNames(),
      };
  }
}

/** Says how a live list was read: with the proxy's client capabilities, on which a server may make its tools depend. */
function readFrom(read: ReadTools): string {
  return read.capabilities === undefined
    ? `read from ${read.source}`
    : `read from ${read.source} declaring the proxy's client capabilities (${read.capabilities.join(", ")})`;
}

async function sign(io: CommandIO, argv: readonly string[], inCwd: (p: string) => string): Promise<number> {
  const parsed = options(argv, { key: { type: "string" }, out: { type: "string" }, ttl: { type: "string" }, "bind-server": { type: "string", multiple: true }, ...SOURCE_OPTIONS });
  const { key, out, ttl } = parsed.values as { key?: string; out?: string; ttl?: string };
  const bindServer = (parsed.values as { "bind-server"?: string[] })["bind-server"];
  if (key === undefined) throw new UsageError("`--key NAME.key` is required");
  if (out === undefined) throw new UsageError("`--out M.json` is required");
  if (parsed.positionals.length > 1) throw new UsageError("give exactly one TOOLS.json");
  const source = toolSourceOf(parsed.values, parsed.positionals[0]);
  let ttlMs: number | undefined;
  if (ttl !== undefined) {
    const m = DURATION.exec(ttl);
    if (m === null || Number(m[1]) === 0) throw new UsageError(`\`--ttl ${ttl}\` must be a positive duration such as \`90d\``);
    ttlMs = Number(m[1]) * UNIT_MS[m[2]!]!;
  }
  const identity = await loadSecretKey(inCwd(key));
  const read = await readTools(source, io, inCwd);
  const manifest = signManifest(read.tools, identity, { ...(ttlMs === undefined ? {} : { ttlMs }), ...(bindServer === undefined ? {} : { bindServer }) });
  await writeFile(inCwd(out), JSON.stringify(manifest, null, 2) + "\n");
  if (read.capabilities !== undefined) io.out(`${readFrom(read)}\n`);
  const bound = manifest.server === undefined ? "" : `, bound to server ${manifest.server.identities.join(", ")}`;
  io.out(`signed ${manifest.tools.length} tools as ${manifest.issuer}${bound}, valid until ${manifest.expiresAt}: ${out}\n`);
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
      `expires ${new Date(verified.expiresAt).toISOString()}, ${verified.server === undefined ? "not bound to a server" : `bound to server ${verified.server.identities.join(", ")}`}, digest ${verified.digest}\n`,
  );
  return EXIT_OK;
}

async function diff(io: CommandIO, argv: readonly string[], inCwd: (p: string) => string): Promise<number> {
  const parsed = options(argv, { signer: { type: "string" }, format: { type: "string" }, ...SOURCE_OPTIONS });
  const { signer, format = "text" } = parsed.values as { signer?: string; format?: string };
  if (format !== "text" && format !== "json") throw new UsageError(`\`--format ${format}\` must be \`text\` or \`json\``);
  const [file, tools, ...extra] = parsed.positionals;
  if (file === undefined || extra.length > 0) throw new UsageError("give one manifest file and one tool list");
  const source = toolSourceOf(parsed.values, tools);
  const verified = verifySignedManifest(await readJsonFile(inCwd(file)), signer === undefined ? {} : { signer });
  const read = await readTools(source, io, inCwd);
  const result = diffToolLists(verified.tools, read.tools);
  if (format === "text") io.out(diffText(read, result));
  // What JSON_TERMINAL_UNSAFE escapes occurs only inside strings, so the JSON stays valid and parses to the same values.
  else io.out(`${terminalSafe(JSON.stringify(diffDocument(file, verified, read, result), null, 2), JSON_TERMINAL_UNSAFE)}\n`);
  return result.differences.length === 0 ? EXIT_SAME : EXIT_DIFFERENT;
}

/** `--format json`: every value in full. */
function diffDocument(file: string, verified: VerifiedManifest, read: ReadTools, result: ToolListDiff): unknown {
  return {
    manifest: { file, issuer: verified.issuer, digest: verified.digest },
    live: { source: read.source, ...(read.capabilities === undefined ? {} : { declaredCapabilities: read.capabilities }) },
    same: result.differences.length === 0,
    differences: result.differences,
    unchanged: result.unchanged,
  };
}

/** Longest value text output shows whole; a longer one is cut, with an ellipsis, around where the two sides part. */
const MAX_SHOWN_CHARS = 120;
/** Characters kept before the first difference of two long values, so that the change is read in its context. */
const SHOWN_CONTEXT_CHARS = 30;

/** `--format text`: one line per difference, then a summary line. */
function diffText(read: ReadTools, result: ToolListDiff): string {
  const lines = result.differences.flatMap(differenceLines);
  const count = (status: ToolDifference["status"]): number => result.differences.filter((d) => d.status === status).length;
  const tally =
    result.differences.length === 0
      ? `no differences: ${result.unchanged.length} tools the same`
      : `${count("changed")} changed, ${count("added")} added, ${count("removed")} removed, ${result.unchanged.length} the same`;
  return [...lines, `${tally}; ${readFrom(read)}`].map((line) => `${line}\n`).join("");
}

function differenceLines(difference: ToolDifference): string[] {
  const name = shownName(difference.name);
  if (difference.status === "added") return [`${name}: added (listed, not in the manifest)${difference.repeated === true ? ", listed again" : ""}`];
  if (difference.status === "removed") return [`${name}: removed (in the manifest, no longer listed)`];
  const prefix = difference.repeated === true ? `${name} (listed again)` : name;
  if (difference.changes.length === 0) return [`${prefix}: same definition; a client may use either copy`];
  return difference.changes.map((change) => `${prefix}: ${changeText(change)}`);
}

/** `description changed: "…" → "…"`, `inputSchema /properties/amount/maximum: 1000 → 100000`, `title added: "…"`. */
function changeText(change: FieldChange): string {
  const where = terminalSafe(clipped(changePath(change), MAX_SHOWN_CHARS));
  if (change.kind === "added") return `${where} added: ${shownValues([change.after])[0]}`;
  if (change.kind === "removed") return `${where} removed: ${shownValues([change.before])[0]}`;
  const [before, after] = shownValues([change.before, change.after]);
  return `${where}${change.pointer === "" ? " changed" : ""}: ${before} → ${after}`;
}

/**
 * Values as JSON, each cut to MAX_SHOWN_CHARS from the same place: from the start when they part early enough to be
 * seen, else SHOWN_CONTEXT_CHARS before the first character where they differ. Two long descriptions that differ at
 * the end would otherwise be shown as the same beginning. A string is cut inside its quotes.
 */
function shownValues(values: readonly unknown[]): string[] {
  const texts = values.map((value) => Array.from(typeof value === "string" ? JSON.stringify(value).slice(1, -1) : JSON.stringify(value)));
  let common = 0;
  while (texts.length > 1 && texts.every((text) => common < text.length && text[common] === texts[0]![common])) common++;
  const start = common < MAX_SHOWN_CHARS - SHOWN_CONTEXT_CHARS ? 0 : common - SHOWN_CONTEXT_CHARS;
  return texts.map((text, i) => {
    const end = start + MAX_SHOWN_CHARS;
    const cut = `${start > 0 ? "…" : ""}${text.slice(start, end).join("")}${end < text.length ? "…" : ""}`;
    return terminalSafe(typeof values[i] === "string" ? `"${cut}"` : cut);
  });
}

/** A tool name as it is when it looks like one (MCP's own character set), else quoted and escaped. */
function shownName(name: string): string {
  return /^[A-Za-z0-9_.\-/]{1,128}$/.test(name) ? name : terminalSafe(clipped(JSON.stringify(name), MAX_SHOWN_CHARS));
}

function clipped(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join("")}…`;
}

/**
 * Texts from a server may hold what a terminal acts on or reorders: C0 and C1 controls, bidirectional overrides,
 * invisible marks, line and paragraph separators. They are shown as `\uXXXX`.
 */
const TERMINAL_UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;
/** The same less C0, which JSON text escapes itself inside strings and uses (line breaks) between them. */
const JSON_TERMINAL_UNSAFE = /[\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

function terminalSafe(text: string, unsafe: RegExp = TERMINAL_UNSAFE): string {
  return text.replace(unsafe, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** Key-file errors from runtime/identity carry their own PQG code. */
function isCodedError(error: unknown): error is Error & { code: string } {
  const code = error instanceof Error ? (error as unknown as { code?: unknown }).code : undefined;
  return typeof code === "string" && /^PQG\d{4}$/.test(code);
}
