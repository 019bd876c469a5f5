// Cross-provider interoperability: keys, ciphertexts and signatures made by @noble/post-quantum work with libsodium's
// ML-KEM-768 (every Node) and node:crypto's native ML-KEM/ML-DSA (Node >= 24.7; CI's Node 24 job, skipped elsewhere).
import assert from "node:assert/strict";
import { nativeMlDsa, nativeMlKem } from "../../runtime/crypto/native.js";
import { ML_DSA_NAMES, ML_KEM_NAMES, nobleMlDsa, nobleMlKem } from "../../runtime/crypto/noble.js";
import { x25519MlKem768 } from "../../runtime/crypto/hybrid.js";
import { randomBytes } from "../../runtime/crypto/bytes.js";
import { sodiumMlKem768 } from "../../runtime/crypto/sodium.js";
import { requireNative, toHex } from "./vectors.js";

describe("noble and libsodium ML-KEM-768 interoperate", () => {
  it("noble encapsulates to a libsodium key, libsodium decapsulates, and back; a seed gives the same pair on both", () => {
    const noble = nobleMlKem("ML-KEM-768");
    const sodium = sodiumMlKem768();
    const sodiumPair = sodium.keygen();
    const toSodium = noble.encapsulate(sodiumPair.publicKey);
    assert.equal(toHex(sodium.decapsulate(toSodium.ciphertext, sodiumPair.secretKey)), toHex(toSodium.sharedSecret));
    const noblePair = noble.keygen();
    const toNoble = sodium.encapsulate(noblePair.publicKey);
    assert.equal(toHex(noble.decapsulate(toNoble.ciphertext, noblePair.secretKey)), toHex(toNoble.sharedSecret));
    const seed = randomBytes(noble.seedLength);
    assert.deepEqual(sodium.keygen(seed), noble.keygen(seed));
  });

  it("both reject a tampered ciphertext with the same implicit-rejection secret", () => {
    const noble = nobleMlKem("ML-KEM-768");
    const sodium = sodiumMlKem768();
    const pair = noble.keygen();
    const tampered = Uint8Array.from(sodium.encapsulate(pair.publicKey).ciphertext);
    tampered[7]! ^= 0x10;
    assert.equal(toHex(sodium.decapsulate(tampered, pair.secretKey)), toHex(noble.decapsulate(tampered, pair.secretKey)));
  });

  it("X25519MLKEM768 built on either provider talks to the other", () => {
    const onNoble = x25519MlKem768(nobleMlKem("ML-KEM-768"));
    const onSodium = x25519MlKem768(sodiumMlKem768());
    const pair = onSodium.keygen();
    const { ciphertext, sharedSecret } = onNoble.encapsulate(pair.publicKey);
    assert.equal(toHex(onSodium.decapsulate(ciphertext, pair.secretKey)), toHex(sharedSecret));
    const noblePair = onNoble.keygen();
    const back = onSodium.encapsulate(noblePair.publicKey);
    assert.equal(toHex(onNoble.decapsulate(back.ciphertext, noblePair.secretKey)), toHex(back.sharedSecret));
  });
});

describe("noble and node:crypto ML-KEM interoperate", function () {
  before(function () {
    requireNative(this, "mlKem");
  });

  for (const name of ML_KEM_NAMES) {
    it(`${name}: noble encapsulates to a native key, native decapsulates, and back`, () => {
      const noble = nobleMlKem(name);
      const native = nativeMlKem(name);
      const nativePair = native.keygen();
      const toNative = noble.encapsulate(nativePair.publicKey);
      assert.equal(toHex(native.decapsulate(toNative.ciphertext, nativePair.secretKey)), toHex(toNative.sharedSecret));
      const noblePair = noble.keygen();
      const toNoble = native.encapsulate(noblePair.publicKey);
      assert.equal(toHex(noble.decapsulate(toNoble.ciphertext, noblePair.secretKey)), toHex(toNoble.sharedSecret));
      // The same seed gives the same key pair on both, so either may hold a long-term key.
      const seed = randomBytes(noble.seedLength);
      assert.deepEqual(native.keygen(seed), noble.keygen(seed));
    });
  }

  it("both reject a tampered ciphertext with the same implicit-rejection secret", () => {
    const noble = nobleMlKem("ML-KEM-768");
    const native = nativeMlKem("ML-KEM-768");
    const pair = noble.keygen();
    const tampered = Uint8Array.from(native.encapsulate(pair.publicKey).ciphertext);
    tampered[7]! ^= 0x10;
    assert.equal(toHex(native.decapsulate(tampered, pair.secretKey)), toHex(noble.decapsulate(tampered, pair.secretKey)));
  });

  it("X25519MLKEM768 built on either provider talks to the other", () => {
    const onNoble = x25519MlKem768(nobleMlKem("ML-KEM-768"));
    const onNative = x25519MlKem768(nativeMlKem("ML-KEM-768"));
    const pair = onNative.keygen();
    const { ciphertext, sharedSecret } = onNoble.encapsulate(pair.publicKey);
    assert.equal(toHex(onNative.decapsulate(ciphertext, pair.secretKey)), toHex(sharedSecret));
  });
});

describe("noble and node:crypto ML-DSA interoperate", function () {
  before(function () {
    requireNative(this, "mlDsa");
  });

  for (const name of ML_DSA_NAMES) {
    it(`${name}: each verifies the other's signatures, with the context bound in`, () => {
      const noble = nobleMlDsa(name);
      const native = nativeMlDsa(name);
      const message = new TextEncoder().encode("server kem key, valid until ...");
      const context = new TextEncoder().encode("pqguard/interop");
      const noblePair = noble.keygen();
      const nativePair = native.keygen();
      const byNoble = noble.sign(message, nativePair.secretKey, context);
      assert.equal(native.verify(byNoble, message, nativePair.publicKey, context), true);
      const byNative = native.sign(message, noblePair.secretKey, context);
      assert.equal(noble.verify(byNative, message, noblePair.publicKey, context), true);
      assert.equal(noble.verify(byNative, message, noblePair.publicKey, new Uint8Array()), false);
      assert.equal(native.verify(byNoble, message, nativePair.publicKey, Uint8Array.of(1)), false);
    });
  }
});
