// Client certificate files: issued certificates round-trip through a `pqguard-client-certificate/1` document holding
// only the signed bytes; other formats, other versions, extra fields, altered bytes and the wrong key are refused with
// typed errors; validity and trust are judged as the server judges them.
import assert from "node:assert/strict";
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import fc from "fast-check";
import { generateIdentity, type Identity } from "../../runtime/identity/keys.js";
import {
  CLIENT_CERTIFICATE_FILE_FORMAT,
  ClientCertificateError,
  ClientCertificateErrorCode,
  MAX_CLIENT_CERTIFICATE_BYTES,
  certifyClient,
  checkCertificateKey,
  decodeCertificateFile,
  encodeCertificateFile,
  inspectClientCertificate,
  loadClientCertificate,
  validityOf,
  writeCertificateFile,
} from "../../runtime/identity/certificate-files.js";
import { CERTIFICATE_CLOCK_SKEW_MS } from "../../runtime/session/constants.js";

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 0, 1);
const posix = process.platform !== "win32";

function codeOf(error: unknown): string | undefined {
  return error instanceof ClientCertificateError ? error.code : undefined;
}

const rejectsWith = (code: string, pattern?: RegExp) => (error: unknown) => {
  assert.equal(codeOf(error), code, String(error));
  if (pattern !== undefined) assert.match((error as Error).message, pattern);
  return true;
};

describe("client certificate files", () => {
  let dir: string;
  let ca: Identity;
  let agent: Identity;
  let certificate: Uint8Array;

  before(() => {
    ca = generateIdentity();
    agent = generateIdentity();
    certificate = certifyClient({ issuer: ca, subject: agent, claims: { id: "agent-7", role: "billing-agent" }, lifetimeMs: 24 * HOUR, now: T0 });
  });

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "pqguard-cert-files-"));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("writes a 0644 document holding only the format and the signed bytes, and loads them back with what they say", async () => {
    const file = path.join(dir, "agent.cert");
    await writeCertificateFile(file, certificate);
    if (posix) assert.equal((await stat(file)).mode & 0o777 & ~process.umask(), 0o644 & ~process.umask());
    const doc = JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>;
    assert.deepEqual(Object.keys(doc), ["format", "certificate"]);
    assert.equal(doc.format, CLIENT_CERTIFICATE_FILE_FORMAT);
    assert.match(doc.certificate as string, /^[A-Za-z0-9_-]+$/);
    const loaded = await loadClientCertificate(file);
    assert.deepEqual(loaded.bytes, certificate);
    assert.equal(loaded.fingerprint, agent.keyId);
    assert.equal(loaded.issuerFingerprint, ca.keyId);
    assert.deepEqual(loaded.claims, { id: "agent-7", role: "billing-agent" });
    assert.equal(loaded.notBefore, T0);
    assert.equal(loaded.notAfter, T0 + 24 * HOUR);
    assert.equal(loaded.selfIssued, false);
    assert.equal(loaded.path, file);
  });

  it("refuses to replace a certificate file unless asked, and then replaces it whole, leaving no temporary file", async () => {
    const file = path.join(dir, "agent.cert");
    await writeCertificateFile(file, certificate);
    const renewed = certifyClient({ issuer: ca, subject: agent, claims: { id: "agent-7" }, lifetimeMs: 24 * HOUR, now: T0 + 20 * HOUR });
    await assert.rejects(writeCertificateFile(file, renewed), rejectsWith(ClientCertificateErrorCode.Exists, /already exists; pass --force/));
    assert.deepEqual((await loadClientCertificate(file)).bytes, certificate);
    await writeCertificateFile(file, renewed, { force: true });
    assert.deepEqual((await loadClientCertificate(file)).bytes, renewed);
    assert.deepEqual(await readdir(dir), ["agent.cert"]);
  });

  it("refuses another format by name, and another version of this one with a sentence saying what to do", () => {
    const body = Buffer.from(certificate).toString("base64url");
    assert.throws(
      () => decodeCertificateFile(JSON.stringify({ format: "pqguard-client-certificate/2", certificate: body }), "a.cert"),
      rejectsWith(ClientCertificateErrorCode.UnsupportedFormat, /`a\.cert` is `pqguard-client-certificate\/2`, a version this pqguard does not read \(it reads `pqguard-client-certificate\/1`\)/),
    );
    assert.throws(
      () => decodeCertificateFile(JSON.stringify({ format: "pqguard-key/1", kind: "public" }), "a.pub"),
      rejectsWith(ClientCertificateErrorCode.UnsupportedFormat, /`a\.pub` is a `pqguard-key\/1` document, not a client certificate/),
    );
  });

  it("refuses documents that are not exactly the format: not JSON, no format, extra fields, non-canonical base64url, foreign bytes", () => {
    const body = Buffer.from(certificate).toString("base64url");
    const malformed = (text: string, pattern: RegExp) => assert.throws(() => decodeCertificateFile(text, "a.cert"), rejectsWith(ClientCertificateErrorCode.Malformed, pattern));
    malformed("{", /not valid JSON/);
    malformed("[]", /expected a JSON object/);
    malformed(JSON.stringify({ certificate: body }), /missing or non-text `format`/);
    malformed(JSON.stringify({ format: CLIENT_CERTIFICATE_FILE_FORMAT }), /missing or non-text `certificate`/);
    malformed(JSON.stringify({ format: CLIENT_CERTIFICATE_FILE_FORMAT, certificate: body, notAfter: "2099-01-01" }), /unexpected field `notAfter`; everything else is read from the signed bytes/);
    malformed(JSON.stringify({ format: CLIENT_CERTIFICATE_FILE_FORMAT, certificate: `${body}==` }), /not unpadded base64url/);
    malformed(JSON.stringify({ format: CLIENT_CERTIFICATE_FILE_FORMAT, certificate: Buffer.from(certificate).toString("base64") }), /not unpadded base64url/);
    malformed(JSON.stringify({ format: CLIENT_CERTIFICATE_FILE_FORMAT, certificate: "AQEB" }), /does not hold a client certificate: .*not a client certificate/);
  });

  it("refuses a file in which any one base64url character was changed (altered bytes never load)", async () => {
    const file = path.join(dir, "agent.cert");
    const text = encodeCertificateFile(certificate);
    const body = (JSON.parse(text) as { certificate: string }).certificate;
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    await fc.assert(
      fc.asyncProperty(fc.nat(body.length - 1), fc.nat(alphabet.length - 2), async (position, shift) => {
        const replacement = alphabet[(alphabet.indexOf(body[position]!) + 1 + shift) % alphabet.length]!;
        const altered = body.slice(0, position) + replacement + body.slice(position + 1);
        await writeFile(file, JSON.stringify({ format: CLIENT_CERTIFICATE_FILE_FORMAT, certificate: altered }));
        await assert.rejects(loadClientCertificate(file), (error: unknown) => {
          assert.ok([ClientCertificateErrorCode.Malformed, ClientCertificateErrorCode.BadSignature].includes(codeOf(error) as never), String(error));
          return true;
        });
      }),
      { numRuns: 40, seed: 7 },
    );
  });

  it("says a file whose signature does not verify was altered, naming the issuer it claims", async () => {
    const file = path.join(dir, "agent.cert");
    const altered = Uint8Array.from(certificate);
    altered[altered.length - 1]! ^= 0x01;
    await writeFile(file, encodeCertificateFile(altered));
    await assert.rejects(loadClientCertificate(file), rejectsWith(ClientCertificateErrorCode.BadSignature, new RegExp(`was altered or damaged: its signature does not verify with its issuer's key \`${ca.keyId}\``)));
  });

  it("never throws anything but its typed error on arbitrary file text", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.json(), fc.record({ format: fc.constantFrom(CLIENT_CERTIFICATE_FILE_FORMAT, "pqguard-client-certificate/9"), certificate: fc.base64String() }).map((doc) => JSON.stringify(doc))),
        (text) => {
          try {
            decodeCertificateFile(text, "x.cert");
          } catch (error) {
            assert.ok(error instanceof ClientCertificateError, String(error));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("reports a missing or oversized file with its code, not a crash", async () => {
    await assert.rejects(loadClientCertificate(path.join(dir, "none.cert")), rejectsWith(ClientCertificateErrorCode.Inaccessible, /ENOENT/));
    const big = path.join(dir, "big.cert");
    await writeFile(big, " ".repeat(200 * 1024));
    await assert.rejects(loadClientCertificate(big), rejectsWith(ClientCertificateErrorCode.Malformed, /more than a certificate file holds/));
  });

  it("checks that a certificate certifies the identity it is used with", async () => {
    const file = path.join(dir, "agent.cert");
    await writeCertificateFile(file, certificate);
    const loaded = await loadClientCertificate(file);
    checkCertificateKey(loaded, agent);
    const other = generateIdentity();
    assert.throws(
      () => checkCertificateKey(loaded, other),
      rejectsWith(ClientCertificateErrorCode.KeyMismatch, new RegExp(`\`.*agent\\.cert\` is for key \`${agent.keyId}\`, not for \`${other.keyId}\``)),
    );
    assert.throws(() => checkCertificateKey(loaded, generateIdentity("ML-DSA-44")), rejectsWith(ClientCertificateErrorCode.KeyMismatch));
  });

  it("refuses to issue what could never be used: a KEM key, a bad lifetime, claims larger than a handshake carries", () => {
    const kemKey = generateIdentity("ML-KEM-768");
    assert.throws(() => certifyClient({ issuer: ca, subject: kemKey, claims: { id: "x" }, lifetimeMs: HOUR }), rejectsWith(ClientCertificateErrorCode.NotIssuable, /the subject key is a `ML-KEM-768` key/));
    assert.throws(() => certifyClient({ issuer: kemKey, subject: agent, claims: { id: "x" }, lifetimeMs: HOUR }), rejectsWith(ClientCertificateErrorCode.NotIssuable, /the issuer key is a `ML-KEM-768` key/));
    assert.throws(() => certifyClient({ issuer: ca, subject: agent, claims: { id: "x" }, lifetimeMs: 0 }), rejectsWith(ClientCertificateErrorCode.NotIssuable, /lifetime must be a positive/));
    assert.throws(
      () => certifyClient({ issuer: ca, subject: agent, claims: { id: "x", note: "n".repeat(MAX_CLIENT_CERTIFICATE_BYTES) }, lifetimeMs: HOUR }),
      rejectsWith(ClientCertificateErrorCode.NotIssuable, /more than a handshake carries|65535 bytes/),
    );
    assert.throws(
      () => certifyClient({ issuer: ca, subject: agent, claims: { id: "x", note: "n".repeat(60_000) }, lifetimeMs: HOUR }),
      rejectsWith(ClientCertificateErrorCode.NotIssuable, /the certificate would be \d+ bytes, more than a handshake carries \(57344\); shorten the claims/),
    );
  });

  it("judges the validity window as the server does: strict at the end, lenient by the clock skew at the start", () => {
    const window = { notBefore: T0, notAfter: T0 + HOUR };
    assert.equal(validityOf(window, T0), "valid");
    assert.equal(validityOf(window, T0 + HOUR - 1), "valid");
    assert.equal(validityOf(window, T0 + HOUR), "expired");
    assert.equal(validityOf(window, T0 - CERTIFICATE_CLOCK_SKEW_MS), "valid");
    assert.equal(validityOf(window, T0 - CERTIFICATE_CLOCK_SKEW_MS - 1), "not-yet-valid");
    assert.equal(validityOf({ notBefore: T0, notAfter: T0 }, T0), "expired");
    assert.throws(() => validityOf(window, Number.NaN), /not a time/);
  });

  it("inspects as a server with the given trust would: trusted, untrusted, expired, not yet valid, altered", () => {
    const trustCa = { issuers: [ca.keyId] };
    const ok = inspectClientCertificate(certificate, { now: T0 + HOUR, trust: trustCa });
    assert.deepEqual([ok.status, ok.trusted, ok.signatureValid, ok.validity, ok.problem], ["valid", true, true, "valid", undefined]);
    assert.equal(inspectClientCertificate(certificate, { now: T0 + HOUR }).trusted, undefined);
    const stranger = inspectClientCertificate(certificate, { now: T0 + HOUR, trust: { issuers: [agent.keyId] } });
    assert.deepEqual([stranger.status, stranger.trusted], ["untrusted", false]);
    assert.match(stranger.problem!, /is neither pinned nor certified by a trusted issuer/);
    const late = inspectClientCertificate(certificate, { now: T0 + 25 * HOUR, trust: trustCa });
    assert.deepEqual([late.status, late.trusted], ["expired", true]);
    assert.match(late.problem!, /expired at 2026-01-02T00:00:00\.000Z/);
    const early = inspectClientCertificate(certificate, { now: T0 - HOUR, trust: trustCa });
    assert.equal(early.status, "not-yet-valid");
    const altered = Uint8Array.from(certificate);
    altered[altered.length - 5]! ^= 0x80;
    const bad = inspectClientCertificate(altered, { now: T0 + HOUR, trust: trustCa });
    assert.deepEqual([bad.status, bad.signatureValid, bad.trusted], ["bad-signature", false, undefined]);
  });

  it("accepts a self-issued certificate only where its subject is pinned", () => {
    const self = certifyClient({ issuer: agent, subject: agent, claims: { id: "me" }, lifetimeMs: HOUR, now: T0 });
    const pinned = inspectClientCertificate(self, { now: T0, trust: { clientFingerprints: [agent.keyId] } });
    assert.deepEqual([pinned.status, pinned.selfIssued], ["valid", true]);
    assert.equal(inspectClientCertificate(self, { now: T0, trust: { clientFingerprints: [ca.keyId] } }).status, "untrusted");
    // Pinning a client does not make it an issuer: a certificate it signs for someone else stays untrusted.
    const vouched = certifyClient({ issuer: agent, subject: ca, claims: { id: "ca" }, lifetimeMs: HOUR, now: T0 });
    assert.equal(inspectClientCertificate(vouched, { now: T0, trust: { clientFingerprints: [agent.keyId] } }).status, "untrusted");
  });
});
