// Cross-provider interoperability: keys, ciphertexts and signatures made by @noble/post-quantum work with libsodium's
// ML-KEM-768 (every Node) and node:crypto's native ML-KEM/ML-DSA (Node >= 24.7; CI's Node 24 job, skipped elsewhere).
import assert from "node:assert/strict";
import { nativeMlDsa, nativeMlKem } from "../../runtime/crypto/native.js";
import { ML_DSA_NAMES, ML_KEM_NAMES, nobleMlDsa, nobleMlKem } from "../../runtime/crypto/noble.js";
import { x25519MlKem768 } from "../../runtime/crypto/hybrid.js";
import { randomBytes } from "../../runtime/crypto/bytes.js";
import { sodiumMlKem768 } from "../../runtime/crypto/sodium.js";
import type { ProviderKem } from "../../runtime/crypto/define.js";
import { requireNative, toHex } from "./vectors.js";

/** Each provider encapsulates to the other's keys, a seed gives one key pair on both, tampering is rejected alike. */
function interoperates(a: ProviderKem, b: ProviderKem): void {
  for (const [sender, receiver] of [[a, b], [b, a]] as const) {
    const pair = receiver.keygen();
    const sent = sender.encapsulate(pair.publicKey);
    assert.equal(toHex(receiver.decapsulate(sent.ciphertext, pair.secretKey)), toHex(sent.sharedSecret), `${sender.provider} → ${receiver.provider}`);
    const tampered = Uint8Array.from(sent.ciphertext);
    tampered[7]! ^= 0x10;
    assert.equal(toHex(receiver.decapsulate(tampered, pair.secretKey)), toHex(sender.decapsulate(tampered, pair.secretKey)), "implicit rejection");
  }
  // The same seed gives the same key pair on both, so either may hold a long-term key.
  const seed = randomBytes(a.seedLength);
  assert.deepEqual(a.keygen(seed), b.keygen(seed));
}

/** The hybrid built on each provider talks to the one built on the other, both ways. */
function hybridsInteroperate(a: ProviderKem, b: ProviderKem): void {
  const [onA, onB] = [x25519MlKem768(a), x25519MlKem768(b)];
  for (const [sender, receiver] of [[onA, onB], [onB, onA]] as const) {
    const pair = receiver.keygen();
    const { ciphertext, sharedSecret } = sender.encapsulate(pair.publicKey);
    assert.equal(toHex(receiver.decapsulate(ciphertext, pair.secretKey)), toHex(sharedSecret));
  }
}

describe("noble and libsodium ML-KEM-768 interoperate", () => {
  it("each encapsulates to the other's keys, a seed gives the same pair, tampering is rejected alike", () => {
    interoperates(nobleMlKem("ML-KEM-768"), sodiumMlKem768());
  });

  it("X25519MLKEM768 built on either provider talks to the other", () => {
    hybridsInteroperate(nobleMlKem("ML-KEM-768"), sodiumMlKem768());
  });
});

describe("noble and node:crypto ML-KEM interoperate", function () {
  before(function () {
    requireNative(this, "mlKem");
  });

  for (const name of ML_KEM_NAMES) {
    it(`${name}: each encapsulates to the other's keys, a seed gives the same pair, tampering is rejected alike`, () => {
      interoperates(nobleMlKem(name), nativeMlKem(name));
    });
  }

  it("X25519MLKEM768 built on either provider talks to the other", () => {
    hybridsInteroperate(nobleMlKem("ML-KEM-768"), nativeMlKem("ML-KEM-768"));
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
