// The keyring, trust lists and revocation, attacked: secret files others can read, forged and unendorsed keys, a
// revoked key that was pinned, manifests of retired and revoked keys, and files of a version this build does not read.
import assert from "node:assert/strict";
import { chmod, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stat } from "node:fs/promises";
import { CryptoErrorCode } from "../../runtime/crypto/errors.js";
import { CryptoConfigErrorCode, decodeCryptoConfig } from "../../runtime/crypto/config-file.js";
import {
  Keyring,
  KeyringErrorCode,
  initKeyring,
  revokeKeyring,
  rotateKeyring,
  endorse,
} from "../../runtime/identity/keyring.js";
import { generateIdentity, loadSecretKey, writeIdentity } from "../../runtime/identity/keys.js";
import { RevocationListErrorCode, decodeRevocationList } from "../../runtime/identity/revocation-list.js";
import { TrustListErrorCode, TrustedServerKeys, exportTrustList } from "../../runtime/identity/trust-list.js";
import { ManifestErrorCode } from "../../runtime/manifest/errors.js";
import { signManifest, verifySignedManifest } from "../../runtime/manifest/signed.js";
import { verifyAuditLog } from "../../runtime/audit/verify.js";

const HOUR = 3600_000;

async function scratch(): Promise<string> {
  return mkdtemp(join(tmpdir(), "pqguard-keyring-"));
}

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

describe("keyring", () => {
  it("starts with an active key and a pre-published next key endorsed by it; directory 0700, secret files 0600", async () => {
    const dir = join(await scratch(), "ring");
    const keyring = await initKeyring(dir);
    assert.deepEqual(keyring.keys.map((k) => k.state), ["active", "next"]);
    assert.equal(keyring.next!.endorsedBy, keyring.active!.keyId);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    for (const key of keyring.keys) {
      assert.equal((await stat(join(dir, `${key.file}.key`))).mode & 0o777, 0o600);
      assert.equal(key.fingerprint, key.keyId);
      assert.match(key.keyId, /^mldsa65:/);
    }
  });

  it("refuses a secret key file that others can read, and a keyring directory open to others", async () => {
    const dir = join(await scratch(), "ring");
    const keyring = await initKeyring(dir);
    const file = join(dir, `${keyring.active!.file}.key`);
    await chmod(file, 0o644);
    assert.equal(await codeOf(keyring.loadSecret(keyring.active!)), CryptoErrorCode.KeyFileInsecure);
    assert.equal(await codeOf(rotateKeyring(dir)), CryptoErrorCode.KeyFileInsecure);
    await chmod(file, 0o600);
    await chmod(dir, 0o755);
    assert.equal(await codeOf(Keyring.open(dir)), KeyringErrorCode.Insecure);
  });

  it("rotates: active to retiring for the grace period, next to active, a new next endorsed by the new active", async () => {
    const dir = join(await scratch(), "ring");
    const t0 = Date.UTC(2026, 0, 1);
    const first = await initKeyring(dir, { now: () => t0 });
    const rotation = await rotateKeyring(dir, { now: () => t0 + HOUR, graceMs: 2 * HOUR });
    assert.equal(rotation.activated.keyId, first.next!.keyId);
    assert.equal(rotation.retiring!.keyId, first.active!.keyId);
    assert.equal(rotation.retiring!.state, "retiring");
    assert.equal(rotation.retiring!.notAfter, new Date(t0 + 3 * HOUR).toISOString());
    assert.equal(rotation.next.endorsedBy, rotation.activated.keyId);
    assert.deepEqual(rotation.keyring.accepted(t0 + 2 * HOUR).map((k) => k.state).sort(), ["active", "next", "retiring"]);
    assert.deepEqual(rotation.keyring.accepted(t0 + 4 * HOUR).map((k) => k.state).sort(), ["active", "next"], "the retiring key is not accepted after its grace");
  });

  it("changes algorithm by a rotation: the pre-published next key of the old algorithm is revoked unused", async () => {
    const dir = join(await scratch(), "ring");
    const first = await initKeyring(dir);
    const rotation = await rotateKeyring(dir, { algorithm: "ML-DSA-87" });
    assert.equal(rotation.activated.algorithm, "ML-DSA-87");
    assert.equal(rotation.activated.endorsedBy, first.active!.keyId, "the new key is endorsed by the key clients trust");
    assert.equal(rotation.keyring.find(first.next!.keyId)!.state, "revoked");
    assert.equal(rotation.next.algorithm, "ML-DSA-87");
  });

  it("revoking the active key activates the pre-published next key at once", async () => {
    const dir = join(await scratch(), "ring");
    const first = await initKeyring(dir);
    const after = await revokeKeyring(dir, first.active!.keyId, { reason: "compromised" });
    assert.equal(after.find(first.active!.keyId)!.state, "revoked");
    assert.equal(after.find(first.active!.keyId)!.revocationReason, "compromised");
    assert.equal(after.active!.keyId, first.next!.keyId);
    assert.equal(await codeOf(revokeKeyring(dir, first.active!.keyId)), KeyringErrorCode.InvalidOperation, "revoked twice");
    assert.equal(await codeOf(revokeKeyring(dir, "mldsa65:nosuchkey")), KeyringErrorCode.InvalidOperation);
  });

  it("refuses an endorsement that does not verify (a key slipped into keyring.json)", async () => {
    const dir = join(await scratch(), "ring");
    await initKeyring(dir);
    const path = join(dir, "keyring.json");
    const doc = JSON.parse(await readFile(path, "utf8"));
    const intruder = generateIdentity("ML-DSA-65");
    await writeIdentity(intruder, join(dir, "intruder"));
    doc.keys[1] = { ...doc.keys[1], keyId: intruder.keyId, fingerprint: intruder.keyId, file: "intruder" };
    await writeFile(path, JSON.stringify(doc));
    assert.equal(await codeOf(Keyring.open(dir)), KeyringErrorCode.BadEndorsement);
  });

  it("refuses a keyring, key file, manifest, audit line, crypto config and revocation list of an unknown version, by code", async () => {
    const dir = join(await scratch(), "ring");
    const keyring = await initKeyring(dir);
    const path = join(dir, "keyring.json");
    const text = await readFile(path, "utf8");
    await writeFile(path, text.replace("pqguard-keyring/1", "pqguard-keyring/2"));
    assert.equal(await codeOf(Keyring.open(dir)), KeyringErrorCode.UnsupportedFormat);
    await writeFile(path, text);

    const pub = join(dir, `${keyring.active!.file}.key`);
    const keyText = await readFile(pub, "utf8");
    await writeFile(pub, keyText.replace("pqguard-key/1", "pqguard-key/2"));
    assert.equal(await codeOf(loadSecretKey(pub)), CryptoErrorCode.KeyFileVersion);
    await writeFile(pub, keyText);

    const identity = await keyring.loadSecret(keyring.active!);
    const manifest = signManifest([{ name: "t", inputSchema: { type: "object" } }], identity);
    assert.throws(() => verifySignedManifest({ ...manifest, format: "pqguard-manifest/2" }), { code: ManifestErrorCode.UnsupportedVersion });

    const log = join(dir, "audit.log");
    await writeFile(log, `${JSON.stringify({ format: "pqguard-audit/2", seq: 0, hash: "x", prev: "y" })}\n`);
    const verdict = await verifyAuditLog(log);
    assert.equal(verdict.ok, false);
    assert.equal((verdict as { problem: string }).problem, "unsupported-version");

    assert.throws(() => decodeCryptoConfig(JSON.stringify({ format: "pqguard-crypto/2" }), "c.json"), { code: CryptoConfigErrorCode.Malformed, message: /version this pqguard does not read/ });
    assert.throws(() => decodeRevocationList(JSON.stringify({ format: "pqguard-revocation-list/2", revoked: [] }), "r.json"), {
      code: RevocationListErrorCode.Malformed,
      message: /version this pqguard does not read/,
    });
  });

  it("verifies a manifest signed by a retiring key until its not-after, and one signed by a revoked key never", async () => {
    const dir = join(await scratch(), "ring");
    const t0 = Date.now();
    const first = await initKeyring(dir, { now: () => t0 });
    const oldKey = await first.loadSecret(first.active!);
    const manifest = signManifest([{ name: "t", inputSchema: { type: "object" } }], oldKey, { now: t0, ttlMs: 30 * 24 * HOUR });
    const rotated = (await rotateKeyring(dir, { now: () => t0 + HOUR, graceMs: 2 * HOUR })).keyring;
    assert.equal(verifySignedManifest(manifest, { signerKeys: rotated.keys, now: t0 + 2 * HOUR }).issuer, oldKey.keyId);
    assert.throws(() => verifySignedManifest(manifest, { signerKeys: rotated.keys, now: t0 + 4 * HOUR }), { code: ManifestErrorCode.SignerNotAccepted });
    const revoked = await revokeKeyring(dir, oldKey.keyId, { now: () => t0 + HOUR + 1 });
    assert.throws(() => verifySignedManifest(manifest, { signerKeys: revoked.keys, now: t0 + HOUR + 2 }), { code: ManifestErrorCode.SignerNotAccepted, message: /revoked/ });
    const stranger = generateIdentity("ML-DSA-65");
    assert.throws(() => verifySignedManifest(signManifest([{ name: "t", inputSchema: { type: "object" } }], stranger), { signerKeys: revoked.keys }), { code: ManifestErrorCode.WrongSigner });
  });
});

describe("trust lists (continuity)", () => {
  it("a client that pinned the first key accepts the key it endorsed, and follows a chain of rotations", async () => {
    const dir = join(await scratch(), "ring");
    const first = await initKeyring(dir);
    const client = new TrustedServerKeys([first.active!.keyId]);
    let keyring = first;
    for (let i = 0; i < 3; i++) keyring = (await rotateKeyring(dir)).keyring;
    assert.equal(client.includes(keyring.active!.keyId), false, "not before the trust list");
    client.apply(await exportTrustList(keyring, await keyring.loadSecret(keyring.active!)));
    assert.equal(client.includes(keyring.active!.keyId), true);
    assert.equal(client.includes(keyring.next!.keyId), true);
  });

  it("does not accept a key nobody it trusts endorsed, nor a list signed by such a key", async () => {
    const dir = join(await scratch(), "ring");
    const first = await initKeyring(dir);
    const client = new TrustedServerKeys([first.active!.keyId]);
    // An attacker's own keyring: its keys are unendorsed by anything the client trusts.
    const evil = await initKeyring(join(await scratch(), "evil"));
    const evilList = await exportTrustList(evil, await evil.loadSecret(evil.active!));
    assert.throws(() => client.apply(evilList), { code: TrustListErrorCode.Untrusted });
    assert.equal(client.includes(evil.active!.keyId), false);
    // The attacker endorses its key with its own key and splices it into the genuine list: the list's signature breaks.
    const genuine = await exportTrustList(first, await first.loadSecret(first.active!));
    const evilKey = await evil.loadSecret(evil.active!);
    const spliced = {
      ...genuine,
      keys: [...genuine.keys, { ...evilList.keys[0]!, state: "active" as const, endorsedBy: first.active!.keyId, endorsement: endorse(evilKey, evilKey.keyId) }],
    };
    assert.throws(() => client.apply(spliced), { code: TrustListErrorCode.Untrusted });
    assert.equal(client.includes(evilKey.keyId), false);
  });

  it("drops a pinned key the server revoked, and refuses an older list after a newer one (rollback)", async () => {
    const dir = join(await scratch(), "ring");
    const first = await initKeyring(dir);
    const client = new TrustedServerKeys([first.active!.keyId, first.next!.keyId]);
    const old = await exportTrustList(first, await first.loadSecret(first.active!), Date.now() - 1000);
    const revoked = await revokeKeyring(dir, first.active!.keyId);
    client.apply(await exportTrustList(revoked, await revoked.loadSecret(revoked.active!)));
    assert.equal(client.includes(first.active!.keyId), false, "a revoked key is refused even when pinned");
    assert.equal(client.includes(first.next!.keyId), true);
    assert.throws(() => client.apply(old), { code: TrustListErrorCode.Stale });
    assert.equal(client.includes(first.active!.keyId), false);
  });

  it("stops accepting a retiring key at its not-after", async () => {
    const dir = join(await scratch(), "ring");
    let now = Date.now();
    const first = await initKeyring(dir, { now: () => now });
    const client = new TrustedServerKeys([first.active!.keyId], () => now);
    const rotated = (await rotateKeyring(dir, { now: () => now, graceMs: HOUR })).keyring;
    client.apply(await exportTrustList(rotated, await rotated.loadSecret(rotated.active!), now));
    assert.equal(client.includes(first.active!.keyId), true);
    now += 2 * HOUR;
    assert.equal(client.includes(first.active!.keyId), false);
    assert.equal(client.includes(rotated.active!.keyId), true);
  });
});
