// A server on a keyring, attacked with what was taken away: a client whose certificate is put on the revocation list
// is drained and then refused, a revoked server key takes no new handshake and its sessions drain, and a keyring
// that cannot be read on reload leaves the last good keys in force.
import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { silentLogger } from "../../runtime/audit/index.js";
import { initKeyring, revokeKeyring, rotateKeyring } from "../../runtime/identity/keyring.js";
import { PqguardMetrics } from "../../runtime/metrics/index.js";
import { SessionErrorCode } from "../../runtime/session/errors.js";
import { PqcClientTransport, PqcServerTransport } from "../../runtime/transport/index.js";
import { KeyringServer } from "../../runtime/transport/keyring-server.js";
import { issueClientCertificate } from "../../runtime/session/certificate.js";
import { newIdentity } from "../session/fixtures.js";

/** An issuer and a client with a certificate valid now (the shared fixture's is dated for fixed-clock tests). */
const issuer = newIdentity();
const client = newIdentity();
const certificate = issueClientCertificate({ issuer, subject: client, claims: { id: "agent-7" }, lifetimeMs: 3600_000 });
const clientFixture = () => ({ issuer, client, certificate });
import { echoServer } from "./harness.js";

async function scratch(): Promise<string> {
  return mkdtemp(join(tmpdir(), "pqguard-keyring-server-"));
}

describe("KeyringServer", function () {
  this.timeout(30_000);

  async function connect(keys: KeyringServer, trusted: string[], withCertificate: boolean) {
    const { client, certificate } = clientFixture();
    const [a, b] = InMemoryTransport.createLinkedPair();
    const metrics = new PqguardMetrics();
    const server = new PqcServerTransport(b, { keys, metrics, handshakeTimeoutMs: 2000 });
    const clientTransport = new PqcClientTransport(a, {
      trust: { serverFingerprints: trusted },
      metrics,
      handshakeTimeoutMs: 2000,
      ...(withCertificate ? { clientIdentity: client, clientCertificate: certificate } : {}),
    });
    const mcp = new Client({ name: "c", version: "1" });
    const outcome = await Promise.allSettled([echoServer([]).connect(server), mcp.connect(clientTransport)]);
    return { server, clientTransport, mcp, outcome };
  }

  it("drains the live session of a client put on the revocation list, and refuses its next handshake", async () => {
    const dir = await scratch();
    const ring = await initKeyring(join(dir, "ring"));
    const { issuer, client } = clientFixture();
    const revoked = join(dir, "revoked.json");
    await writeFile(revoked, JSON.stringify({ format: "pqguard-revocation-list/1", revoked: [] }));
    const keys = await KeyringServer.open({ directory: join(dir, "ring"), revokedClients: revoked, clientTrust: { issuers: [issuer.fingerprint] }, logger: silentLogger() });
    try {
      const first = await connect(keys, [ring.active!.keyId], true);
      assert.deepEqual(first.outcome.map((o) => o.status), ["fulfilled", "fulfilled"]);
      await first.mcp.callTool({ name: "echo", arguments: { text: "before" } });
      await writeFile(revoked, JSON.stringify({ format: "pqguard-revocation-list/1", revoked: [{ fingerprint: client.fingerprint, revokedAt: new Date().toISOString(), reason: "lost" }] }));
      const reload = await keys.reload();
      assert.equal(reload.drained, 1);
      assert.equal(first.server.isDraining, true);
      await first.server.closed;
      await assert.rejects(first.mcp.callTool({ name: "echo", arguments: { text: "after" } }));
      const second = await connect(keys, [ring.active!.keyId], true);
      assert.ok(second.outcome.some((o) => o.status === "rejected" && (o.reason as { code?: string }).code === SessionErrorCode.ClientAuthFailed));
    } finally {
      keys.close();
    }
  });

  it("answers new handshakes with the next key once the active one is revoked, and drains the sessions on the revoked key", async () => {
    const dir = await scratch();
    const ring = await initKeyring(join(dir, "ring"));
    const keys = await KeyringServer.open({ directory: join(dir, "ring"), logger: silentLogger() });
    try {
      const old = await connect(keys, [ring.active!.keyId, ring.next!.keyId], false);
      assert.equal(old.server.sessionInfo!.peerFingerprint, ring.active!.keyId);
      await revokeKeyring(join(dir, "ring"), ring.active!.keyId);
      await keys.reload();
      await old.server.closed;
      const fresh = await connect(keys, [ring.active!.keyId, ring.next!.keyId], false);
      assert.equal(fresh.server.sessionInfo!.peerFingerprint, ring.next!.keyId);
      // A client that trusts only the revoked key cannot be answered by it any more.
      const stale = await connect(keys, [ring.active!.keyId], false);
      assert.ok(stale.outcome.some((o) => o.status === "rejected" && (o.reason as { code?: string }).code === SessionErrorCode.UntrustedServerKey));
      await fresh.mcp.close();
    } finally {
      keys.close();
    }
  });

  it("keeps the last good keys when the keyring cannot be read on reload", async () => {
    const dir = await scratch();
    const ring = await initKeyring(join(dir, "ring"));
    const keys = await KeyringServer.open({ directory: join(dir, "ring"), logger: silentLogger() });
    try {
      await writeFile(join(dir, "ring", "keyring.json"), "{ half written");
      await assert.rejects(keys.reload(), { code: "PQG5302" });
      assert.equal(keys.activeKey!.keyId, ring.active!.keyId);
      const session = await connect(keys, [ring.active!.keyId], false);
      assert.equal(session.server.sessionInfo!.peerFingerprint, ring.active!.keyId);
      await session.mcp.close();
    } finally {
      keys.close();
    }
  });

  it("moves a live session to the new key at a rotation when its client trusts it, and only then", async () => {
    const dir = await scratch();
    const ring = await initKeyring(join(dir, "ring"));
    const keys = await KeyringServer.open({ directory: join(dir, "ring"), logger: silentLogger(), reauthenticateOnRotation: true });
    try {
      const trusting = await connect(keys, [ring.active!.keyId, ring.next!.keyId], false);
      const pinnedOld = await connect(keys, [ring.active!.keyId], false);
      const sessionId = trusting.clientTransport.sessionInfo!.sessionId;
      await trusting.mcp.callTool({ name: "echo", arguments: { text: "before" } });
      const rotation = await rotateKeyring(join(dir, "ring"));
      await keys.reload();
      // The same session, now resting on the new key on both ends; calls go on.
      const deadline = Date.now() + 5000;
      while (trusting.clientTransport.sessionInfo?.peerFingerprint !== rotation.activated.keyId && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(trusting.clientTransport.sessionInfo!.peerFingerprint, rotation.activated.keyId);
      assert.equal(trusting.clientTransport.sessionInfo!.sessionId, sessionId);
      assert.equal(trusting.server.sessionInfo!.peerFingerprint, rotation.activated.keyId);
      assert.match(JSON.stringify((await trusting.mcp.callTool({ name: "echo", arguments: { text: "after" } })).content), /after/);
      // A client that does not trust the new key refuses the move (a server cannot switch a session to a key the client
      // never accepted) and its session closes.
      await pinnedOld.clientTransport.closed;
      assert.equal(pinnedOld.clientTransport.sessionInfo, undefined);
      assert.deepEqual([...keys.sessionsByKey().keys()], [rotation.activated.keyId]);
      await trusting.mcp.close();
    } finally {
      keys.close();
    }
  });
});
