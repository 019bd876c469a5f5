// Reading manifests and tool lists from files and from live servers (stdio or Streamable HTTP), with size limits, for
// the CLI and the proxy. A live server is asked as the proxy asks it, so that a review reads what the proxy will see.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { readBoundedFile } from "../identity/files.js";
// The one place the proxy's client capabilities and URL rules are defined; a review must not drift from them.
import { FORWARDED_CLIENT_CAPABILITIES } from "../proxy/core.js";
import { describeError, displayUrl, KILL_GRACE_MS, upstreamUrlOf } from "../proxy/upstream-link.js";
import { digestedToolView } from "./digest.js";
import { ManifestError, ManifestErrorCode } from "./errors.js";
import { readToolList } from "./listing.js";
import { MAX_MANIFEST_BYTES, verifySignedManifest, type VerifiedManifest, type VerifyOptions } from "./signed.js";
import { tlsClientFetch, type TlsClientOptions } from "../transport/tls.js";

/** How long a server asked with `--from-server` has to start and list its tools. */
export const FROM_SERVER_TIMEOUT_MS = 30_000;

/** Reads a JSON file of at most MAX_MANIFEST_BYTES (size checked on the open file that is read). */
export async function readJsonFile(path: string): Promise<unknown> {
  const read = await readBoundedFile(path, MAX_MANIFEST_BYTES);
  if (!read.ok && read.reason === "too-large") {
    throw new ManifestError(ManifestErrorCode.TooLarge, `\`${path}\` is ${read.size} bytes, more than the limit of ${MAX_MANIFEST_BYTES}`);
  }
  if (!read.ok) throw new ManifestError(ManifestErrorCode.Unreadable, `cannot read \`${path}\`: ${read.code}`);
  const text = read.text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ManifestError(ManifestErrorCode.Malformed, `\`${path}\` is not valid JSON`);
  }
}

export async function loadSignedManifest(path: string, options: VerifyOptions = {}): Promise<VerifiedManifest> {
  return verifySignedManifest(await readJsonFile(path), options);
}

/** Splits `CMD ARGS` like a shell would for plain words and single or double quotes (no expansion). */
export function splitCommandLine(line: string): string[] {
  const words: string[] = [];
  let word = "";
  let quote: string | undefined;
  let started = false;
  for (const ch of line) {
    if (quote !== undefined) {
      if (ch === quote) quote = undefined;
      else word += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      started = true;
    } else if (/\s/.test(ch)) {
      if (started) words.push(word);
      word = "";
      started = false;
    } else {
      word += ch;
      started = true;
    }
  }
  if (quote !== undefined) throw new ManifestError(ManifestErrorCode.Malformed, `command line \`${line}\` has an unterminated quote`);
  if (started) words.push(word);
  return words;
}

/** Starts a stdio MCP server as the proxy would, reads its tool list once it has settled, and stops it. */
export async function toolsFromServer(commandLine: string, options: { cwd?: string; timeoutMs?: number } = {}): Promise<Record<string, unknown>[]> {
  const [command, ...args] = splitCommandLine(commandLine);
  if (command === undefined) throw new ManifestError(ManifestErrorCode.Malformed, "the server command line is empty");
  // The server's stderr is not ours to print, and an unread pipe would stall a talkative server.
  const transport = new StdioClientTransport({ command, args, stderr: "ignore", ...(options.cwd === undefined ? {} : { cwd: options.cwd }) });
  return toolsOver(transport, `\`${commandLine}\``, options.timeoutMs ?? FROM_SERVER_TIMEOUT_MS, async () => undefined);
}

/**
 * Connects to a Streamable HTTP MCP server as the proxy would, reads its tool list once it has settled, and ends the
 * session. `headers` (an `Authorization` header, say) go with every request and appear in no message.
 */
export async function toolsFromUrl(
  url: string | URL,
  options: { headers?: Readonly<Record<string, string>>; timeoutMs?: number; tls?: TlsClientOptions } = {},
): Promise<Record<string, unknown>[]> {
  let endpoint: URL;
  try {
    endpoint = upstreamUrlOf(url);
  } catch (error) {
    throw new ManifestError(ManifestErrorCode.Malformed, error instanceof Error ? error.message : String(error));
  }
  // An https server is verified (system store, or `tls`), in TLS 1.3 only: the list read here is what a review signs.
  const transport = new StreamableHTTPClientTransport(endpoint, { fetch: tlsClientFetch(options.tls), ...(options.headers === undefined ? {} : { requestInit: { headers: { ...options.headers } } }) });
  const endSession = async (): Promise<void> => {
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, KILL_GRACE_MS)));
    await Promise.race([transport.terminateSession().catch(() => undefined), grace]);
    clearTimeout(timer);
  };
  return toolsOver(transport, displayUrl(endpoint), options.timeoutMs ?? FROM_SERVER_TIMEOUT_MS, endSession);
}

/**
 * What a review declares to the server as its client, as `elicitation.form`-style names: exactly what the proxy
 * declares (FORWARDED_CLIENT_CAPABILITIES), because a server may offer tools by its client's capabilities, and a
 * review must read the list the proxy will be shown.
 */
export function reviewCapabilityNames(): string[] {
  return Object.entries(FORWARDED_CLIENT_CAPABILITIES).flatMap(([name, value]) => {
    const parts = typeof value === "object" && value !== null ? Object.keys(value) : [];
    return parts.length === 0 ? [name] : parts.map((part) => `${name}.${part}`);
  });
}

/** Reads of the tool list a review makes for it to settle; a list still changing after them is refused. */
export const MAX_SETTLE_READS = 10;
/**
 * Pause between two reads. Servers register capability-dependent tools when the client says `initialized` and
 * announce each with `tools/list_changed`; two reads this far apart that agree, with no announcement during the
 * second, mean the start-up changes are over.
 */
export const SETTLE_INTERVAL_MS = 100;

/** Connects with the proxy's client capabilities, reads the settled tool list, and closes (after `end`, which never throws). */
async function toolsOver(transport: Transport, source: string, timeout: number, end: () => Promise<void>): Promise<Record<string, unknown>[]> {
  const client = new Client({ name: "pqguard-manifest", version: "1.0.0" }, { capabilities: FORWARDED_CLIENT_CAPABILITIES });
  let announced = 0;
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => void announced++);
  try {
    await client.connect(transport, { timeout });
    const read = (): Promise<Record<string, unknown>[]> => readToolList((cursor) => client.listTools(cursor === undefined ? {} : { cursor }, { timeout }));
    const settled = await readSettled(read, () => announced);
    if (settled === undefined) {
      throw new ManifestError(ManifestErrorCode.ServerToolsUnavailable, `the tool list of ${source} was still changing after ${MAX_SETTLE_READS} reads`);
    }
    return settled;
  } catch (error) {
    if (error instanceof ManifestError) throw error;
    throw new ManifestError(ManifestErrorCode.ServerToolsUnavailable, `cannot list the tools of ${source}: ${describeError(error)}`);
  } finally {
    await end();
    await client.close().catch(() => undefined);
  }
}

/**
 * Reads until two reads in a row agree on the digested fields and no change was announced during the second; at most
 * MAX_SETTLE_READS reads, SETTLE_INTERVAL_MS apart. Undefined when the list never settled.
 */
export async function readSettled(
  read: () => Promise<Record<string, unknown>[]>,
  announced: () => number,
  wait: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
): Promise<Record<string, unknown>[] | undefined> {
  let previous: string | undefined;
  for (let attempt = 0; attempt < MAX_SETTLE_READS; attempt++) {
    if (attempt > 0) await wait(SETTLE_INTERVAL_MS);
    const before = announced();
    const tools = await read();
    const text = JSON.stringify(tools.map(digestedToolView));
    if (text === previous && announced() === before) return tools;
    previous = text;
  }
  return undefined;
}
