// Renewing a short-lived client certificate: same key, same claims, same lifetime, a later window; refused for another
// issuer or another key, so a renewal can neither move a client to a new issuer nor certify a different key.
import assert from "node:assert/strict";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ClientCertificateErrorCode, certifyClient, loadClientCertificate, writeCertificateFile } from "../../runtime/identity/certificate-files.js";
import { generateIdentity } from "../../runtime/identity/keys.js";
import { renewClientCertificate, renewalTime } from "../../runtime/identity/renewal.js";
import { parseClientCertificate } from "../../runtime/session/certificate.js";

const HOUR = 3600_000;

describe("client certificate renewal", () => {
  it("renews for the same key and claims with the same lifetime, due when a third of it is left", async () => {
    const issuer = generateIdentity("ML-DSA-65");
    const agent = generateIdentity("ML-DSA-65");
    const t0 = Date.now() - 20 * HOUR;
    const path = join(await mkdtemp(join(tmpdir(), "pqguard-renew-")), "agent.cert");
    const bytes = certifyClient({ issuer, subject: agent, claims: { id: "agent-7", role: "billing-agent" }, lifetimeMs: 24 * HOUR, now: t0 });
    await writeCertificateFile(path, bytes);
    const current = await loadClientCertificate(path);
    assert.equal(renewalTime(current), t0 + 16 * HOUR);
    assert.equal(renewalTime(current, HOUR), t0 + 23 * HOUR);
    const now = Date.now();
    const renewed = parseClientCertificate(renewClientCertificate(current, issuer, agent, now)).certificate;
    assert.deepEqual(renewed.claims, current.claims);
    assert.equal(renewed.fingerprint, current.fingerprint);
    assert.equal(renewed.issuerFingerprint, issuer.keyId);
    assert.equal(renewed.notBefore, now);
    assert.equal(renewed.notAfter - renewed.notBefore, 24 * HOUR);
    assert.throws(() => renewClientCertificate(current, generateIdentity("ML-DSA-65"), agent, now), { code: ClientCertificateErrorCode.NotIssuable });
    assert.throws(() => renewClientCertificate(current, issuer, generateIdentity("ML-DSA-65"), now), { code: ClientCertificateErrorCode.KeyMismatch });
  });
});
