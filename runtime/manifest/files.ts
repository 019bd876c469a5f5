// Reading manifests and tool lists from files and from live stdio servers, with size limits, for the CLI and proxy.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { readBoundedFile } from "../identity/files.js";
import { ManifestError, ManifestErrorCode } from "./errors.js";
import { readToolList } from "./listing.js";
import { MAX_MANIFEST_BYTES, verifySignedManifest, type VerifiedManifest, type VerifyOptions } from "./signed.js";

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

/** Starts a stdio MCP server, asks it for every page of its tool list, and stops it. */
export async function toolsFromServer(commandLine: string, options: { cwd?: string; timeoutMs?: number } = {}): Promise<Record<string, unknown>[]> {
  const [command, ...args] = splitCommandLine(commandLine);
  if (command === undefined) throw new ManifestError(ManifestErrorCode.Malformed, "the server command line is empty");
  const transport = new StdioClientTransport({ command, args, stderr: "pipe", ...(options.cwd === undefined ? {} : { cwd: options.cwd }) });
  const client = new Client({ name: "pqguard-manifest", version: "1.0.0" });
  const timeout = options.timeoutMs ?? FROM_SERVER_TIMEOUT_MS;
  try {
    await client.connect(transport, { timeout });
    return await readToolList((cursor) => client.listTools(cursor === undefined ? {} : { cursor }, { timeout }));
  } catch (error) {
    throw new ManifestError(ManifestErrorCode.Unreadable, `cannot list the tools of \`${commandLine}\`: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    await client.close().catch(() => undefined);
  }
}
