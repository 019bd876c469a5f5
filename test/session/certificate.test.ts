// The verified-certificate cache: a repeat contact gets the certificate parsed the first time (so its KEM public key's
// imported key is reused), another certificate is never taken for a cached one, and trust and validity are still
// checked on every verification.
import assert from "node:assert/strict";
import { kem, signature } from "../../runtime/crypto/registry.js";
import { ByteWriter, utf8 } from "../../runtime/session/codec.js";
import { CLIENT_CERTIFICATE_CONTEXT } from "../../runtime/session/constants.js";
import type { SigningIdentity } from "../../runtime/session/certificate.js";
import {
  ServerCredentials,
  clearVerifiedCertificateCache,
  issueClientCertificate,
  issueServerCertificate,
  parseServerCertificate,
  verifyClientCertificate,
  verifyServerCertificate,
} from "../../runtime/session/certificate.js";
import { SessionErrorCode } from "../../runtime/session/errors.js";
import { T0, clientFixture, newIdentity, serverFixture } from "./fixtures.js";

const KEM = "X25519MLKEM768";
const HOUR = 3_600_000;

/** A correctly signed client certificate issued at T0 with any lifetime, even one issuance refuses (the layout of docs/protocol.md). */
function issueClientCertificateUnchecked(issuer: SigningIdentity, subject: SigningIdentity, lifetimeMs: number): Uint8Array {
  const tbs = new ByteWriter()
    .u8(2)
    .u8(1)
    .name(subject.algorithm)
    .bytes(subject.publicKey)
    .text("{}")
    .u64(T0)
    .u64(T0 + lifetimeMs)
    .name(issuer.algorithm)
    .bytes(issuer.publicKey)
    .finish();
  const sig = signature(issuer.algorithm).sign(tbs, issuer.secretKey, utf8(CLIENT_CERTIFICATE_CONTEXT));
  return new ByteWriter().raw(tbs).bytes(sig).finish();
}

describe("verified server certificates", () => {
  beforeEach(() => clearVerifiedCertificateCache());

  it("returns the certificate parsed the first time for the same bytes, in any array", () => {
    const { server, credentials } = serverFixture();
    const bytes = credentials.forKem(KEM)!.certificate;
    const first = verifyServerCertificate(bytes, [server.fingerprint], T0);
    assert.equal(verifyServerCertificate(bytes, [server.fingerprint], T0 + HOUR), first);
    assert.equal(verifyServerCertificate(Uint8Array.from(bytes), [server.fingerprint], T0), first);
    assert.deepEqual(first, parseServerCertificate(bytes).certificate);
    assert.ok(Object.isFrozen(first));
  });

  it("does not take another certificate for a cached one", () => {
    const { server, credentials } = serverFixture();
    const cached = verifyServerCertificate(credentials.forKem(KEM)!.certificate, [server.fingerprint], T0);
    const other = new ServerCredentials({ identity: server, now: () => T0 }).forKem(KEM)!;
    const verified = verifyServerCertificate(other.certificate, [server.fingerprint], T0);
    assert.notEqual(verified, cached);
    assert.notDeepEqual(verified.kemPublicKey, cached.kemPublicKey);
    // Encapsulating to each certificate's key reaches that certificate's holder only.
    const scheme = kem(KEM);
    const toOther = scheme.encapsulate(verified.kemPublicKey);
    assert.deepEqual(scheme.decapsulate(toOther.ciphertext, other.kemSecretKey), toOther.sharedSecret);
  });

  it("parses and verifies again when a cached certificate was changed in memory", () => {
    const { server, credentials } = serverFixture();
    const bytes = credentials.forKem(KEM)!.certificate;
    const first = verifyServerCertificate(bytes, [server.fingerprint], T0);
    const original = Uint8Array.from(first.kemPublicKey);
    first.kemPublicKey[0]! ^= 1;
    const again = verifyServerCertificate(bytes, [server.fingerprint], T0);
    assert.notEqual(again, first);
    assert.deepEqual(again.kemPublicKey, original);
  });

  it("checks trust and validity on every verification, cached or not", () => {
    const { server, credentials } = serverFixture();
    const bytes = credentials.forKem(KEM)!.certificate;
    const parsed = verifyServerCertificate(bytes, [server.fingerprint], T0);
    assert.throws(() => verifyServerCertificate(bytes, [newIdentity().fingerprint], T0), { code: SessionErrorCode.UntrustedServerKey });
    assert.throws(() => verifyServerCertificate(bytes, [server.fingerprint], parsed.notAfter), { code: SessionErrorCode.CertificateExpired });
  });

  it("refuses to check validity against a clock that gives no time (NaN), cached or not", () => {
    const { server, credentials } = serverFixture();
    const bytes = credentials.forKem(KEM)!.certificate;
    assert.throws(() => verifyServerCertificate(bytes, [server.fingerprint], Number.NaN), { code: SessionErrorCode.InvalidConfiguration });
    verifyServerCertificate(bytes, [server.fingerprint], T0);
    assert.throws(() => verifyServerCertificate(bytes, [server.fingerprint], Number.NaN), { code: SessionErrorCode.InvalidConfiguration });
  });
});

describe("verified client certificates", () => {
  beforeEach(() => clearVerifiedCertificateCache());

  it("returns the signed claims on every verification, even after a caller changed the ones it was given", () => {
    const { issuer, client } = clientFixture();
    const claims = { id: "agent-7", roles: ["reader"], limits: { refund: 10 } };
    const bytes = issueClientCertificate({ issuer, subject: client, claims, lifetimeMs: HOUR, now: T0 });
    const trust = { issuers: [issuer.fingerprint] };
    const first = verifyClientCertificate(bytes, trust, T0);
    assert.throws(() => (first.claims.roles as string[]).push("admin"), TypeError);
    assert.throws(() => {
      (first.claims.limits as { refund: number }).refund = 1e9;
    }, TypeError);
    assert.deepEqual(verifyClientCertificate(bytes, trust, T0).claims, claims);
  });

  it("refuses a certificate whose validity window is empty (not after before not before)", () => {
    const { issuer, client } = clientFixture();
    const bytes = issueClientCertificateUnchecked(issuer, client, -60_000);
    assert.throws(() => verifyClientCertificate(bytes, { issuers: [issuer.fingerprint] }, T0 - 2 * 60_000), {
      code: SessionErrorCode.CertificateExpired,
    });
  });

  it("refuses to issue a client certificate without a positive lifetime", () => {
    const { issuer, client } = clientFixture();
    for (const lifetimeMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => issueClientCertificate({ issuer, subject: client, claims: {}, lifetimeMs, now: T0 }), {
        code: SessionErrorCode.InvalidConfiguration,
      });
    }
  });

  it("refuses to issue a certificate whose claims or label no peer would accept, with a typed error", () => {
    const { issuer, client } = clientFixture();
    const cases: unknown[] = [undefined, null, [], "agent-7", { id: "x".repeat(70_000) }, { n: 1n }];
    for (const claims of cases) {
      assert.throws(
        () => issueClientCertificate({ issuer, subject: client, claims: claims as Record<string, unknown>, lifetimeMs: HOUR, now: T0 }),
        { code: SessionErrorCode.InvalidConfiguration },
      );
    }
    assert.throws(() => issueServerCertificate({ identity: issuer, kem: KEM, label: "x".repeat(70_000), now: T0 }), {
      code: SessionErrorCode.InvalidConfiguration,
    });
  });
});
