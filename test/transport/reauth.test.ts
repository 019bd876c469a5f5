// Certificate expiry and re-authentication inside a sealed session: a session does not outlive the certificates it
// rests on (decisions refuse with PQG7314, the session closes at not-after with PQG6005), a renewed certificate sent
// mid-session keeps calls in flight and replaces the facts, and a renewal for another subject, with a bad signature,
// from another server identity, or replayed is refused (PQG6028).
import { strict as assert } from "node:assert";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { silentLogger } from "../../runtime/audit/index.js";
import { DecisionPoint } from "../../runtime/enforce/decide.js";
import { enforce } from "../../runtime/enforce/index.js";
import type { Decision, GuardModule } from "../../runtime/guard/types.js";
import { toolDigest } from "../../runtime/manifest/digest.js";
import { issueClientCertificate, issueServerCertificate } from "../../runtime/session/certificate.js";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { PqcClientTransport, PqcServerTransport, SealedHttpEndpoint } from "../../runtime/transport/index.js";
import { T0, clientFixture, newIdentity, serverFixture } from "../session/fixtures.js";

const MINUTE = 60_000;

/** A guard that allows every call and notes the role it saw. */
function allowAll(digests: Record<string, string>, roles: unknown[]): GuardModule {
  return {
    policyName: "all",
    policyDigest: "a".repeat(64),
    toolDigests: digests,
    guard(_request, context): Decision {
      roles.push(context.client.role);
      return { decision: "allow", determining: ["all.policy:1"], reason: "allowed", explain: [] };
    },
  };
}

function certificateFor(subject: { algorithm: string; publicKey: Uint8Array }, lifetimeMs: number, now: number, claims: Record<string, unknown> = { id: "agent-7", role: "billing-agent" }): Uint8Array {
  return issueClientCertificate({ issuer: clientFixture().issuer, subject, claims, lifetimeMs, now });
}

/** A guarded McpServer with a `slow` tool whose calls wait until released, over sealed in-memory transports. */
async function session(clock: () => number, lifetimeMs = MINUTE) {
  const { client: identity, issuer } = clientFixture();
  const { server: serverIdentity, credentials } = serverFixture();
  const releases: (() => void)[] = [];
  const mcp = new McpServer({ name: "slow", version: "1" });
  mcp.registerTool("slow", { description: "waits", inputSchema: { n: z.number() } }, async ({ n }) => {
    await new Promise<void>((resolve) => releases.push(resolve));
    return { content: [{ type: "text", text: String(n) }] };
  });
  mcp.registerTool("fast", { description: "answers", inputSchema: { n: z.number() } }, async ({ n }) => ({ content: [{ type: "text", text: String(n) }] }));
  const digests = await liveDigests();
  const roles: unknown[] = [];
  const [a, b] = InMemoryTransport.createLinkedPair();
  const clientTransport = new PqcClientTransport(a, {
    trust: { serverFingerprints: [serverIdentity.fingerprint] },
    clientIdentity: identity,
    clientCertificate: certificateFor(identity, lifetimeMs, T0),
    now: clock,
  });
  const serverTransport = new PqcServerTransport(b, { credentials, clientTrust: { issuers: [issuer.fingerprint] }, now: clock });
  enforce(mcp, allowAll(digests, roles), { now: clock, logger: silentLogger() });
  const errors = { client: [] as Error[], server: [] as Error[] };
  clientTransport.onerror = (error) => errors.client.push(error);
  const client = new Client({ name: "c", version: "1" });
  await Promise.all([mcp.connect(serverTransport), client.connect(clientTransport)]);
  // Set after connect: the SDK installs its own onerror on the transport it connects.
  const sdkServerError = serverTransport.onerror;
  serverTransport.onerror = (error) => {
    errors.server.push(error);
    sdkServerError?.(error);
  };
  return { client, mcp, clientTransport, serverTransport, errors, releases, roles, identity, serverIdentity };
}

async function liveDigests(): Promise<Record<string, string>> {
  const mcp = new McpServer({ name: "slow", version: "1" });
  mcp.registerTool("slow", { description: "waits", inputSchema: { n: z.number() } }, async () => ({ content: [] }));
  mcp.registerTool("fast", { description: "answers", inputSchema: { n: z.number() } }, async () => ({ content: [] }));
  const [a, b] = InMemoryTransport.createLinkedPair();
  const client = new Client({ name: "c", version: "1" });
  await Promise.all([mcp.connect(b), client.connect(a)]);
  const { tools } = await client.listTools();
  await client.close();
  return Object.fromEntries(tools.map((t) => [t.name, toolDigest(t as Record<string, unknown>)]));
}

async function until(condition: () => boolean, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const codes = (errors: Error[]): string[] => errors.map((e) => (e as { code?: string }).code ?? e.message);

describe("certificate expiry and re-authentication", function () {
  this.timeout(30_000);

  it("carries both certificates' not-after in the session facts", async () => {
    const state = { now: T0 + 1000 };
    const s = await session(() => state.now);
    try {
      assert.equal(s.serverTransport.sessionInfo?.client?.notAfter, T0 + MINUTE);
      assert.equal(s.clientTransport.sessionInfo?.client?.notAfter, T0 + MINUTE);
      assert.equal(s.clientTransport.sessionInfo?.peerNotAfter, serverFixture().credentials.forKem("X25519MLKEM768")!.parsed.notAfter);
    } finally {
      await s.client.close();
    }
  });

  it("refuses a decision after a 1-minute client certificate expired (PQG7314), and after the server's", async () => {
    const info = { ...(await infoOf()), client: { fingerprint: "mldsa65:c", claims: { role: "billing-agent" }, notAfter: T0 + MINUTE } };
    const state = { now: T0 + 30_000 };
    const point = new DecisionPoint(allowAll({}, []), "server", { now: () => state.now, logger: silentLogger() }, "m".repeat(64));
    const call = () => point.decide({ tool: "fast", args: { n: 1 }, session: { sessionId: info.sessionId, establishedAt: T0, sealed: true, info }, pin: () => ({ ok: true }), approve: undefined });
    assert.ok((await call()).allowed);
    state.now = T0 + MINUTE;
    const refused = await call();
    assert.ok(!refused.allowed && refused.refusal.code === "PQG7314", JSON.stringify(refused));
    assert.match(refused.allowed ? "" : refused.refusal.reason, /client certificate .* expired/);

    const serverExpired = { ...info, client: undefined, peerNotAfter: T0 + MINUTE };
    const onClient = new DecisionPoint(allowAll({}, []), "client", { now: () => state.now, logger: silentLogger() }, "m".repeat(64));
    const verdict = await onClient.decide({ tool: "fast", args: {}, session: { sessionId: "s", establishedAt: T0, sealed: true, info: serverExpired }, pin: () => ({ ok: true }), approve: undefined });
    assert.ok(!verdict.allowed && verdict.refusal.code === "PQG7314");
  });

  it("closes a session whose client does not renew at not-after, with a typed reason (PQG6005), and runs nothing after", async () => {
    // The certificate (issued at T0 for a minute) has 2 s left when the session starts: time enough for the set-up,
    // handshake and first call on a loaded machine.
    const offset = T0 + MINUTE - 2_000 - Date.now();
    const s = await session(() => Date.now() + offset);
    assert.equal((await s.client.callTool({ name: "fast", arguments: { n: 1 } })).isError, undefined);
    await until(() => s.errors.server.length > 0, "the server to close the session", 10_000);
    assert.deepEqual(codes(s.errors.server).slice(0, 1), ["PQG6005"]);
    assert.match(s.errors.server[0]!.message, /client certificate expired .* not renewed/);
    await assert.rejects(s.client.callTool({ name: "fast", arguments: { n: 2 } }));
  });

  it("also closes when the clock passes not-after between timer turns (checked at the next frame)", async () => {
    const state = { now: T0 + 1000 };
    const s = await session(() => state.now);
    state.now = T0 + MINUTE + 1;
    await assert.rejects(s.client.callTool({ name: "fast", arguments: { n: 1 } }));
    assert.ok(codes(s.errors.server).includes("PQG6005") || codes(s.errors.client).includes("PQG6005"));
  });

  it("renews mid-session without losing the call in flight, and decides on the renewed facts", async () => {
    const state = { now: T0 + 1000 };
    const s = await session(() => state.now);
    try {
      const inFlight = s.client.callTool({ name: "slow", arguments: { n: 7 } });
      await until(() => s.releases.length === 1, "the slow call to reach its handler");
      state.now = T0 + 50_000;
      const renewed = certificateFor(s.identity, 10 * MINUTE, state.now, { id: "agent-7", role: "refunds-agent" });
      await s.clientTransport.reauthenticate(renewed);
      await until(() => s.serverTransport.sessionInfo?.reauthentications === 1, "the server to accept the renewal");
      assert.equal(s.serverTransport.sessionInfo?.client?.notAfter, T0 + 50_000 + 10 * MINUTE);
      assert.equal(s.clientTransport.sessionInfo?.client?.notAfter, T0 + 50_000 + 10 * MINUTE);
      s.releases[0]!();
      const result = (await inFlight) as { content: { text: string }[] };
      assert.equal(result.content[0]!.text, "7", "the call in flight during the renewal completed");
      state.now = T0 + 2 * MINUTE;
      const later = (await s.client.callTool({ name: "fast", arguments: { n: 8 } })) as { content: { text: string }[] };
      assert.equal(later.content[0]!.text, "8", "allowed after the first certificate's not-after");
      assert.equal(s.roles.at(-1), "refunds-agent", "the guard read the renewed claims");
      assert.deepEqual(s.errors.server, []);
    } finally {
      await s.client.close();
    }
  });

  it("refuses a renewal for another subject key (PQG6028) and closes the session", async () => {
    const state = { now: T0 + 1000 };
    const s = await session(() => state.now);
    const other = newIdentity();
    await s.clientTransport.reauthenticate(certificateFor(other, 10 * MINUTE, state.now), other);
    await until(() => s.errors.server.length > 0, "the refusal");
    assert.equal(codes(s.errors.server)[0], "PQG6028");
    assert.match(s.errors.server[0]!.message, /not this session's client/);
    await assert.rejects(s.client.callTool({ name: "fast", arguments: { n: 1 } }));
  });

  it("refuses a renewal that names another client id", async () => {
    const state = { now: T0 + 1000 };
    const s = await session(() => state.now);
    await s.clientTransport.reauthenticate(certificateFor(s.identity, 10 * MINUTE, state.now, { id: "agent-8", role: "billing-agent" }));
    await until(() => s.errors.server.length > 0, "the refusal");
    assert.equal(codes(s.errors.server)[0], "PQG6028");
  });

  it("refuses a renewal whose signature was made by another key than the certificate's", async () => {
    const state = { now: T0 + 1000 };
    const s = await session(() => state.now);
    await s.clientTransport.reauthenticate(certificateFor(s.identity, 10 * MINUTE, state.now), newIdentity());
    await until(() => s.errors.server.length > 0, "the refusal");
    assert.equal(codes(s.errors.server)[0], "PQG6028");
    assert.match(s.errors.server[0]!.message, /signature does not verify/);
  });

  it("refuses a replayed renewal (its counter is not above the last accepted)", async () => {
    const state = { now: T0 + 1000 };
    const s = await session(() => state.now);
    const sent: JSONRPCMessage[] = [];
    const send = s.clientTransport.send.bind(s.clientTransport);
    s.clientTransport.send = (message, options) => {
      sent.push(message);
      return send(message, options);
    };
    await s.clientTransport.reauthenticate(certificateFor(s.identity, 10 * MINUTE, state.now));
    await until(() => s.serverTransport.sessionInfo?.reauthentications === 1, "the first renewal");
    const renewal = sent.find((m) => (m as { method?: string }).method === "pqguard/reauth")!;
    const encoded = (renewal as { params: Record<string, string> }).params["pqguard/reauth"]!;
    await (s.clientTransport as unknown as { sendReauthenticationMessage(bytes: Uint8Array): Promise<void> }).sendReauthenticationMessage(Buffer.from(encoded, "base64url"));
    await until(() => s.errors.server.length > 0, "the refusal");
    assert.equal(codes(s.errors.server)[0], "PQG6028");
    assert.match(s.errors.server[0]!.message, /replay/);
  });

  it("a server renews its certificate mid-session (key rotation); one signed by another identity is refused", async () => {
    const state = { now: T0 + 1000 };
    const s = await session(() => state.now);
    const rotated = issueServerCertificate({ identity: s.serverIdentity, kem: "X25519MLKEM768", label: "rotated", lifetimeMs: 48 * 3_600_000, now: state.now });
    await s.serverTransport.reauthenticate(rotated.certificate, s.serverIdentity);
    await until(() => s.clientTransport.sessionInfo?.reauthentications === 1, "the client to accept the server's renewal");
    assert.equal(s.clientTransport.sessionInfo?.peerNotAfter, state.now + 48 * 3_600_000);
    assert.equal(s.clientTransport.sessionInfo?.peerLabel, "rotated");

    const impostor = newIdentity();
    const forged = issueServerCertificate({ identity: impostor, kem: "X25519MLKEM768", lifetimeMs: 72 * 3_600_000, now: state.now });
    await s.serverTransport.reauthenticate(forged.certificate, impostor);
    await until(() => s.errors.client.length > 0, "the client's refusal");
    assert.equal(codes(s.errors.client)[0], "PQG6028");
  });
});

async function infoOf() {
  return { sessionId: "s1", suite: { kem: "X25519MLKEM768", signature: "ML-DSA-65", aead: "AES-256-GCM", hybrid: true, level: 3 }, peerFingerprint: "mldsa65:s", peerLabel: undefined, establishedAt: T0, rekeys: 0 };
}

describe("re-authentication over Streamable HTTP (unordered delivery)", function () {
  this.timeout(30_000);

  it("renews mid-session while calls are in flight, each over its own HTTP request", async () => {
    const { client: identity, issuer } = clientFixture();
    const { server: serverIdentity, credentials } = serverFixture();
    const clock = { now: T0 + 1000 };
    const servers: PqcServerTransport[] = [];
    const endpoint = new SealedHttpEndpoint({
      credentials,
      now: () => clock.now,
      clientTrust: { issuers: [issuer.fingerprint] },
      connect: async (transport) => {
        servers.push(transport);
        const mcp = new McpServer({ name: "echo", version: "1" });
        mcp.registerTool("echo", { description: "echoes", inputSchema: { n: z.number() } }, async ({ n }) => {
          await new Promise((resolve) => setTimeout(resolve, 20));
          return { content: [{ type: "text", text: String(n) }] };
        });
        return mcp.connect(transport);
      },
    });
    const http = createServer((req, res) => void endpoint.handle(req, res));
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    const url = new URL(`http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`);
    const transport = new PqcClientTransport(new StreamableHTTPClientTransport(url), {
      trust: { serverFingerprints: [serverIdentity.fingerprint] },
      clientIdentity: identity,
      clientCertificate: certificateFor(identity, MINUTE, T0),
      now: () => clock.now,
    });
    const client = new Client({ name: "c", version: "1" });
    try {
      await client.connect(transport);
      const calls = Array.from({ length: 20 }, (_, n) => client.callTool({ name: "echo", arguments: { n } }));
      clock.now = T0 + 50_000;
      await transport.reauthenticate(certificateFor(identity, 10 * MINUTE, clock.now));
      const results = (await Promise.all(calls)) as { content: { text: string }[] }[];
      assert.deepEqual(results.map((r) => r.content[0]!.text), Array.from({ length: 20 }, (_, n) => String(n)));
      await until(() => servers[0]?.sessionInfo?.reauthentications === 1, "the server to accept the renewal");
      assert.equal(servers[0]!.sessionInfo?.client?.notAfter, T0 + 50_000 + 10 * MINUTE);
      clock.now = T0 + 2 * MINUTE;
      const later = (await client.callTool({ name: "echo", arguments: { n: 99 } })) as { content: { text: string }[] };
      assert.equal(later.content[0]!.text, "99", "the session outlived the first certificate");
      await client.close();
    } finally {
      await endpoint.close();
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    }
  });
});

