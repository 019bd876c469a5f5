// ML-DSA (FIPS 204) against Wycheproof known answers on every provider this Node has: verification for all three
// parameter sets, and key generation and deterministic or randomised signing from a seed for ML-DSA-65.
import assert from "node:assert/strict";
import type { ProviderSignatureScheme } from "../../runtime/crypto/define.js";
import { nativeMlDsa } from "../../runtime/crypto/native.js";
import { nobleMlDsa, type MlDsaName } from "../../runtime/crypto/noble.js";
import { hex, readWycheproof, requireNative, requireVectors, toHex } from "./vectors.js";

interface Provider {
  readonly label: string;
  readonly native: boolean;
  mlDsa(name: MlDsaName): ProviderSignatureScheme;
}

const PROVIDERS: readonly Provider[] = [
  { label: "@noble/post-quantum", native: false, mlDsa: nobleMlDsa },
  { label: "node:crypto", native: true, mlDsa: nativeMlDsa },
];

for (const provider of PROVIDERS) {
  describe(`ML-DSA known answers (${provider.label})`, function () {
    before(function () {
      if (provider.native) requireNative(this, "mlDsa");
    });

    for (const [name, fileName] of [
      ["ML-DSA-44", "wycheproof/mldsa_44_verify_test.json"],
      ["ML-DSA-65", "wycheproof/mldsa_65_verify_test.json"],
      ["ML-DSA-87", "wycheproof/mldsa_87_verify_test.json"],
    ] as const) {
      it(`verifies the Wycheproof ${name} signatures and rejects every invalid one`, function () {
        const file = readWycheproof(requireVectors(this, fileName));
        const scheme = provider.mlDsa(name);
        let valid = 0;
        let invalid = 0;
        for (const group of file.testGroups) {
          const publicKey = hex(group.publicKey);
          for (const test of group.tests) {
            const where = `tcId ${test.tcId} (${test.comment ?? ""})`;
            const context = hex(test.ctx);
            const run = () => scheme.verify(hex(test.sig), hex(test.msg), publicKey, context);
            if (publicKey.length !== scheme.publicKeyLength) {
              assert.equal(test.result, "invalid", where);
              assert.throws(run, { code: "PQG5010" }, where);
            } else if (context.length > 255) {
              assert.equal(test.result, "invalid", where);
              assert.throws(run, { code: "PQG5013" }, where);
            } else {
              assert.equal(run(), test.result === "valid", where);
            }
            if (test.result === "valid") valid++;
            else invalid++;
          }
        }
        assert.ok(valid >= 40 && invalid >= 40, `read ${valid} valid and ${invalid} invalid vectors`);
      });
    }

    it("derives Wycheproof ML-DSA-65 keys from seeds and reproduces their signatures", function () {
      const file = readWycheproof(requireVectors(this, "wycheproof/mldsa_65_sign_seed_test.json"));
      const scheme = provider.mlDsa("ML-DSA-65");
      let signed = 0;
      for (const group of file.testGroups) {
        const seed = hex(group.privateSeed);
        for (const test of group.tests) {
          const where = `tcId ${test.tcId} (${test.comment ?? ""})`;
          if (seed.length !== scheme.seedLength) {
            assert.equal(test.result, "invalid", where);
            assert.throws(() => scheme.keygen(seed), { code: "PQG5010" }, where);
            continue;
          }
          const pair = scheme.keygen(seed);
          assert.equal(toHex(pair.publicKey), group.publicKey, where);
          // "Internal" vectors sign a caller-given mu, which the pure FIPS 204 interface deliberately does not offer.
          if (test.flags?.includes("Internal") || test.msg === undefined) continue;
          const message = hex(test.msg);
          const context = hex(test.ctx);
          if (context.length > 255) {
            assert.equal(test.result, "invalid", where);
            assert.throws(() => scheme.sign(message, pair.secretKey, context), { code: "PQG5013" }, where);
            continue;
          }
          assert.equal(test.result, "valid", where);
          if (scheme.signWithRandomness !== undefined) {
            const randomness = test.rnd === undefined ? false : hex(test.rnd);
            assert.equal(toHex(scheme.signWithRandomness(message, pair.secretKey, context, randomness)), test.sig, where);
          }
          // A hedged signature differs from the vector but must verify (checked on a sample: noble signing is slow),
          // as must the vector's own.
          if (signed % 10 === 0) {
            assert.equal(scheme.verify(scheme.sign(message, pair.secretKey, context), message, pair.publicKey, context), true, where);
          }
          assert.equal(scheme.verify(hex(test.sig), message, pair.publicKey, context), true, where);
          signed++;
        }
      }
      assert.ok(signed >= 50, `only ${signed} signing vectors checked`);
    });
  });
}
