// The session handshake without transports: honest runs, mutual authentication, each refusal with its own code,
// and tampering at every byte position of each handshake message (sampled on the large ones, see tamperPositions).
import assert from "node:assert/strict";
import { issueClientCertificate, parseServerCertificate, ServerCredentials } from "../../runtime/session/certificate.js";
import { SessionError, SessionErrorCode } from "../../runtime/session/errors.js";
import { decodeClientFinished, decodeClientHello, decodeServerHello, encodeClientHello, encodeOffer } from "../../runtime/session/messages.js";
import { hash } from "../../runtime/crypto/registry.js";
import { TRANSCRIPT_HASH } from "../../runtime/session/constants.js";
import { DEFAULT_SUITES, T0, clientFixture, flip, handshake, newIdentity, peers, serverFixture, tamperPositions } from "./fixtures.js";

function expectCode(action: () => unknown, code: string): SessionError {
  try {
    action();
  } catch (error) {
    assert.ok(error instanceof SessionError, `expected a SessionError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ${code}, but nothing was thrown`);
}

/** Offsets of the bytes outside the listed views (all views into `whole`): the header and length fields. */
function headerPositions(whole: Uint8Array, blobs: readonly Uint8Array[]): number[] {
  const inBlob = new Uint8Array(whole.length);
  for (const blob of blobs) {
    const start = blob.byteOffset - whole.byteOffset;
    inBlob.fill(1, start, start + blob.length);
  }
  return [...inBlob.keys()].filter((i) => inBlob[i] === 0);
}

describe("session handshake", () => {
  it("establishes the same session id, suite and keys on both ends", () => {
    const { server } = serverFixture();
    const flight = handshake();
    assert.equal(flight.client.info.sessionId, flight.server.info.sessionId);
    assert.match(flight.client.info.sessionId, /^[0-9a-f]{32}$/);
    assert.deepEqual(flight.client.info.suite, { kem: "X25519MLKEM768", signature: "ML-DSA-65", aead: "AES-256-GCM", hybrid: true, level: 3 });
    assert.deepEqual(flight.client.info.suite, flight.server.info.suite);
    assert.equal(flight.client.info.peerFingerprint, server.fingerprint);
    assert.equal(flight.server.info.peerFingerprint, server.fingerprint);
    assert.equal(flight.client.info.peerLabel, "test server");
    assert.deepEqual(flight.client.sendSecret, flight.server.receiveSecret);
    assert.deepEqual(flight.server.sendSecret, flight.client.receiveSecret);
    assert.notDeepEqual(flight.client.sendSecret, flight.client.receiveSecret);
    assert.equal(flight.server.info.client, undefined);
  });

  it("gives fresh keys to every handshake (ephemeral KEM, fresh nonces)", () => {
    const a = handshake();
    const b = handshake();
    assert.notEqual(a.client.info.sessionId, b.client.info.sessionId);
    assert.notDeepEqual(a.client.sendSecret, b.client.sendSecret);
  });

  it("negotiates by server preference within the client's offer", () => {
    const flight = handshake(
      peers({
        clientSuites: { kem: ["ML-KEM-768", "X25519MLKEM768"], signature: ["ML-DSA-65"], aead: ["AES-256-GCM", "ChaCha20-Poly1305"] },
        serverSuites: { kem: ["X25519MLKEM768", "ML-KEM-768"], signature: ["ML-DSA-65"], aead: ["ChaCha20-Poly1305", "AES-256-GCM"] },
      }),
    );
    assert.equal(flight.server.info.suite.kem, "X25519MLKEM768");
    assert.equal(flight.server.info.suite.aead, "ChaCha20-Poly1305");
    assert.deepEqual(flight.client.info.suite, flight.server.info.suite);
  });

  it("refuses when the peers share no suite", () => {
    const p = peers({ clientSuites: { ...DEFAULT_SUITES, aead: ["ChaCha20-Poly1305"] } });
    expectCode(() => p.server.receiveClientHello(p.client.hello()), SessionErrorCode.NoCommonSuite);
  });

  it("names a client's unknown algorithms in its refusal without letting them forge a log line", () => {
    const p = peers();
    const hello = decodeClientHello(p.client.hello());
    const forged = ["ok-name", "X\nlevel=info msg=\"handshake accepted\"", "AEAD-0"];
    const error = expectCode(() => p.server.receiveClientHello(encodeClientHello({ ...hello, offer: { ...hello.offer, aead: forged } })), SessionErrorCode.NoCommonSuite);
    assert.ok(!error.message.includes("\n"), error.message);
    assert.match(error.message, /`ok-name`, "X\\nlevel=info msg=\\"handshake accepted\\"", `AEAD-0`/);
  });

  it("refuses to start a server whose identity's algorithm its own signature list leaves out", () => {
    const error = expectCode(() => peers({ serverSuites: { ...DEFAULT_SUITES, signature: ["ML-DSA-87"] } }), SessionErrorCode.InvalidConfiguration);
    assert.match(error.message, /identity signs with `ML-DSA-65`, which its signature algorithms \(`ML-DSA-87`\) leave out/);
  });

  it("refuses a server whose identity is not pinned (wrong server key)", () => {
    const p = peers({ trusted: [newIdentity().fingerprint] });
    const serverHello = p.server.receiveClientHello(p.client.hello());
    expectCode(() => p.client.receiveServerHello(serverHello), SessionErrorCode.UntrustedServerKey);
  });

  it("refuses an impostor that replays the real server's certificate without its static key", () => {
    const { credentials } = serverFixture();
    const real = credentials.forKem("X25519MLKEM768")!;
    const stolen = new ServerCredentials({
      certificates: [{ ...real, kemSecretKey: new Uint8Array(real.kemSecretKey.length) }],
      now: () => T0 + 1000,
    });
    const p = peers({ credentials: stolen });
    const serverHello = p.server.receiveClientHello(p.client.hello());
    const { clientFinished } = p.client.receiveServerHello(serverHello);
    // The impostor cannot decapsulate: its Finished (or its failure to make one) never matches.
    let serverFinished: Uint8Array | undefined;
    try {
      serverFinished = p.server.receiveClientFinished(clientFinished).serverFinished;
    } catch (error) {
      assert.ok(error instanceof SessionError);
    }
    if (serverFinished) expectCode(() => p.client.receiveServerFinished(serverFinished!), SessionErrorCode.KeyConfirmationFailed);
  });

  it("refuses an expired server certificate, and one not yet valid", () => {
    const lifetime = 24 * 3600_000;
    let p = peers({ now: T0 + lifetime + 1 });
    let hello = p.server.receiveClientHello(p.client.hello());
    expectCode(() => p.client.receiveServerHello(hello), SessionErrorCode.CertificateExpired);
    p = peers({ now: T0 - 3600_000 });
    hello = p.server.receiveClientHello(p.client.hello());
    expectCode(() => p.client.receiveServerHello(hello), SessionErrorCode.CertificateExpired);
  });

  it("detects a man in the middle who strips the hybrid KEM from the offer (downgrade)", () => {
    const offer = { kem: ["X25519MLKEM768", "ML-KEM-768"], signature: ["ML-DSA-65"], aead: ["AES-256-GCM"] };
    const p = peers({ clientSuites: offer, serverSuites: offer });
    const original = decodeClientHello(p.client.hello());
    const stripped = encodeClientHello({
      nonce: original.nonce,
      offer: { ...original.offer, kem: ["ML-KEM-768"] },
      shares: original.shares.filter((share) => share.kem === "ML-KEM-768"),
    });
    const serverHello = p.server.receiveClientHello(stripped);
    assert.equal(decodeServerHello(serverHello).kem, "ML-KEM-768");
    expectCode(() => p.client.receiveServerHello(serverHello), SessionErrorCode.Downgrade);
  });

  it("still fails when the man in the middle also rewrites the server's echo of the offer", () => {
    const offer = { kem: ["X25519MLKEM768", "ML-KEM-768"], signature: ["ML-DSA-65"], aead: ["AES-256-GCM"] };
    const p = peers({ clientSuites: offer, serverSuites: offer });
    const original = decodeClientHello(p.client.hello());
    const stripped = encodeClientHello({ nonce: original.nonce, offer: { ...original.offer, kem: ["ML-KEM-768"] }, shares: [original.shares[1]!] });
    const serverHello = p.server.receiveClientHello(stripped);
    const forged = new Uint8Array(serverHello);
    const echo = decodeServerHello(forged).offerDigest;
    echo.set(hash(TRANSCRIPT_HASH).digest(encodeOffer(original.offer)));
    const { clientFinished } = p.client.receiveServerHello(forged);
    expectCode(() => p.server.receiveClientFinished(clientFinished), SessionErrorCode.KeyConfirmationFailed);
  });

  it("refuses a server that chooses outside the offer", () => {
    const p = peers({ serverSuites: { ...DEFAULT_SUITES, kem: ["ML-KEM-768"] }, clientSuites: { ...DEFAULT_SUITES, kem: ["ML-KEM-768"] } });
    const serverHello = p.server.receiveClientHello(p.client.hello());
    const q = peers();
    q.client.hello();
    expectCode(() => q.client.receiveServerHello(serverHello), SessionErrorCode.Downgrade);
  });

  it("refuses messages out of order", () => {
    const p = peers();
    const flight = handshake();
    expectCode(() => p.client.receiveServerFinished(flight.serverFinished), SessionErrorCode.UnexpectedMessage);
    expectCode(() => p.server.receiveClientFinished(flight.clientFinished), SessionErrorCode.UnexpectedMessage);
  });

  describe("mutual authentication", () => {
    it("delivers the client's verified fingerprint and claims to the server", () => {
      const { issuer, client, certificate } = clientFixture();
      const flight = handshake(peers({ clientAuth: { identity: client, certificate }, clientTrust: { issuers: [issuer.fingerprint] } }));
      assert.deepEqual(flight.server.info.client, { fingerprint: client.fingerprint, claims: { id: "agent-7", role: "billing-agent" }, notAfter: T0 + 24 * 3600_000 });
      assert.equal(flight.client.info.client?.fingerprint, client.fingerprint);
    });

    it("accepts a pinned self-issued client certificate", () => {
      const { client } = clientFixture();
      const certificate = issueClientCertificate({ issuer: client, subject: client, claims: { id: "cli" }, lifetimeMs: 3600_000, now: T0 });
      const flight = handshake(peers({ clientAuth: { identity: client, certificate }, clientTrust: { clientFingerprints: [client.fingerprint] } }));
      assert.equal(flight.server.info.client?.fingerprint, client.fingerprint);
    });

    it("refuses a client certified by an untrusted issuer", () => {
      const { client, certificate } = clientFixture();
      const p = peers({ clientAuth: { identity: client, certificate }, clientTrust: { issuers: [newIdentity().fingerprint] } });
      const { clientFinished } = p.client.receiveServerHello(p.server.receiveClientHello(p.client.hello()));
      expectCode(() => p.server.receiveClientFinished(clientFinished), SessionErrorCode.ClientAuthFailed);
    });

    it("refuses a client that holds a certificate but not its key", () => {
      const { issuer, certificate } = clientFixture();
      const p = peers({ clientAuth: { identity: newIdentity(), certificate }, clientTrust: { issuers: [issuer.fingerprint] } });
      const { clientFinished } = p.client.receiveServerHello(p.server.receiveClientHello(p.client.hello()));
      expectCode(() => p.server.receiveClientFinished(clientFinished), SessionErrorCode.ClientAuthFailed);
    });

    it("refuses a client whose certificate uses a signature algorithm the server does not accept", () => {
      const { issuer } = clientFixture();
      const client = newIdentity("ML-DSA-44");
      const certificate = issueClientCertificate({ issuer, subject: client, claims: { id: "weak" }, lifetimeMs: 3600_000, now: T0 });
      const p = peers({ clientAuth: { identity: client, certificate }, clientTrust: { issuers: [issuer.fingerprint] } });
      const { clientFinished } = p.client.receiveServerHello(p.server.receiveClientHello(p.client.hello()));
      const error = expectCode(() => p.server.receiveClientFinished(clientFinished), SessionErrorCode.ClientAuthFailed);
      assert.match(error.message, /uses `ML-DSA-44`, which this server does not accept \(it accepts `ML-DSA-65`\)/);
      // Listed, the same certificate is accepted.
      const accepting = peers({
        clientAuth: { identity: client, certificate },
        clientTrust: { issuers: [issuer.fingerprint] },
        serverSuites: { ...DEFAULT_SUITES, signature: ["ML-DSA-65", "ML-DSA-44"] },
      });
      assert.equal(handshake(accepting).server.info.client?.fingerprint, client.fingerprint);
    });

    it("refuses an anonymous client when authentication is required", () => {
      const p = peers({ clientTrust: { issuers: [clientFixture().issuer.fingerprint], required: true } });
      const { clientFinished } = p.client.receiveServerHello(p.server.receiveClientHello(p.client.hello()));
      expectCode(() => p.server.receiveClientFinished(clientFinished), SessionErrorCode.ClientAuthRequired);
    });
  });

  describe("tampering", () => {
    /** Runs the rest of the handshake after a tampered message; some step must throw a SessionError. */
    function refused(run: () => unknown): void {
      try {
        run();
      } catch (error) {
        assert.ok(error instanceof SessionError, `non-session error: ${String(error)}`);
        return;
      }
      assert.fail("a tampered handshake completed");
    }

    it("refuses a client hello altered at any byte (all header bytes, 200 spread over the key share)", () => {
      const sample = peers().client.hello();
      const parsed = decodeClientHello(sample);
      const positions = tamperPositions(sample.length, headerPositions(sample, parsed.shares.map((s) => s.publicKey)));
      for (const position of positions) {
        const p = peers();
        const hello = flip(p.client.hello(), position);
        refused(() => {
          const serverHello = p.server.receiveClientHello(hello);
          const { clientFinished } = p.client.receiveServerHello(serverHello);
          p.server.receiveClientFinished(clientFinished);
        });
      }
    });

    it("refuses a server hello altered at any byte (all header bytes, 200 spread over ciphertext and certificate)", () => {
      const flight = handshake();
      const parsed = decodeServerHello(flight.serverHello);
      const certificate = parseServerCertificate(parsed.certificate);
      const blobs = [parsed.ciphertext, certificate.certificate.kemPublicKey, certificate.certificate.identityPublicKey, certificate.signature];
      const positions = tamperPositions(flight.serverHello.length, headerPositions(flight.serverHello, blobs));
      for (const position of positions) {
        const p = peers();
        const serverHello = flip(p.server.receiveClientHello(p.client.hello()), position);
        refused(() => {
          const { clientFinished } = p.client.receiveServerHello(serverHello);
          p.server.receiveClientFinished(clientFinished);
        });
      }
    });

    it("refuses a client finished altered at any byte (all header and MAC bytes, 200 spread over the ciphertext)", () => {
      const { issuer, client, certificate } = clientFixture();
      const flight = handshake();
      const parsed = decodeClientFinished(flight.clientFinished, 32).message;
      const positions = tamperPositions(flight.clientFinished.length, headerPositions(flight.clientFinished, [parsed.ciphertext]));
      for (const position of positions) {
        const p = peers();
        const { clientFinished } = p.client.receiveServerHello(p.server.receiveClientHello(p.client.hello()));
        refused(() => p.server.receiveClientFinished(flip(clientFinished, position)));
      }
      // With client authentication the sealed identity is covered too.
      const mutual = () => peers({ clientAuth: { identity: client, certificate }, clientTrust: { issuers: [issuer.fingerprint] } });
      const sample = handshake(mutual()).clientFinished;
      for (const position of tamperPositions(sample.length, [], 40)) {
        const p = mutual();
        const { clientFinished } = p.client.receiveServerHello(p.server.receiveClientHello(p.client.hello()));
        refused(() => p.server.receiveClientFinished(flip(clientFinished, position)));
      }
    });

    it("refuses a server finished altered at any byte (full sweep)", () => {
      const sample = handshake().serverFinished;
      for (let position = 0; position < sample.length; position++) {
        const p = peers();
        const serverHello = p.server.receiveClientHello(p.client.hello());
        const { clientFinished } = p.client.receiveServerHello(serverHello);
        const { serverFinished } = p.server.receiveClientFinished(clientFinished);
        refused(() => p.client.receiveServerFinished(flip(serverFinished, position)));
      }
    });
  });
});
