// The registry: every named algorithm round-trips, lengths are enforced, and configuration errors name the valid choices.
import assert from "node:assert/strict";
import { algorithmFacts } from "../../runtime/guard/algorithms.js";
import {
  CryptoConfigError,
  CryptoError,
  aead,
  algorithmNames,
  constantTimeEqual,
  hash,
  kdf,
  kem,
  randomBytes,
  resolveSuiteConfig,
  signature,
} from "../../runtime/crypto/registry.js";
import { nativeCapabilities } from "../../runtime/crypto/native.js";

describe("crypto registry", () => {
  it("names only algorithms the policy table knows, with the same level", () => {
    for (const kind of ["kem", "signature", "aead"] as const) {
      for (const name of algorithmNames(kind)) {
        const facts = algorithmFacts(name);
        assert.ok(facts, `${name} is missing from runtime/guard/algorithms.ts`);
        assert.equal(facts.family, kind);
        const info = kind === "kem" ? kem(name) : kind === "signature" ? signature(name) : aead(name);
        assert.equal(info.level, facts.level, name);
        if (kind === "kem") assert.equal(kem(name).hybrid, facts.hybrid, name);
      }
    }
  });

  for (const name of algorithmNames("kem")) {
    it(`${name}: encapsulate then decapsulate agree, and every length is checked`, () => {
      const k = kem(name);
      const pair = k.keygen();
      assert.equal(pair.publicKey.length, k.publicKeyLength);
      assert.equal(pair.secretKey.length, k.secretKeyLength);
      const { ciphertext, sharedSecret } = k.encapsulate(pair.publicKey);
      assert.equal(ciphertext.length, k.ciphertextLength);
      assert.equal(sharedSecret.length, k.sharedSecretLength);
      assert.ok(constantTimeEqual(k.decapsulate(ciphertext, pair.secretKey), sharedSecret));
      assert.throws(() => k.encapsulate(pair.publicKey.subarray(1)), { code: "PQG5010" });
      assert.throws(() => k.decapsulate(ciphertext.subarray(1), pair.secretKey), { code: "PQG5010" });
      assert.throws(() => k.decapsulate(ciphertext, new Uint8Array(k.secretKeyLength + 1)), { code: "PQG5010" });
    });
  }

  for (const name of algorithmNames("signature")) {
    it(`${name}: signs and verifies with its context, and refuses another context or message`, () => {
      const s = signature(name);
      const pair = s.keygen();
      const message = new TextEncoder().encode("tools/call refund");
      const context = new TextEncoder().encode("pqguard test");
      const sig = s.sign(message, pair.secretKey, context);
      assert.equal(sig.length, s.signatureLength);
      assert.equal(s.verify(sig, message, pair.publicKey, context), true);
      assert.equal(s.verify(sig, message, pair.publicKey, new Uint8Array()), false);
      assert.equal(s.verify(sig, message.subarray(1), pair.publicKey, context), false);
      assert.equal(s.verify(sig.subarray(1), message, pair.publicKey, context), false);
      assert.throws(() => s.sign(message, pair.secretKey, new Uint8Array(256)), { code: "PQG5013" });
    });
  }

  for (const name of algorithmNames("aead")) {
    it(`${name}: opens what it sealed and nothing that was altered`, () => {
      const a = aead(name);
      const key = randomBytes(a.keyLength);
      const nonce = randomBytes(a.nonceLength);
      const aad = Uint8Array.of(1, 2, 3);
      const plaintext = new TextEncoder().encode("{\"jsonrpc\":\"2.0\"}");
      const sealed = a.seal(key, nonce, plaintext, aad);
      assert.equal(sealed.length, plaintext.length + a.tagLength);
      assert.deepEqual(a.open(key, nonce, sealed, aad), plaintext);
      for (let i = 0; i < sealed.length; i++) {
        const tampered = Uint8Array.from(sealed);
        tampered[i]! ^= 0x01;
        assert.equal(a.open(key, nonce, tampered, aad), undefined, `byte ${i}`);
      }
      assert.equal(a.open(key, nonce, sealed, Uint8Array.of(1, 2)), undefined);
      assert.equal(a.open(key, nonce, sealed.subarray(0, a.tagLength - 1), aad), undefined);
      assert.throws(() => a.seal(key.subarray(1), nonce, plaintext, aad), { code: "PQG5010" });
      assert.throws(() => a.seal(key, nonce.subarray(1), plaintext, aad), { code: "PQG5010" });
    });
  }

  it("knows the KDFs and hashes by name", () => {
    assert.deepEqual(algorithmNames("kdf"), ["HKDF-SHA256", "HKDF-SHA3-256"]);
    assert.deepEqual(algorithmNames("hash"), ["SHA-256", "SHA3-256"]);
    for (const name of algorithmNames("kdf")) {
      const k = kdf(name);
      const ikm = randomBytes(32);
      const salt = randomBytes(16);
      const info = Uint8Array.of(7);
      assert.deepEqual(k.hkdf(ikm, salt, info, 80), k.expand(k.extract(salt, ikm), info, 80));
      assert.throws(() => k.hkdf(ikm, salt, info, 255 * k.hashLength + 1), { code: "PQG5015" });
    }
    assert.equal(
      Buffer.from(hash("SHA3-256").digest(new Uint8Array())).toString("hex"),
      "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a",
    );
  });

  it("refuses an unknown algorithm name with a typed error listing the valid ones", () => {
    assert.throws(() => kem("Kyber768"), (error: unknown) => {
      assert.ok(error instanceof CryptoConfigError);
      assert.ok(error instanceof CryptoError);
      assert.equal(error.code, "PQG5001");
      assert.match(error.message, /unknown key encapsulation mechanism `Kyber768`; valid names are `X25519MLKEM768`/);
      return true;
    });
    assert.throws(() => signature("ML-DSA-66"), { code: "PQG5001" });
    assert.throws(() => aead("AES-128-GCM"), { code: "PQG5001" });
  });
});

describe("suite configuration", () => {
  it("defaults to the hybrid KEM, ML-DSA-65 and AES-256-GCM", () => {
    assert.deepEqual(resolveSuiteConfig({}, {}), { kem: ["X25519MLKEM768"], signature: ["ML-DSA-65"], aead: ["AES-256-GCM"] });
  });

  it("reads comma lists from the environment, in order of preference", () => {
    const env = { PQGUARD_KEM: " ML-KEM-1024 , X25519MLKEM768", PQGUARD_SIGNATURE: "ML-DSA-87", PQGUARD_AEAD: "ChaCha20-Poly1305,AES-256-GCM" };
    assert.deepEqual(resolveSuiteConfig({}, env), {
      kem: ["ML-KEM-1024", "X25519MLKEM768"],
      signature: ["ML-DSA-87"],
      aead: ["ChaCha20-Poly1305", "AES-256-GCM"],
    });
  });

  it("prefers options in code over the environment", () => {
    const config = resolveSuiteConfig({ kem: ["X-Wing"] }, { PQGUARD_KEM: "ML-KEM-768", PQGUARD_AEAD: "ChaCha20-Poly1305" });
    assert.deepEqual(config.kem, ["X-Wing"]);
    assert.deepEqual(config.aead, ["ChaCha20-Poly1305"]);
  });

  it("names the variable, the bad name and the valid names in its error", () => {
    assert.throws(
      () => resolveSuiteConfig({}, { PQGUARD_AEAD: "AES-256-GCM,RC4" }),
      (error: unknown) =>
        error instanceof CryptoConfigError &&
        error.code === "PQG5001" &&
        error.message === "unknown aead `RC4` in PQGUARD_AEAD; valid names are `AES-256-GCM`, `ChaCha20-Poly1305`",
    );
    assert.throws(
      () => resolveSuiteConfig({ signature: ["ML-KEM-768"] }, {}),
      /unknown signature scheme `ML-KEM-768` in the signature option \(`ML-KEM-768` is a key encapsulation mechanism\); valid names are `ML-DSA-65`/,
    );
  });

  it("refuses an empty list", () => {
    assert.throws(() => resolveSuiteConfig({ kem: [] }, {}), { code: "PQG5002" });
    assert.throws(() => resolveSuiteConfig({}, { PQGUARD_SIGNATURE: " , " }), { code: "PQG5002" });
  });

  it("refuses an unknown provider setting", () => {
    const saved = process.env.PQGUARD_PROVIDER;
    process.env.PQGUARD_PROVIDER = "openssl";
    try {
      assert.throws(() => kem("ML-KEM-768"), { code: "PQG5002", message: /unknown provider `openssl` in PQGUARD_PROVIDER/ });
    } finally {
      if (saved === undefined) delete process.env.PQGUARD_PROVIDER;
      else process.env.PQGUARD_PROVIDER = saved;
    }
  });
});

describe("provider choice", () => {
  function withEnv(name: string, value: string, run: () => void): void {
    const saved = process.env[name];
    process.env[name] = value;
    try {
      run();
    } finally {
      if (saved === undefined) delete process.env[name];
      else process.env[name] = saved;
    }
  }

  const hasNative = nativeCapabilities().mlKem && nativeCapabilities().mlDsa;

  it("uses node:crypto's ML-KEM and ML-DSA when this Node has them; otherwise libsodium's ML-KEM-768 and noble for the rest", () => {
    assert.equal(kem("ML-KEM-768").provider, hasNative ? "node:crypto" : "libsodium-wrappers");
    assert.equal(kem("ML-KEM-1024").provider, hasNative ? "node:crypto" : "@noble/post-quantum");
    assert.equal(signature("ML-DSA-65").provider, hasNative ? "node:crypto" : "@noble/post-quantum");
    assert.equal(kem("X25519MLKEM768").provider, hasNative ? "node:crypto" : "libsodium-wrappers+node:crypto");
  });

  it("PQGUARD_PROVIDER=noble forces the pure JavaScript provider", () => {
    withEnv("PQGUARD_PROVIDER", "noble", () => {
      assert.equal(kem("ML-KEM-1024").provider, "@noble/post-quantum");
      assert.equal(signature("ML-DSA-87").provider, "@noble/post-quantum");
    });
  });

  it("PQGUARD_PROVIDER=native is refused where node:crypto lacks ML-KEM/ML-DSA, and honoured where it has them", () => {
    withEnv("PQGUARD_PROVIDER", "native", () => {
      if (hasNative) assert.equal(kem("ML-KEM-768").provider, "node:crypto");
      else assert.throws(() => kem("ML-KEM-768"), { code: "PQG5003", message: /has no ML-KEM\/ML-DSA/ });
    });
  });

  it("serves ChaCha20-Poly1305 from libsodium by default (measured faster) and from node:crypto on request", () => {
    assert.equal(aead("ChaCha20-Poly1305").provider, "libsodium-wrappers");
    assert.equal(aead("AES-256-GCM").provider, "node:crypto");
    withEnv("PQGUARD_AEAD_PROVIDER", "node", () => assert.equal(aead("ChaCha20-Poly1305").provider, "node:crypto"));
    withEnv("PQGUARD_AEAD_PROVIDER", "libsodium", () => assert.throws(() => aead("AES-256-GCM"), { code: "PQG5003" }));
  });

  it("lets the two ChaCha20-Poly1305 providers open each other's records", () => {
    const sodium = aead("ChaCha20-Poly1305");
    let node = sodium;
    withEnv("PQGUARD_AEAD_PROVIDER", "node", () => (node = aead("ChaCha20-Poly1305")));
    assert.notEqual(node.provider, sodium.provider);
    const key = randomBytes(32);
    const nonce = randomBytes(12);
    const message = randomBytes(130);
    assert.deepEqual(node.open(key, nonce, sodium.seal(key, nonce, message, nonce), nonce), message);
    assert.deepEqual(sodium.open(key, nonce, node.seal(key, nonce, message, nonce), nonce), message);
  });
});
