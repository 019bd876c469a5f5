// The hybrid KEMs: X-Wing against its published vectors, and the TLS-style concatenation hybrids' byte layout,
// their refusal of bad public keys, and their never-throwing decapsulation of tampered ciphertexts.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { concatBytes, randomBytes } from "../../runtime/crypto/bytes.js";
import { nobleXWing } from "../../runtime/crypto/noble.js";
import { kem } from "../../runtime/crypto/registry.js";
import { hex, requireVectors, toHex } from "./vectors.js";

interface XWingVector {
  readonly seed: string;
  readonly randomness: string;
  readonly pk: string;
  readonly sk: string;
  readonly ct: string;
  readonly ss: string;
}

describe("X-Wing known answers (@noble/post-quantum)", () => {
  it("reproduces every published key pair, ciphertext and shared secret", function () {
    const vectors = JSON.parse(readFileSync(requireVectors(this, "xwing/MLKEM768X25519-xwing.json"), "utf8")) as XWingVector[];
    const xwing = nobleXWing();
    assert.ok(vectors.length >= 3, `only ${vectors.length} vectors`);
    for (const [index, v] of vectors.entries()) {
      const pair = xwing.keygen(hex(v.seed));
      assert.equal(toHex(pair.publicKey), v.pk, `vector ${index} public key`);
      assert.equal(toHex(pair.secretKey), v.sk, `vector ${index} secret key`);
      const { ciphertext, sharedSecret } = xwing.encapsulateWithRandomness!(pair.publicKey, hex(v.randomness));
      assert.equal(toHex(ciphertext), v.ct, `vector ${index} ciphertext`);
      assert.equal(toHex(sharedSecret), v.ss, `vector ${index} shared secret`);
      assert.equal(toHex(xwing.decapsulate(hex(v.ct), pair.secretKey)), v.ss, `vector ${index} decapsulation`);
    }
  });
});

/** Every KEM we offer that is a hybrid or a pure ML-KEM: a tampered ciphertext must not throw. */
const NEVER_THROWING = ["X25519MLKEM768", "SecP384r1MLKEM1024", "X-Wing", "ML-KEM-768", "ML-KEM-1024", "ML-KEM-512", "X25519"];

describe("hybrid KEM layout", () => {
  it("X25519MLKEM768 is ML-KEM-768 then X25519 in keys, ciphertext and shared secret", () => {
    const hybrid = kem("X25519MLKEM768");
    const mlkem = kem("ML-KEM-768");
    const x25519 = kem("X25519");
    const pair = hybrid.keygen();
    const { ciphertext, sharedSecret } = hybrid.encapsulate(pair.publicKey);
    assert.equal(hybrid.sharedSecretLength, 64);
    const pq = mlkem.decapsulate(ciphertext.subarray(0, mlkem.ciphertextLength), pair.secretKey.subarray(0, mlkem.secretKeyLength));
    const classical = x25519.decapsulate(ciphertext.subarray(mlkem.ciphertextLength), pair.secretKey.subarray(mlkem.secretKeyLength));
    assert.equal(toHex(sharedSecret), toHex(concatBytes(pq, classical)));
    // The public key halves are the components' own public keys.
    const mlkemEncaps = mlkem.encapsulate(pair.publicKey.subarray(0, mlkem.publicKeyLength));
    assert.equal(
      toHex(mlkem.decapsulate(mlkemEncaps.ciphertext, pair.secretKey.subarray(0, mlkem.secretKeyLength))),
      toHex(mlkemEncaps.sharedSecret),
    );
  });

  it("SecP384r1MLKEM1024 is P-384 ECDH then ML-KEM-1024, with an 80-byte shared secret", () => {
    const hybrid = kem("SecP384r1MLKEM1024");
    const mlkem = kem("ML-KEM-1024");
    const pair = hybrid.keygen();
    const { ciphertext, sharedSecret } = hybrid.encapsulate(pair.publicKey);
    assert.equal(hybrid.sharedSecretLength, 48 + 32);
    assert.equal(ciphertext[0], 0x04, "an uncompressed P-384 point comes first");
    const pq = mlkem.decapsulate(ciphertext.subarray(97), pair.secretKey.subarray(48));
    assert.equal(toHex(sharedSecret.subarray(48)), toHex(pq));
  });

  it("derives hybrid key pairs deterministically from a seed (component seeds concatenated)", () => {
    for (const name of ["X25519MLKEM768", "SecP384r1MLKEM1024"]) {
      const hybrid = kem(name);
      const seed = randomBytes(name === "X25519MLKEM768" ? 64 + 32 : 48 + 64);
      // A P-384 scalar must be below the group order; a leading zero byte guarantees it.
      if (name === "SecP384r1MLKEM1024") seed[0] = 0;
      assert.deepEqual(hybrid.keygen(seed), hybrid.keygen(seed), name);
    }
  });

  for (const name of NEVER_THROWING) {
    it(`${name}: tampering any part of the ciphertext changes the secret and never throws`, () => {
      const k = kem(name);
      const pair = k.keygen();
      const { ciphertext, sharedSecret } = k.encapsulate(pair.publicKey);
      const positions = [0, k.ciphertextLength >> 1, k.ciphertextLength - 33, k.ciphertextLength - 1].filter((p) => p >= 0);
      for (const position of positions) {
        const tampered = Uint8Array.from(ciphertext);
        tampered[position]! ^= 0x04;
        const secret = k.decapsulate(tampered, pair.secretKey);
        assert.equal(secret.length, k.sharedSecretLength);
        assert.notEqual(toHex(secret), toHex(sharedSecret), `${name} position ${position}`);
      }
    });
  }

  it("SecP384r1MLKEM1024 refuses a public key whose P-384 point is not on the curve", () => {
    const hybrid = kem("SecP384r1MLKEM1024");
    const { publicKey } = hybrid.keygen();
    const bad = Uint8Array.from(publicKey);
    bad[50]! ^= 0x01;
    assert.throws(() => hybrid.encapsulate(bad), { code: "PQG5011" });
  });

  it("X25519MLKEM768 refuses a low-order X25519 public key", () => {
    const hybrid = kem("X25519MLKEM768");
    const { publicKey } = hybrid.keygen();
    const bad = Uint8Array.from(publicKey);
    bad.fill(0, publicKey.length - 32);
    assert.throws(() => hybrid.encapsulate(bad), { code: "PQG5014" });
  });
});
