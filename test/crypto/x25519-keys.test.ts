// X25519 keys made from a scalar (raw import on Node >= 24.15, a JWK elsewhere): the public key is the one RFC 7748
// gives, whichever import served; and the import helper leaves the stack trace limit as it found it.
import assert from "node:assert/strict";
import { withoutStackTraces } from "../../runtime/crypto/keyobjects.js";
import { x25519, x25519Keygen } from "../../runtime/crypto/node.js";
import { toHex } from "./vectors.js";

const hex = (text: string) => Uint8Array.from(Buffer.from(text, "hex"));
const BASE_POINT = Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 9 : 0));

// RFC 7748 §6.1: Alice's and Bob's private scalars and public keys.
const RFC7748_PAIRS = [
  ["77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"],
  ["5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb", "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"],
] as const;

describe("X25519 key pairs from a scalar", () => {
  it("derives the RFC 7748 public keys from their private scalars", () => {
    for (const [scalar, publicKey] of RFC7748_PAIRS) {
      const pair = x25519Keygen(hex(scalar));
      assert.equal(toHex(pair.publicKey), publicKey);
      assert.equal(toHex(pair.secretKey), scalar + publicKey);
    }
  });

  it("gives a fresh key pair the public key its scalar multiplies the base point to", () => {
    const pair = x25519Keygen();
    assert.equal(toHex(x25519(pair.secretKey.subarray(0, 32), BASE_POINT)), toHex(pair.publicKey));
    assert.equal(toHex(pair.secretKey.subarray(32)), toHex(pair.publicKey));
  });

  it("restores the stack trace limit after an import, also when it throws", () => {
    const before = Error.stackTraceLimit;
    assert.equal(withoutStackTraces(() => Error.stackTraceLimit), 0);
    assert.throws(() =>
      withoutStackTraces(() => {
        throw new RangeError("refused");
      }),
    );
    assert.equal(Error.stackTraceLimit, before);
  });
});
