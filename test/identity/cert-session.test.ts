// Certificates from files in real sealed sessions (PqcServerTransport and PqcClientTransport over the SDK's
// InMemoryTransport): the server sees the claims of a trusted certificate, and refuses an expired one, one from an
// untrusted issuer, one presented with another key, and an unauthenticated client when authentication is required.
import { randomUUID } from "node:crypto";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { generateIdentity, type Identity } from "../../runtime/identity/keys.js";
import { MAX_CLIENT_CERTIFICATE_BYTES, certifyClient, loadClientCertificate, writeCertificateFile } from "../../runtime/identity/certificate-files.js";
import type { ClientTrust } from "../../runtime/session/certificate.js";
import { SessionError, SessionErrorCode } from "../../runtime/session/errors.js";
import { PqcClientTransport, PqcServerTransport } from "../../runtime/transport/index.js";

const HOUR = 3_600_000;

interface Outcome {
  readonly server: PqcServerTransport;
  readonly serverResult: PromiseSettledResult<void>;
  readonly clientResult: PromiseSettledResult<void>;
}

describe("client certificate files in sealed sessions", () => {
  let dir: string;
  let serverIdentity: Identity;
  let ca: Identity;
  let agent: Identity;

  before(() => {
    serverIdentity = generateIdentity();
    ca = generateIdentity();
    agent = generateIdentity();
  });

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "pqguard-cert-session-"));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** One handshake; the client authenticates with `auth` when given. Both ends are closed afterwards. */
  async function handshake(trust: ClientTrust, auth?: { identity: Identity; certificate: Uint8Array }): Promise<Outcome> {
    const [serverSide, clientSide] = InMemoryTransport.createLinkedPair();
    const server = new PqcServerTransport(serverSide, { identity: serverIdentity, clientTrust: trust, handshakeTimeoutMs: 5000 });
    const client = new PqcClientTransport(clientSide, {
      trust: { serverFingerprints: [serverIdentity.keyId] },
      handshakeTimeoutMs: 5000,
      ...(auth === undefined ? {} : { clientIdentity: auth.identity, clientCertificate: auth.certificate }),
    });
    server.onerror = () => undefined;
    client.onerror = () => undefined;
    const [serverResult, clientResult] = await Promise.allSettled([server.start(), client.start()]);
    await Promise.allSettled([client.close(), server.close()]);
    return { server, serverResult, clientResult };
  }

  /** Issues a certificate, writes it to a file and loads it back, as `pqguard cert issue` and a client would. */
  async function certificateFile(options: { issuer?: Identity; claims?: Record<string, unknown>; lifetimeMs?: number; now?: number }): Promise<Uint8Array> {
    const file = path.join(dir, `c${randomUUID()}.cert`);
    const bytes = certifyClient({
      issuer: options.issuer ?? ca,
      subject: agent,
      claims: options.claims ?? { id: "agent-7", role: "billing-agent" },
      lifetimeMs: options.lifetimeMs ?? 24 * HOUR,
      ...(options.now === undefined ? {} : { now: options.now }),
    });
    await writeCertificateFile(file, bytes);
    return (await loadClientCertificate(file)).bytes;
  }

  const refusedWith = (outcome: Outcome, code: string, pattern: RegExp): void => {
    assert.equal(outcome.serverResult.status, "rejected");
    const reason = (outcome.serverResult as PromiseRejectedResult).reason as unknown;
    assert.ok(reason instanceof SessionError, String(reason));
    assert.equal(reason.code, code);
    assert.match(reason.message, pattern);
    assert.equal(outcome.server.sessionInfo, undefined);
  };

  it("gives the server the subject's fingerprint and the claims of a certificate read from a file", async () => {
    const certificate = await certificateFile({ claims: { id: "agent-7", role: "billing-agent", tier: 3 } });
    const outcome = await handshake({ issuers: [ca.keyId], required: true }, { identity: agent, certificate });
    assert.equal(outcome.serverResult.status, "fulfilled", String((outcome.serverResult as PromiseRejectedResult).reason));
    assert.equal(outcome.clientResult.status, "fulfilled");
    const { notAfter, ...client } = outcome.server.sessionInfo!.client!;
    assert.deepEqual(client, { fingerprint: agent.keyId, claims: { id: "agent-7", role: "billing-agent", tier: 3 } });
    assert.ok(typeof notAfter === "number" && notAfter > Date.now(), "the facts carry the certificate's not-after");
  });

  it("refuses an expired certificate", async () => {
    const certificate = await certificateFile({ lifetimeMs: HOUR, now: Date.now() - 2 * HOUR });
    refusedWith(await handshake({ issuers: [ca.keyId] }, { identity: agent, certificate }), SessionErrorCode.CertificateExpired, /client certificate expired at/);
  });

  it("refuses a certificate from an issuer the server does not trust", async () => {
    const certificate = await certificateFile({ issuer: generateIdentity() });
    refusedWith(await handshake({ issuers: [ca.keyId] }, { identity: agent, certificate }), SessionErrorCode.ClientAuthFailed, /neither pinned nor certified by a trusted issuer/);
  });

  it("refuses a certificate presented with another key than the one it certifies", async () => {
    const certificate = await certificateFile({});
    refusedWith(await handshake({ issuers: [ca.keyId] }, { identity: generateIdentity(), certificate }), SessionErrorCode.ClientAuthFailed, /did not prove possession of its key/);
  });

  it("accepts a self-issued certificate whose subject the server pins", async () => {
    const certificate = await certificateFile({ issuer: agent, claims: { id: "me" } });
    const outcome = await handshake({ clientFingerprints: [agent.keyId], required: true }, { identity: agent, certificate });
    const { notAfter, ...client } = outcome.server.sessionInfo!.client!;
    assert.deepEqual(client, { fingerprint: agent.keyId, claims: { id: "me" } });
    assert.ok(typeof notAfter === "number" && notAfter > Date.now());
  });

  it("refuses an unauthenticated client when authentication is required", async () => {
    refusedWith(await handshake({ issuers: [ca.keyId], required: true }), SessionErrorCode.ClientAuthRequired, /requires client authentication/);
  });

  it("carries the largest certificate issuance allows through a handshake", async () => {
    const base = certifyClient({ issuer: ca, subject: agent, claims: { id: "agent-7", note: "" }, lifetimeMs: HOUR }).length;
    const note = "n".repeat(MAX_CLIENT_CERTIFICATE_BYTES - base);
    const certificate = await certificateFile({ claims: { id: "agent-7", note } });
    assert.equal(certificate.length, MAX_CLIENT_CERTIFICATE_BYTES);
    const outcome = await handshake({ issuers: [ca.keyId] }, { identity: agent, certificate });
    assert.equal(outcome.serverResult.status, "fulfilled", String((outcome.serverResult as PromiseRejectedResult).reason));
    assert.equal((outcome.server.sessionInfo?.client?.claims.note as string).length, note.length);
  });

  it("carries the largest certificate beside the largest KEM ciphertext and client proof (SecP384r1MLKEM1024, ML-DSA-87)", async () => {
    const [server87, ca87, agent87] = [generateIdentity("ML-DSA-87"), generateIdentity("ML-DSA-87"), generateIdentity("ML-DSA-87")];
    const base = certifyClient({ issuer: ca87, subject: agent87, claims: { id: "a", note: "" }, lifetimeMs: HOUR }).length;
    const certificate = certifyClient({ issuer: ca87, subject: agent87, claims: { id: "a", note: "n".repeat(MAX_CLIENT_CERTIFICATE_BYTES - base) }, lifetimeMs: HOUR });
    const suites = { kem: ["SecP384r1MLKEM1024"], signature: ["ML-DSA-87"], aead: ["AES-256-GCM"] };
    const [serverSide, clientSide] = InMemoryTransport.createLinkedPair();
    const server = new PqcServerTransport(serverSide, { identity: server87, clientTrust: { issuers: [ca87.keyId] }, suites });
    const client = new PqcClientTransport(clientSide, { trust: { serverFingerprints: [server87.keyId] }, clientIdentity: agent87, clientCertificate: certificate, suites });
    try {
      await Promise.all([server.start(), client.start()]);
      assert.equal(server.sessionInfo?.client?.fingerprint, agent87.keyId);
    } finally {
      await Promise.allSettled([client.close(), server.close()]);
    }
  });
});
