// Fingerprints: a stable, canonical text form of SHA3-256(public key), parsed back exactly and refused when malformed.
import assert from "node:assert/strict";
import fc from "fast-check";
import { hash } from "../../runtime/crypto/registry.js";
import { base32, decodeBase32, fingerprint, fingerprintPrefix, parseFingerprint } from "../../runtime/identity/fingerprint.js";

describe("fingerprints", () => {
  it("encodes base32 exactly as RFC 4648 section 10, lowercase and unpadded", () => {
    const cases: [string, string][] = [
      ["", ""],
      ["f", "my"],
      ["fo", "mzxq"],
      ["foo", "mzxw6"],
      ["foob", "mzxw6yq"],
      ["fooba", "mzxw6ytb"],
      ["foobar", "mzxw6ytboi"],
    ];
    for (const [input, expected] of cases) {
      assert.equal(base32(new TextEncoder().encode(input)), expected);
      assert.equal(Buffer.from(decodeBase32(expected)!).toString(), input);
    }
  });

  it("round-trips any bytes through base32, and accepts only the canonical spelling", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const text = base32(bytes);
        assert.deepEqual(decodeBase32(text), bytes);
        // Uppercase is another spelling of the same bytes; only the lowercase one is accepted (digits have no case).
        if (/[a-z]/.test(text)) assert.equal(decodeBase32(text.toUpperCase()), undefined);
        assert.equal(decodeBase32(`${text}=`), undefined);
      }),
      { numRuns: 200 },
    );
    assert.equal(decodeBase32("mz"), undefined, "non-zero padding bits");
    assert.equal(decodeBase32("my======"), undefined, "padding");
  });

  it("is the algorithm prefix and the base32 SHA3-256 of the public key", () => {
    const publicKey = Uint8Array.from({ length: 1952 }, (_, i) => i & 0xff);
    const text = fingerprint("ML-DSA-65", publicKey);
    assert.equal(text, `mldsa65:${base32(hash("SHA3-256").digest(publicKey))}`);
    assert.match(text, /^mldsa65:[a-z2-7]{52}$/);
    assert.equal(fingerprintPrefix("ML-KEM-768"), "mlkem768");
    assert.equal(fingerprintPrefix("X25519MLKEM768"), "x25519mlkem768");
  });

  it("parses its own output back to the algorithm and digest", () => {
    const publicKey = new Uint8Array(1312).fill(7);
    const text = fingerprint("ML-DSA-44", publicKey);
    const parsed = parseFingerprint(text);
    assert.equal(parsed.algorithm, "ML-DSA-44");
    assert.equal(parsed.prefix, "mldsa44");
    assert.deepEqual(parsed.digest, hash("SHA3-256").digest(publicKey));
    assert.equal(parsed.text, text);
  });

  it("refuses malformed fingerprints with a typed error", () => {
    const good = fingerprint("ML-DSA-65", new Uint8Array(1952));
    const [, encoded] = good.split(":");
    for (const bad of [
      "mldsa65",
      `rsa2048:${encoded}`,
      `mldsa65:${encoded!.slice(1)}`,
      `mldsa65:${encoded}a`,
      `mldsa65:${encoded!.toUpperCase()}`,
      `mldsa65:${encoded!.slice(0, -1)}1`,
      `MLDSA65:${encoded}`,
    ]) {
      assert.throws(() => parseFingerprint(bad), { code: "PQG5106" }, bad);
    }
    assert.throws(() => fingerprint("Ed25519", new Uint8Array(32)), { code: "PQG5001" });
  });
});
