// Shared set-up for the policy library's tests: a real MCP server over stdio, a real SDK client guarded by the compiled
// policy (guardClient) and pinned to the library's signed manifest, with a session whose client carries a role.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { silentLogger } from "../../runtime/audit/index.js";
import { guardClient, refusalOf, type ApprovalCallback, type RefusalData } from "../../runtime/enforce/index.js";
import type { GuardModule } from "../../runtime/guard/types.js";
import { verifySignedManifest, type VerifiedManifest } from "../../runtime/manifest/signed.js";
import { FORWARDED_CLIENT_CAPABILITIES } from "../../runtime/proxy/core.js";
import type { SessionInfo } from "../../runtime/session/facts.js";
import { checked, compiledGuard, REPO_ROOT } from "../support/guards.js";

/** The key the library's manifests are signed with; its secret half is not in the repository. */
export const LIBRARY_SIGNER = "mldsa65:zbwhhtm74yzm54gtnxktsfedtutak6qmfo3n4frgmpgvvwqd7ugq";

export const POLICIES = join(REPO_ROOT, "policies");

/**
 * The signed manifest of a library folder, verified at the instant it was issued: its signature and signer are what
 * the test proves, and a manifest that expires next year must not fail the suite then (`pqguard manifest verify`
 * checks expiry for a deployment).
 */
export function libraryManifest(folder: string, file: string, signer = LIBRARY_SIGNER): VerifiedManifest {
  const doc = JSON.parse(readFileSync(join(POLICIES, folder, file), "utf8")) as { issuedAt: string };
  return verifySignedManifest(doc, { signer, now: Date.parse(doc.issuedAt) });
}

/**
 * The compiled guard of a library policy. `replace` rewrites literals before checking (a policy for `/srv/docs`
 * tested against a temporary folder); the manifest is the library's, passed in as the checker reads it.
 */
export async function libraryGuard(folder: string, name: string, manifestFile: string, replace: Readonly<Record<string, string>> = {}): Promise<GuardModule> {
  let source = readFileSync(join(POLICIES, folder, `${name}.policy`), "utf8");
  for (const [from, to] of Object.entries(replace)) source = source.split(from).join(to);
  const manifest = JSON.parse(readFileSync(join(POLICIES, folder, manifestFile), "utf8")) as unknown;
  return compiledGuard(checked(source, { [manifestFile]: manifest }, `${name}.policy`), "library", name);
}

/** A session as a PQC transport reports it after a mutual handshake, for a client with this id and role. */
export function sessionFor(role: string, id = `agent-${role}`): SessionInfo {
  return {
    sessionId: `session-${id}`,
    suite: { kem: "X25519MLKEM768", signature: "ML-DSA-65", aead: "AES-256-GCM", hybrid: true, level: 3 },
    peerFingerprint: "mldsa65:server",
    peerLabel: "library",
    client: { fingerprint: `mldsa65:${id}`, claims: { id, role } },
    establishedAt: Date.now(),
    rekeys: 0,
  };
}

export interface GuardedServer {
  readonly client: Client;
  /** Calls a tool and returns its result; throws when the guard refuses. */
  call(name: string, args: Record<string, unknown>): Promise<CallToolResult>;
  /** Calls a tool the guard must refuse, and returns the refusal. */
  refused(name: string, args: Record<string, unknown>): Promise<RefusalData>;
  close(): Promise<void>;
}

export interface ServerCommand {
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
}

/** Starts the server, connects a client guarded by `guard` for a session of `role`, pinned to `manifest`. */
export async function guardedServer(server: ServerCommand, guard: GuardModule, manifest: VerifiedManifest, role: string, approve?: ApprovalCallback): Promise<GuardedServer> {
  const transport = new StdioClientTransport({
    command: server.command,
    args: [...server.args],
    env: { ...(process.env as Record<string, string>), ...server.env },
    stderr: "ignore",
    ...(server.cwd === undefined ? {} : { cwd: server.cwd }),
  });
  // The capabilities the manifests were read with (`manifest sign --from-server` declares the proxy's), so the server
  // lists the same tools; the test answers no request the server makes back.
  const client = new Client({ name: "library-test", version: "1.0.0" }, { capabilities: FORWARDED_CLIENT_CAPABILITIES });
  await client.connect(transport);
  const session = sessionFor(role);
  guardClient(client, guard, { manifest, session: () => session, logger: silentLogger(), ...(approve === undefined ? {} : { approve }) });
  await client.listTools();
  const call = async (name: string, args: Record<string, unknown>): Promise<CallToolResult> => (await client.callTool({ name, arguments: args })) as CallToolResult;
  return {
    client,
    call,
    async refused(name, args) {
      try {
        await call(name, args);
      } catch (error) {
        const refusal = refusalOf(error);
        if (refusal !== undefined) return refusal;
        throw error;
      }
      return assert.fail(`\`${name}\` ${JSON.stringify(args)} was not refused`);
    },
    close: () => client.close(),
  };
}

/** The text of a tool result's first content item. */
export function textOf(result: CallToolResult): string {
  const first = result.content[0];
  return first !== undefined && first.type === "text" ? first.text : "";
}
