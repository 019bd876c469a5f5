// The per-array KeyObject cache: a key is imported once per array, never served stale after the array changes, never
// mixed up with another key or kind; and KEMs give the same results on the cached path as on a fresh import.
import assert from "node:assert/strict";
import { createPublicKey, type KeyObject } from "node:crypto";
import { concatBytes } from "../../runtime/crypto/bytes.js";
import { cachedKeyObject, forgetKeyObject, generateDerKeyPair, moveKeyObject, rememberKeyObject } from "../../runtime/crypto/keyobjects.js";
import { nativeMlKem } from "../../runtime/crypto/native.js";
import { kem } from "../../runtime/crypto/registry.js";
import { requireNative, toHex } from "./vectors.js";

function x25519Public(): Uint8Array {
  return Uint8Array.from(generateDerKeyPair("x25519").publicKey.subarray(-32));
}

/** An importer that counts its calls, for telling a cache hit from a fresh import. */
function counting(): { load: (bytes: Uint8Array) => KeyObject; readonly calls: number } {
  const state = {
    calls: 0,
    load(bytes: Uint8Array): KeyObject {
      state.calls++;
      return createPublicKey({ key: { kty: "OKP", crv: "X25519", x: Buffer.from(bytes).toString("base64url") }, format: "jwk" });
    },
  };
  return state;
}

const exported = (key: KeyObject) => key.export({ format: "jwk" }).x;

describe("KeyObject cache", () => {
  it("imports again after a key is forgotten (as the record layer does before zeroing a key)", () => {
    const importer = counting();
    const bytes = x25519Public();
    cachedKeyObject("x25519 public", bytes, importer.load);
    forgetKeyObject(bytes);
    cachedKeyObject("x25519 public", bytes, importer.load);
    assert.equal(importer.calls, 2);
  });

  it("imports a key once per array, and again when the array's bytes change", () => {
    const importer = counting();
    const bytes = x25519Public();
    const first = cachedKeyObject("x25519 public", bytes, importer.load);
    assert.equal(cachedKeyObject("x25519 public", bytes, importer.load), first);
    assert.equal(importer.calls, 1);
    const other = x25519Public();
    bytes.set(other);
    const rewritten = cachedKeyObject("x25519 public", bytes, importer.load);
    assert.equal(importer.calls, 2);
    assert.equal(exported(rewritten), Buffer.from(other).toString("base64url"));
  });

  it("keeps different arrays and different kinds apart", () => {
    const importer = counting();
    const a = x25519Public();
    const b = x25519Public();
    const keyA = cachedKeyObject("x25519 public", a, importer.load);
    const keyB = cachedKeyObject("x25519 public", b, importer.load);
    assert.notEqual(exported(keyA), exported(keyB));
    // An equal copy in another array is another entry: the cache goes by the caller's array, not by content.
    assert.notEqual(cachedKeyObject("x25519 public", Uint8Array.from(a), importer.load), keyA);
    // The same array read as another kind of key is imported for that kind.
    assert.notEqual(cachedKeyObject("other kind", a, importer.load), keyA);
    assert.equal(importer.calls, 4);
  });

  it("moves a remembered key to the array that now holds its bytes, and only to one that does", () => {
    const importer = counting();
    const component = x25519Public();
    const key = createPublicKey({ key: { kty: "OKP", crv: "X25519", x: Buffer.from(component).toString("base64url") }, format: "jwk" });
    rememberKeyObject("x25519 public", component, key);
    const joined = concatBytes(new Uint8Array(8), component);
    const view = joined.subarray(8);
    moveKeyObject(component, view);
    assert.equal(cachedKeyObject("x25519 public", view, importer.load), key);
    assert.equal(importer.calls, 0);
    // The old array lost its entry.
    assert.notEqual(cachedKeyObject("x25519 public", component, importer.load), key);
    assert.equal(importer.calls, 1);
    // A move to an array with other bytes leaves it uncached.
    const elsewhere = x25519Public();
    rememberKeyObject("x25519 public", component, key);
    moveKeyObject(component, elsewhere);
    assert.notEqual(exported(cachedKeyObject("x25519 public", elsewhere, importer.load)), exported(key));
    assert.equal(importer.calls, 2);
  });
});

/** Registry KEMs whose keys go through the cache: through node:crypto on Node 24, partly through noble on Node 20. */
const CACHED_KEMS = ["X25519MLKEM768", "X25519", "SecP384r1MLKEM1024", "ML-KEM-768"];

describe("KEMs on the cached path agree with a fresh import", () => {
  for (const name of CACHED_KEMS) {
    it(`${name}: the generated secret key, reused, and a fresh copy of it decapsulate alike`, () => {
      const scheme = kem(name);
      const pair = scheme.keygen();
      for (let round = 0; round < 2; round++) {
        const { ciphertext, sharedSecret } = scheme.encapsulate(pair.publicKey);
        assert.equal(toHex(scheme.decapsulate(ciphertext, pair.secretKey)), toHex(sharedSecret), `round ${round}, cached`);
        assert.equal(toHex(scheme.decapsulate(ciphertext, Uint8Array.from(pair.secretKey))), toHex(sharedSecret), `round ${round}, fresh`);
      }
    });

    it(`${name}: an array rewritten with another key is used as that key, not as the cached one`, () => {
      const scheme = kem(name);
      const a = scheme.keygen();
      const b = scheme.keygen();
      const toA = scheme.encapsulate(a.publicKey);
      const toB = scheme.encapsulate(b.publicKey);
      const secretKey = Uint8Array.from(a.secretKey);
      assert.equal(toHex(scheme.decapsulate(toA.ciphertext, secretKey)), toHex(toA.sharedSecret));
      secretKey.set(b.secretKey);
      assert.equal(toHex(scheme.decapsulate(toB.ciphertext, secretKey)), toHex(toB.sharedSecret));
      assert.notEqual(toHex(scheme.decapsulate(toA.ciphertext, secretKey)), toHex(toA.sharedSecret));

      const publicKey = Uint8Array.from(a.publicKey);
      const first = scheme.encapsulate(publicKey);
      assert.equal(toHex(scheme.decapsulate(first.ciphertext, a.secretKey)), toHex(first.sharedSecret));
      publicKey.set(b.publicKey);
      const second = scheme.encapsulate(publicKey);
      assert.equal(toHex(scheme.decapsulate(second.ciphertext, b.secretKey)), toHex(second.sharedSecret));
    });
  }

  it("native ML-KEM: a seeded key pair is reproducible, and its remembered, regenerated and re-imported secret keys decapsulate alike", function () {
    requireNative(this, "mlKem");
    const native = nativeMlKem("ML-KEM-768");
    const seed = new Uint8Array(native.seedLength).fill(7);
    const generated = native.keygen(seed);
    const again = native.keygen(seed);
    assert.deepEqual(again, generated);
    const { ciphertext, sharedSecret } = native.encapsulate(generated.publicKey);
    assert.equal(toHex(native.decapsulate(ciphertext, generated.secretKey)), toHex(sharedSecret));
    assert.equal(toHex(native.decapsulate(ciphertext, again.secretKey)), toHex(sharedSecret));
    assert.equal(toHex(native.decapsulate(ciphertext, Uint8Array.from(generated.secretKey))), toHex(sharedSecret));
  });
});
