// Key files: generated identities round-trip through NAME.key (mode 0600) and NAME.pub; tampered, misplaced or
// exposed files are refused with typed errors that never contain key bytes.
import assert from "node:assert/strict";
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { signature } from "../../runtime/crypto/registry.js";
import { CryptoError } from "../../runtime/crypto/errors.js";
import { generateIdentity, loadPublicKey, loadSecretKey, MAX_KEY_FILE_BYTES, writeIdentity, type Identity } from "../../runtime/identity/keys.js";
import { parseFingerprint } from "../../runtime/identity/fingerprint.js";

const posix = process.platform !== "win32";

describe("identities and key files", () => {
  let dir: string;
  let identity: Identity;

  before(() => {
    identity = generateIdentity("ML-DSA-65", () => new Date("2026-01-02T03:04:05.000Z"));
  });

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "pqguard-keys-"));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("generates an ML-DSA-65 identity whose key id is its fingerprint and which signs", () => {
    assert.equal(identity.algorithm, "ML-DSA-65");
    assert.equal(identity.created, "2026-01-02T03:04:05.000Z");
    assert.equal(parseFingerprint(identity.keyId).algorithm, "ML-DSA-65");
    const scheme = signature("ML-DSA-65");
    const message = Uint8Array.of(1, 2, 3);
    const sig = scheme.sign(message, identity.secretKey, new Uint8Array());
    assert.equal(scheme.verify(sig, message, identity.publicKey, new Uint8Array()), true);
    assert.notEqual(generateIdentity("ML-DSA-65").keyId, identity.keyId);
  });

  it("writes a 0600 secret file and a public file that load back to the same identity", async () => {
    const base = path.join(dir, "server");
    const files = await writeIdentity(identity, base);
    assert.equal(files.secretKeyPath, `${base}.key`);
    if (posix) assert.equal((await stat(files.secretKeyPath)).mode & 0o777, 0o600);
    const secret = await loadSecretKey(files.secretKeyPath);
    assert.equal(secret.keyId, identity.keyId);
    assert.deepEqual(secret.secretKey, identity.secretKey);
    assert.deepEqual(secret.publicKey, identity.publicKey);
    const pub = await loadPublicKey(files.publicKeyPath);
    assert.deepEqual(pub, { algorithm: "ML-DSA-65", keyId: identity.keyId, created: identity.created, publicKey: identity.publicKey });
  });

  it("writes self-describing pqguard-key/1 documents, with no secret in the public file", async () => {
    const base = path.join(dir, "id");
    await writeIdentity(identity, base);
    const secretDoc = JSON.parse(await readFile(`${base}.key`, "utf8"));
    const publicDoc = JSON.parse(await readFile(`${base}.pub`, "utf8"));
    assert.deepEqual(Object.keys(secretDoc).sort(), ["algorithm", "created", "format", "key", "keyId", "kind"]);
    assert.equal(secretDoc.format, "pqguard-key/1");
    assert.equal(secretDoc.kind, "secret");
    assert.equal(publicDoc.kind, "public");
    assert.equal(publicDoc.keyId, identity.keyId);
    assert.equal(Buffer.from(secretDoc.key, "base64").length, 32, "the secret file stores the 32-byte FIPS 204 seed");
    assert.ok(!(await readFile(`${base}.pub`, "utf8")).includes(secretDoc.key));
  });

  it("refuses to overwrite existing key files unless forced", async () => {
    const base = path.join(dir, "id");
    await writeIdentity(identity, base);
    const other = generateIdentity("ML-DSA-44");
    await assert.rejects(writeIdentity(other, base), { code: "PQG5105" });
    assert.equal((await loadPublicKey(`${base}.pub`)).keyId, identity.keyId, "nothing was replaced");
    await writeIdentity(other, base, { force: true });
    assert.equal((await loadSecretKey(`${base}.key`)).keyId, other.keyId);
  });

  it("refuses a secret key file that group or others can read", async function () {
    if (!posix) this.skip();
    const base = path.join(dir, "id");
    await writeIdentity(identity, base);
    for (const mode of [0o640, 0o604, 0o644]) {
      await chmod(`${base}.key`, mode);
      await assert.rejects(loadSecretKey(`${base}.key`), (error: unknown) => {
        assert.ok(error instanceof CryptoError);
        assert.equal(error.code, "PQG5102");
        assert.match(error.message, /is readable by group or others \(mode 0\d{3}\); run `chmod 600/);
        return true;
      });
    }
  });

  it("refuses an oversized key file, a directory and a missing file without reading them as keys", async () => {
    const big = path.join(dir, "big.key");
    await writeFile(big, "x".repeat(MAX_KEY_FILE_BYTES + 1), { mode: 0o600 });
    await assert.rejects(loadSecretKey(big), (error: CryptoError) => error.code === "PQG5103" && /more than a key file holds/.test(error.message));
    await assert.rejects(loadPublicKey(dir), (error: CryptoError) => error.code === "PQG5101" && /EISDIR/.test(error.message));
    await assert.rejects(loadPublicKey(path.join(dir, "absent.pub")), (error: CryptoError) => error.code === "PQG5101" && /ENOENT/.test(error.message));
  });

  it("refuses a force-overwrite to leave the secret under an old, wider mode", async function () {
    if (!posix) this.skip();
    const base = path.join(dir, "id");
    await writeFile(`${base}.key`, "old", { mode: 0o644 });
    await chmod(`${base}.key`, 0o644);
    await writeIdentity(identity, base, { force: true });
    assert.equal((await stat(`${base}.key`)).mode & 0o777, 0o600);
  });

  it("refuses the wrong kind, a mismatched key id, bad base64 and non-JSON, without quoting the key", async () => {
    const base = path.join(dir, "id");
    await writeIdentity(identity, base);
    const secretText = await readFile(`${base}.key`, "utf8");
    const secretDoc = JSON.parse(secretText);
    const write = async (name: string, content: string) => {
      const file = path.join(dir, name);
      await writeFile(file, content, { mode: 0o600 });
      return file;
    };
    const expectRefusal = async (promise: Promise<unknown>, code: string) =>
      assert.rejects(promise, (error: unknown) => {
        assert.ok(error instanceof CryptoError, String(error));
        assert.equal(error.code, code);
        assert.ok(!error.message.includes(secretDoc.key), "the message must not contain the key");
        assert.ok(!error.message.includes(secretDoc.key.slice(0, 12)), "nor any prefix of it");
        return true;
      });
    // A public file made private is still the wrong kind of file to load as a secret.
    await chmod(`${base}.pub`, 0o600);
    await expectRefusal(loadSecretKey(`${base}.pub`), "PQG5104");
    await expectRefusal(loadPublicKey(`${base}.key`), "PQG5104");
    const otherId = generateIdentity("ML-DSA-65").keyId;
    await expectRefusal(loadSecretKey(await write("wrong-id.key", JSON.stringify({ ...secretDoc, keyId: otherId }))), "PQG5103");
    await expectRefusal(loadSecretKey(await write("bad-b64.key", JSON.stringify({ ...secretDoc, key: `${secretDoc.key}!` }))), "PQG5103");
    await expectRefusal(loadSecretKey(await write("short.key", JSON.stringify({ ...secretDoc, key: secretDoc.key.slice(4) }))), "PQG5103");
    await expectRefusal(loadSecretKey(await write("truncated.key", secretText.slice(0, secretText.length - 20))), "PQG5103");
    await expectRefusal(loadSecretKey(await write("alg.key", JSON.stringify({ ...secretDoc, algorithm: "RSA-2048" }))), "PQG5103");
    await expectRefusal(loadSecretKey(await write("format.key", JSON.stringify({ ...secretDoc, format: "pqguard-key/2" }))), "PQG5107");
    await expectRefusal(loadSecretKey(await write("other-format.key", JSON.stringify({ ...secretDoc, format: "something/1" }))), "PQG5103");
    await expectRefusal(loadSecretKey(path.join(dir, "missing.key")), "PQG5101");
  });

  it("generates KEM identities too (a server's certified ML-KEM key)", async () => {
    const kemIdentity = generateIdentity("ML-KEM-768");
    assert.match(kemIdentity.keyId, /^mlkem768:[a-z2-7]{52}$/);
    const base = path.join(dir, "kem");
    await writeIdentity(kemIdentity, base);
    assert.deepEqual((await loadSecretKey(`${base}.key`)).secretKey, kemIdentity.secretKey);
    assert.throws(() => generateIdentity("Ed25519"), { code: "PQG5001" });
    assert.throws(() => generateIdentity("X25519"), { code: "PQG5001", message: /unknown key algorithm `X25519`/ });
  });
});
