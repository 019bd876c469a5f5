// The node:crypto provider for classical and symmetric primitives: X25519, P-384 ECDH, AES-256-GCM,
// ChaCha20-Poly1305, HMAC/HKDF (SHA-256, SHA3-256) and hashes. All of it is OpenSSL underneath.
import {
  createCipheriv,
  createDecipheriv,
  createECDH,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  diffieHellman,
  hkdfSync,
  type KeyObject,
} from "node:crypto";
import { expand as nobleExpand } from "@noble/hashes/hkdf.js";
import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";
import type { CHash } from "@noble/hashes/utils.js";
import { sha3_256 as nobleSha3_256 } from "@noble/hashes/sha3.js";
import { concatBytes, expectBytes, expectLength, randomBytes, toBytes } from "./bytes.js";
import { algorithmIdentifier, spki } from "./der.js";
import { defineAead } from "./define.js";
import { CryptoError, CryptoErrorCode } from "./errors.js";
import { cachedKeyObject, forgetKeyObject, hasRawKeyImport, importRawKey, pem, rememberKeyObject } from "./keyobjects.js";
import type { Aead, Hash, Kdf, SecurityLevel } from "./types.js";

export const NODE_PROVIDER = "node:crypto";

// ---- X25519 (RFC 7748) ----

export const X25519_KEY_LENGTH = 32;
/** The X25519 KEM's secret key is the scalar followed by its public key (d || x, 64 bytes), as a JWK private key holds them. */
export const X25519_SECRET_KEY_LENGTH = 64;
const X25519_ALGORITHM = algorithmIdentifier(Uint8Array.of(0x2b, 0x65, 0x6e)); // 1.3.101.110

const b64u = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");

/**
 * How a public key is imported, measured per Node line (docs/performance.md, "Handshake"). Node 24 probes any key
 * given as an object for a KeyObject and a CryptoKey brand by catching thrown errors, which costs more than the import
 * itself: raw bytes with the probes' stack traces off are fastest there, else a PEM string (never probed). Node 20
 * probes cheaply, but its OpenSSL 3.0 decodes SubjectPublicKeyInfo about 10x slower than a JWK.
 */
const PUBLIC_KEY_FROM_PEM = Number(process.versions.node.split(".")[0]) >= 24;

function x25519PublicKeyObject(publicKey: Uint8Array): KeyObject {
  expectLength(publicKey, X25519_KEY_LENGTH, "X25519 public key");
  try {
    if (hasRawKeyImport()) return importRawKey("public", "x25519", publicKey);
    if (PUBLIC_KEY_FROM_PEM) return createPublicKey(pem("PUBLIC KEY", spki(X25519_ALGORITHM, publicKey)));
    return createPublicKey({ key: { kty: "OKP", crv: "X25519", x: b64u(publicKey) }, format: "jwk" });
  } catch {
    throw new CryptoError(CryptoErrorCode.InvalidPublicKey, "X25519 public key was refused by node:crypto");
  }
}

/**
 * A KeyObject for a bare 32-byte scalar (X25519 clamps it itself; every 32-byte string is a valid key). Imported raw
 * where node:crypto can, else as a JWK. A JWK must carry `x`, but node:crypto derives the public key from `d` and never
 * reads `x` of a private key, so an empty `x` stands in: our public key is always read back from the KeyObject. Both
 * are several times cheaper than PKCS #8 (Node 20's OpenSSL 3.0 decodes DER slowly) or than a key generation job
 * (docs/performance.md, "Handshake"), and the KeyObject belongs to no job, so it may be exported (keyobjects.ts).
 */
function x25519ScalarKeyObject(scalar: Uint8Array): KeyObject {
  expectLength(scalar, X25519_KEY_LENGTH, "X25519 secret scalar");
  try {
    if (hasRawKeyImport()) return importRawKey("private", "x25519", scalar);
    return createPrivateKey({ key: { kty: "OKP", crv: "X25519", d: b64u(scalar), x: "" }, format: "jwk" });
  } catch {
    throw new CryptoError(CryptoErrorCode.InvalidSecretKey, "X25519 secret scalar was refused by node:crypto");
  }
}

const X25519_PRIVATE = "x25519 private";
const X25519_PUBLIC = "x25519 public";

/** A KeyObject for a 64-byte d || x secret key, cached per array so a key is imported at most once. */
function x25519SecretKeyObject(secretKey: Uint8Array): KeyObject {
  expectLength(secretKey, X25519_SECRET_KEY_LENGTH, "X25519 secret key");
  return cachedKeyObject(X25519_PRIVATE, secretKey, (bytes) => {
    try {
      return createPrivateKey({
        key: { kty: "OKP", crv: "X25519", d: b64u(bytes.subarray(0, 32)), x: b64u(bytes.subarray(32)) },
        format: "jwk",
      });
    } catch {
      throw new CryptoError(CryptoErrorCode.InvalidSecretKey, "X25519 secret key is not a valid scalar and public key pair");
    }
  });
}

function publicBytes(key: KeyObject): Uint8Array {
  return base64url(createPublicKey(key).export({ format: "jwk" }).x, "X25519 public key");
}

function agree(privateKey: KeyObject, publicKey: KeyObject): Uint8Array {
  let shared: Uint8Array;
  try {
    shared = toBytes(diffieHellman({ privateKey, publicKey }));
  } catch {
    // OpenSSL refuses the all-zero output itself; either way the cause is the peer's point.
    shared = new Uint8Array(X25519_KEY_LENGTH);
  }
  // RFC 7748 §6.1: an all-zero result means a low-order peer point, making the secret independent of our key.
  if (shared.every((byte) => byte === 0)) {
    throw new CryptoError(CryptoErrorCode.KeyAgreementFailed, "X25519 key agreement produced the all-zero value (low-order public key)");
  }
  return shared;
}

/**
 * A key pair with a 64-byte d || x secret key, from a 32-byte scalar `seed` or a fresh one from the OS CSPRNG (X25519
 * key generation is exactly that: RFC 7748 §6.1). The scalar is imported, so the KeyObject is kept for the secret key.
 */
export function x25519Keygen(seed?: Uint8Array): { publicKey: Uint8Array; secretKey: Uint8Array } {
  const scalar = seed ?? randomBytes(X25519_KEY_LENGTH);
  try {
    const key = x25519ScalarKeyObject(scalar);
    const publicKey = publicBytes(key);
    const secretKey = concatBytes(scalar, publicKey);
    rememberKeyObject(X25519_PRIVATE, secretKey, key);
    return { publicKey, secretKey };
  } finally {
    if (seed === undefined) scalar.fill(0);
  }
}

/**
 * KEM-style encapsulation: a fresh ephemeral key agrees with `peer`; its public key is the ciphertext. `peer` is a
 * recipient's public key, often long-lived (a server's certified key), so its KeyObject is cached per array.
 */
export function x25519Ephemeral(peer: Uint8Array): { ciphertext: Uint8Array; sharedSecret: Uint8Array } {
  expectLength(peer, X25519_KEY_LENGTH, "X25519 public key");
  const peerKey = cachedKeyObject(X25519_PUBLIC, peer, x25519PublicKeyObject);
  const scalar = randomBytes(X25519_KEY_LENGTH);
  try {
    const privateKey = x25519ScalarKeyObject(scalar);
    return { ciphertext: publicBytes(privateKey), sharedSecret: agree(privateKey, peerKey) };
  } finally {
    scalar.fill(0);
  }
}

/** X25519 with a 64-byte d || x secret key (the KEM's format); `peer` is a one-off ciphertext, so it is not cached. */
export function x25519Agree(secretKey: Uint8Array, peer: Uint8Array): Uint8Array {
  return agree(x25519SecretKeyObject(secretKey), x25519PublicKeyObject(peer));
}

/** X25519(scalar, peer) on a bare 32-byte scalar, as RFC 7748 and the Wycheproof vectors state it. */
export function x25519(scalar: Uint8Array, peer: Uint8Array): Uint8Array {
  return agree(x25519ScalarKeyObject(scalar), x25519PublicKeyObject(peer));
}

// ---- ECDH over P-384 (secp384r1) ----

export const P384_SECRET_KEY_LENGTH = 48;
/** Uncompressed SEC1 point: 0x04 || x || y. */
export const P384_PUBLIC_KEY_LENGTH = 97;
export const P384_SHARED_SECRET_LENGTH = 48;

function leftPad(bytes: Uint8Array, length: number): Uint8Array {
  if (bytes.length === length) return bytes;
  const out = new Uint8Array(length);
  out.set(bytes, length - bytes.length);
  return out;
}

export function p384Keygen(secretKey?: Uint8Array): { publicKey: Uint8Array; secretKey: Uint8Array } {
  const ecdh = createECDH("secp384r1");
  if (secretKey === undefined) {
    ecdh.generateKeys();
  } else {
    expectLength(secretKey, P384_SECRET_KEY_LENGTH, "P-384 secret key");
    try {
      ecdh.setPrivateKey(secretKey);
    } catch {
      throw new CryptoError(CryptoErrorCode.InvalidSecretKey, "P-384 secret key is out of range");
    }
  }
  // getPrivateKey() drops leading zero bytes; the key format is fixed-width.
  return { publicKey: toBytes(ecdh.getPublicKey()), secretKey: leftPad(toBytes(ecdh.getPrivateKey()), P384_SECRET_KEY_LENGTH) };
}

/** ECDH over P-384; the peer point is validated by OpenSSL (on the curve, not infinity). */
export function p384(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  expectLength(secretKey, P384_SECRET_KEY_LENGTH, "P-384 secret key");
  expectLength(publicKey, P384_PUBLIC_KEY_LENGTH, "P-384 public key");
  const ecdh = createECDH("secp384r1");
  try {
    ecdh.setPrivateKey(secretKey);
  } catch {
    throw new CryptoError(CryptoErrorCode.InvalidSecretKey, "P-384 secret key is out of range");
  }
  try {
    return leftPad(toBytes(ecdh.computeSecret(publicKey)), P384_SHARED_SECRET_LENGTH);
  } catch {
    throw new CryptoError(CryptoErrorCode.InvalidPublicKey, "P-384 public key is not a point on the curve");
  }
}

function base64url(value: string | undefined, what: string): Uint8Array {
  if (value === undefined) throw new CryptoError(CryptoErrorCode.InvalidParameter, `${what} was not exported by ${NODE_PROVIDER}`);
  return toBytes(Buffer.from(value, "base64url"));
}

// ---- AEAD ----

const AEAD_KEY_LENGTH = 32;
const AEAD_NONCE_LENGTH = 12;
const AEAD_TAG_LENGTH = 16;

type NodeAeadCipher = "aes-256-gcm" | "chacha20-poly1305";

/**
 * Record keys are used for many frames: node:crypto takes them as KeyObjects made once per key array (on Node 24 a
 * raw key costs about 10 µs of validation per cipher object, a KeyObject almost nothing); `forget` drops one.
 */
const aeadKey = (key: Uint8Array) => cachedKeyObject("secret", key, (bytes) => createSecretKey(bytes));

function nodeAead(name: string, cipher: NodeAeadCipher): Aead {
  return defineAead(
    { name, provider: NODE_PROVIDER, keyLength: AEAD_KEY_LENGTH, nonceLength: AEAD_NONCE_LENGTH, tagLength: AEAD_TAG_LENGTH },
    {
      forget: forgetKeyObject,
      seal(rawKey, nonce, plaintext, aad) {
        const key = aeadKey(rawKey);
        const c =
          cipher === "aes-256-gcm"
            ? createCipheriv(cipher, key, nonce, { authTagLength: AEAD_TAG_LENGTH })
            : createCipheriv(cipher, key, nonce, { authTagLength: AEAD_TAG_LENGTH });
        c.setAAD(aad, { plaintextLength: plaintext.length });
        const head = c.update(plaintext);
        const tail = c.final();
        const tag = c.getAuthTag();
        const out = new Uint8Array(head.length + tail.length + tag.length);
        out.set(head, 0);
        out.set(tail, head.length);
        out.set(tag, head.length + tail.length);
        return out;
      },
      open(rawKey, nonce, sealed, aad) {
        const key = aeadKey(rawKey);
        const bodyLength = sealed.length - AEAD_TAG_LENGTH;
        const d =
          cipher === "aes-256-gcm"
            ? createDecipheriv(cipher, key, nonce, { authTagLength: AEAD_TAG_LENGTH })
            : createDecipheriv(cipher, key, nonce, { authTagLength: AEAD_TAG_LENGTH });
        d.setAuthTag(sealed.subarray(bodyLength));
        d.setAAD(aad, { plaintextLength: bodyLength });
        const head = d.update(sealed.subarray(0, bodyLength));
        try {
          const tail = d.final();
          return tail.length === 0 ? toBytes(head) : toBytes(Buffer.concat([head, tail]));
        } catch {
          // Authentication failed: the decrypted bytes in `head` are dropped unseen.
          head.fill(0);
          return undefined;
        }
      },
    },
  );
}

export const nodeAes256Gcm = (): Aead => nodeAead("AES-256-GCM", "aes-256-gcm");
export const nodeChaCha20Poly1305 = (): Aead => nodeAead("ChaCha20-Poly1305", "chacha20-poly1305");

// ---- Hashes, HMAC, HKDF ----

interface HashSpec {
  readonly name: string;
  readonly nodeName: "sha256" | "sha3-256";
  readonly noble: CHash;
  readonly outputLength: number;
  readonly level: SecurityLevel;
}

// Category 2 is defined by NIST as SHA-256 collision search; SHA3-256 has the same collision bound.
const HASHES: Record<string, HashSpec> = {
  "SHA-256": { name: "SHA-256", nodeName: "sha256", noble: nobleSha256, outputLength: 32, level: 2 },
  "SHA3-256": { name: "SHA3-256", nodeName: "sha3-256", noble: nobleSha3_256, outputLength: 32, level: 2 },
};

export const HASH_NAMES = Object.keys(HASHES);
export const KDF_NAMES = ["HKDF-SHA256", "HKDF-SHA3-256"];

function hashSpec(name: string): HashSpec {
  const spec = Object.hasOwn(HASHES, name) ? HASHES[name] : undefined;
  if (spec === undefined) throw new CryptoError(CryptoErrorCode.UnknownAlgorithm, `unknown hash \`${name}\``);
  return spec;
}

export function nodeHash(name: string): Hash {
  const spec = hashSpec(name);
  return Object.freeze({
    kind: "hash" as const,
    name: spec.name,
    level: spec.level,
    provider: NODE_PROVIDER,
    outputLength: spec.outputLength,
    digest(data: Uint8Array): Uint8Array {
      expectBytes(data, `${spec.name} input`);
      return toBytes(createHash(spec.nodeName).update(data).digest());
    },
  });
}

/** HKDF (RFC 5869) over SHA-256 or SHA3-256: node's hkdfSync and HMAC, with @noble/hashes for Expand alone. */
export function nodeHkdf(name: string): Kdf {
  const hashName = name === "HKDF-SHA256" ? "SHA-256" : name === "HKDF-SHA3-256" ? "SHA3-256" : undefined;
  if (hashName === undefined) throw new CryptoError(CryptoErrorCode.UnknownAlgorithm, `unknown key derivation function \`${name}\``);
  const spec = hashSpec(hashName);
  const maxOutput = 255 * spec.outputLength;
  const checkLength = (length: number) => {
    if (!Number.isSafeInteger(length) || length < 1 || length > maxOutput) {
      throw new CryptoError(CryptoErrorCode.InvalidParameter, `${name} output length must be between 1 and ${maxOutput} bytes, got ${length}`);
    }
  };
  // The key goes in as a KeyObject: node:crypto 24 probes a key given as bytes for a KeyObject and a CryptoKey brand by
  // catching two thrown errors, which costs three times the HMAC of a short message (docs/performance.md, "Handshake").
  const hmac = (key: Uint8Array, data: Uint8Array): Uint8Array =>
    toBytes(createHmac(spec.nodeName, createSecretKey(key)).update(data).digest());
  return Object.freeze({
    kind: "kdf" as const,
    name,
    // A PRF keyed with 256 bits: key search is as hard as for AES-256.
    level: 5 as SecurityLevel,
    provider: NODE_PROVIDER,
    hashLength: spec.outputLength,
    // HMAC pads a short key with zeros, so an empty salt is the RFC's "string of HashLen zeros".
    extract: (salt: Uint8Array, ikm: Uint8Array) => hmac(expectBytes(salt, `${name} salt`), expectBytes(ikm, `${name} input key material`)),
    expand(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
      expectBytes(prk, `${name} pseudorandom key`);
      expectBytes(info, `${name} info`);
      checkLength(length);
      if (prk.length < spec.outputLength) {
        throw new CryptoError(CryptoErrorCode.WrongLength, `${name} pseudorandom key must be at least ${spec.outputLength} bytes, got ${prk.length}`);
      }
      return toBytes(nobleExpand(spec.noble, prk, info, length));
    },
    hkdf(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
      expectBytes(ikm, `${name} input key material`);
      expectBytes(salt, `${name} salt`);
      expectBytes(info, `${name} info`);
      checkLength(length);
      return toBytes(hkdfSync(spec.nodeName, ikm, salt, info, length));
    },
    hmac: (key: Uint8Array, data: Uint8Array) => hmac(expectBytes(key, `${name} key`), expectBytes(data, `${name} data`)),
  });
}
