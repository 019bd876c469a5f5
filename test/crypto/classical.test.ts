// X25519, AES-256-GCM, ChaCha20-Poly1305 and HKDF-SHA256 against Wycheproof known answers, on every provider we ship.
import assert from "node:assert/strict";
import { nodeAes256Gcm, nodeChaCha20Poly1305, nodeHkdf, x25519 } from "../../runtime/crypto/node.js";
import { sodiumChaCha20Poly1305 } from "../../runtime/crypto/sodium.js";
import type { Aead } from "../../runtime/crypto/types.js";
import { hex, readWycheproof, requireVectors, toHex } from "./vectors.js";

describe("X25519 known answers (node:crypto)", () => {
  it("computes every Wycheproof shared secret, and refuses the all-zero one", function () {
    const file = readWycheproof(requireVectors(this, "wycheproof/x25519_test.json"));
    let computed = 0;
    let refused = 0;
    for (const group of file.testGroups) {
      for (const test of group.tests) {
        const where = `tcId ${test.tcId} (${test.comment ?? ""})`;
        const run = () => x25519(hex(test.private), hex(test.public));
        if (/^0+$/.test(String(test.shared))) {
          // Low-order public keys: "acceptable" to compute, but a zero secret is independent of our key. We refuse it.
          assert.throws(run, { code: "PQG5014" }, where);
          refused++;
        } else {
          assert.equal(toHex(run()), test.shared, where);
          computed++;
        }
      }
    }
    assert.ok(computed >= 450 && refused >= 10, `computed ${computed}, refused ${refused}`);
  });
});

function aeadSuite(aead: Aead, fileName: string): void {
  describe(`${aead.name} known answers (${aead.provider})`, () => {
    it("seals and opens the Wycheproof vectors with 256-bit keys and 96-bit nonces, and rejects every forgery", function () {
      const file = readWycheproof(requireVectors(this, fileName));
      let valid = 0;
      let invalid = 0;
      let refusedSizes = 0;
      for (const group of file.testGroups) {
        if (group.keySize !== 256 || group.tagSize !== 128) continue;
        for (const test of group.tests) {
          const where = `tcId ${test.tcId} (${test.comment ?? ""})`;
          const key = hex(test.key);
          const nonce = hex(test.iv);
          const aad = hex(test.aad);
          const sealed = new Uint8Array([...hex(test.ct), ...hex(test.tag)]);
          if (group.ivSize !== 96) {
            // Only the RFC 8439 / SP 800-38D recommended 96-bit nonce is accepted; any other size is refused outright.
            assert.throws(() => aead.open(key, nonce, sealed, aad), { code: "PQG5010" }, where);
            refusedSizes++;
            continue;
          }
          if (test.result === "valid") {
            assert.equal(toHex(aead.seal(key, nonce, hex(test.msg), aad)), toHex(sealed), where);
            assert.equal(toHex(aead.open(key, nonce, sealed, aad) ?? Uint8Array.of(0xde, 0xad)), test.msg, where);
            valid++;
          } else {
            assert.equal(aead.open(key, nonce, sealed, aad), undefined, where);
            invalid++;
          }
        }
      }
      assert.ok(valid >= 20 && invalid >= 20 && refusedSizes >= 9, `valid ${valid}, invalid ${invalid}, refused sizes ${refusedSizes}`);
    });
  });
}

aeadSuite(nodeAes256Gcm(), "wycheproof/aes_gcm_test.json");
aeadSuite(nodeChaCha20Poly1305(), "wycheproof/chacha20_poly1305_test.json");
aeadSuite(sodiumChaCha20Poly1305(), "wycheproof/chacha20_poly1305_test.json");

describe("HKDF-SHA256 known answers (node:crypto)", () => {
  it("derives every Wycheproof output, one-shot and as extract then expand, and refuses oversized outputs", function () {
    const file = readWycheproof(requireVectors(this, "wycheproof/hkdf_sha256_test.json"));
    const kdf = nodeHkdf("HKDF-SHA256");
    let valid = 0;
    let invalid = 0;
    for (const group of file.testGroups) {
      for (const test of group.tests) {
        const where = `tcId ${test.tcId} (${test.comment ?? ""})`;
        const ikm = hex(test.ikm);
        const salt = hex(test.salt);
        const info = hex(test.info);
        const size = Number(test.size);
        if (test.result === "valid") {
          assert.equal(toHex(kdf.hkdf(ikm, salt, info, size)), test.okm, where);
          assert.equal(toHex(kdf.expand(kdf.extract(salt, ikm), info, size)), test.okm, where);
          valid++;
        } else {
          assert.throws(() => kdf.hkdf(ikm, salt, info, size), { code: "PQG5015" }, where);
          invalid++;
        }
      }
    }
    assert.ok(valid >= 80 && invalid >= 3, `valid ${valid}, invalid ${invalid}`);
  });
});
