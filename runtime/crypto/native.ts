// node:crypto's own ML-KEM and ML-DSA (OpenSSL 3.5, Node >= 24.7), probed at first use. Keys cross the boundary in the
// same raw FIPS formats the noble provider uses (expanded dk / sk), so the two providers interoperate byte for byte.
import * as nodeCrypto from "node:crypto";
import type { KeyObject } from "node:crypto";
import { randomBytes, toBytes } from "./bytes.js";
import { DER_CONTEXT_0, DER_OCTET_STRING, algorithmIdentifier, pkcs8, spki, tlv } from "./der.js";
import { cachedKeyObject, generateDerKeyPair, hasRawKeyImport, importRawKey, pem, rememberKeyObject, withoutStackTraces } from "./keyobjects.js";
import { defineKem, defineSignature, type ProviderKem, type ProviderSignatureScheme } from "./define.js";
import { CryptoError, CryptoErrorCode } from "./errors.js";
import type { MlDsaName, MlKemName } from "./noble.js";

export const NATIVE_PROVIDER = "node:crypto";

/**
 * The parts of node:crypto this file uses that @types/node 20 does not declare (they exist from Node 24.7).
 * Declared here, narrowly, instead of using `any`; they are only called after the capability probe succeeds.
 */
interface NativePqCrypto {
  encapsulate(key: KeyObject): { sharedKey: Buffer; ciphertext: Buffer };
  decapsulate(key: KeyObject, ciphertext: Uint8Array): Buffer;
  sign(algorithm: null, data: Uint8Array, key: { key: KeyObject; context?: Uint8Array }): Buffer;
  verify(algorithm: null, data: Uint8Array, key: { key: KeyObject; context?: Uint8Array }, signature: Uint8Array): boolean;
}
const native = nodeCrypto as unknown as NativePqCrypto;

/** KeyObject.export's `raw-public` format (Node 24.x), likewise missing from @types/node 20. */
interface RawPublicExport {
  export(options: { format: "raw-public" }): Buffer;
}

interface Parameters {
  readonly nodeType: string;
  /** The last arc of the NIST OID 2.16.840.1.101.3.4.{4|3}.x. */
  readonly oid: Uint8Array;
  readonly publicKeyLength: number;
  readonly secretKeyLength: number;
  readonly seedLength: number;
}

const nistOid = (family: number, arc: number) => Uint8Array.of(0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, family, arc);

const ML_KEM: Record<MlKemName, Parameters & { readonly ciphertextLength: number }> = {
  "ML-KEM-512": { nodeType: "ml-kem-512", oid: nistOid(4, 1), publicKeyLength: 800, secretKeyLength: 1632, ciphertextLength: 768, seedLength: 64 },
  "ML-KEM-768": { nodeType: "ml-kem-768", oid: nistOid(4, 2), publicKeyLength: 1184, secretKeyLength: 2400, ciphertextLength: 1088, seedLength: 64 },
  "ML-KEM-1024": { nodeType: "ml-kem-1024", oid: nistOid(4, 3), publicKeyLength: 1568, secretKeyLength: 3168, ciphertextLength: 1568, seedLength: 64 },
};

const ML_DSA: Record<MlDsaName, Parameters & { readonly signatureLength: number }> = {
  "ML-DSA-44": { nodeType: "ml-dsa-44", oid: nistOid(3, 17), publicKeyLength: 1312, secretKeyLength: 2560, signatureLength: 2420, seedLength: 32 },
  "ML-DSA-65": { nodeType: "ml-dsa-65", oid: nistOid(3, 18), publicKeyLength: 1952, secretKeyLength: 4032, signatureLength: 3309, seedLength: 32 },
  "ML-DSA-87": { nodeType: "ml-dsa-87", oid: nistOid(3, 19), publicKeyLength: 2592, secretKeyLength: 4896, signatureLength: 4627, seedLength: 32 },
};

export interface NativeCapabilities {
  readonly mlKem: boolean;
  readonly mlDsa: boolean;
}

let capabilities: NativeCapabilities | undefined;

/** Whether this Node's node:crypto has ML-KEM (encapsulate/decapsulate) and ML-DSA (sign with a context). */
export function nativeCapabilities(): NativeCapabilities {
  if (capabilities !== undefined) return capabilities;
  const probe = (run: () => boolean): boolean => {
    try {
      return run();
    } catch {
      return false;
    }
  };
  // Probe keys are imported from DER, never used as generated KeyObjects (see keyobjects.ts).
  const importedPair = (type: string) => {
    const der = generateDerKeyPair(type);
    return {
      publicKey: nodeCrypto.createPublicKey({ key: der.publicKey, format: "der", type: "spki" }),
      privateKey: nodeCrypto.createPrivateKey({ key: der.privateKey, format: "der", type: "pkcs8" }),
    };
  };
  const mlKem = probe(() => {
    if (typeof native.encapsulate !== "function" || typeof native.decapsulate !== "function") return false;
    const pair = importedPair("ml-kem-768");
    const { sharedKey, ciphertext } = native.encapsulate(pair.publicKey);
    return native.decapsulate(pair.privateKey, ciphertext).equals(sharedKey);
  });
  const mlDsa = probe(() => {
    const pair = importedPair("ml-dsa-44");
    const data = Uint8Array.of(1);
    const context = Uint8Array.of(2);
    const sig = native.sign(null, data, { key: pair.privateKey, context });
    // A signature made under one context must fail under another: proves the context is honoured, not ignored.
    return native.verify(null, data, { key: pair.publicKey, context }, sig) && !native.verify(null, data, { key: pair.publicKey }, sig);
  });
  capabilities = Object.freeze({ mlKem, mlDsa });
  return capabilities;
}

/**
 * Public keys are imported raw where node:crypto can (no SubjectPublicKeyInfo to build and decode), else from PEM text:
 * a string is the one key input node:crypto 24 parses without first probing it for a KeyObject or CryptoKey by catching
 * thrown errors, which costs about as much as the import itself (docs/performance.md, "Handshake").
 */
function importPublic(params: Parameters, publicKey: Uint8Array, what: string): KeyObject {
  try {
    if (hasRawKeyImport()) return importRawKey("public", params.nodeType, publicKey);
    return nodeCrypto.createPublicKey(pem("PUBLIC KEY", spki(algorithmIdentifier(params.oid), publicKey)));
  } catch {
    throw new CryptoError(CryptoErrorCode.InvalidPublicKey, `${what} public key is not valid`);
  }
}

/** The expanded-key choice of the draft-ietf-lamps ML-KEM/ML-DSA private key: `expandedKey OCTET STRING`. */
function importExpandedPrivate(params: Parameters, secretKey: Uint8Array, what: string): KeyObject {
  const der = Buffer.from(pkcs8(algorithmIdentifier(params.oid), tlv(DER_OCTET_STRING, secretKey)));
  try {
    return nodeCrypto.createPrivateKey({ key: der, format: "der", type: "pkcs8" });
  } catch {
    throw new CryptoError(CryptoErrorCode.InvalidSecretKey, `${what} secret key failed its integrity check`);
  } finally {
    der.fill(0);
  }
}

function importSeedPrivate(params: Parameters, seed: Uint8Array): KeyObject {
  const der = Buffer.from(pkcs8(algorithmIdentifier(params.oid), tlv(DER_CONTEXT_0, seed)));
  try {
    return withoutStackTraces(() => nodeCrypto.createPrivateKey({ key: der, format: "der", type: "pkcs8" }));
  } finally {
    der.fill(0);
  }
}

const publicKind = (params: Parameters) => `${params.nodeType} public`;
const privateKind = (params: Parameters) => `${params.nodeType} private`;

/** Whether node's `raw-public` export (Node 24.x) served; after one failure the SubjectPublicKeyInfo path serves. */
let rawPublicExport = true;

/** The raw public key: node's `raw-public` export where it has one, else the tail of the SubjectPublicKeyInfo. */
function exportPublic(params: Parameters, publicKey: KeyObject): Uint8Array | undefined {
  if (rawPublicExport) {
    try {
      const raw = toBytes((publicKey as unknown as RawPublicExport).export({ format: "raw-public" }));
      if (raw.length === params.publicKeyLength) return Uint8Array.from(raw);
    } catch {
      // Not in this Node: fall through, and use the SubjectPublicKeyInfo from now on.
    }
    rawPublicExport = false;
  }
  const spkiDer = toBytes(publicKey.export({ format: "der", type: "spki" }));
  return spkiDer.length < params.publicKeyLength ? undefined : Uint8Array.from(spkiDer.subarray(-params.publicKeyLength));
}

/**
 * Raw key bytes from node's DER encodings. Node writes the private key in the "both" form (seed, then expanded key);
 * the raw key is its final field, so we take the tail and check the DER header that must precede it.
 */
function rawKeyPair(params: Parameters, pkcs8Der: Uint8Array, publicKey: Uint8Array | undefined, what: string) {
  const skHeader = tlv(DER_OCTET_STRING, new Uint8Array(params.secretKeyLength)).subarray(0, -params.secretKeyLength);
  const skStart = pkcs8Der.length - params.secretKeyLength;
  const headerOk = skStart >= skHeader.length && Buffer.from(pkcs8Der.subarray(skStart - skHeader.length, skStart)).equals(skHeader);
  const secretKey = headerOk ? Uint8Array.from(pkcs8Der.subarray(skStart)) : undefined;
  pkcs8Der.fill(0);
  if (secretKey === undefined || publicKey === undefined) {
    throw new CryptoError(CryptoErrorCode.InvalidParameter, `${what} key export from ${NATIVE_PROVIDER} has an unexpected layout`);
  }
  return { publicKey, secretKey };
}

/**
 * A fresh pair is derived from a fresh random seed (FIPS 203 d ‖ z, FIPS 204 ξ, from the operating system's CSPRNG),
 * exactly as a seeded one: node:crypto imports the seed (no key generation job, whose KeyObjects must not be used:
 * see keyobjects.ts), and that KeyObject is remembered for the exported bytes, so a later use imports nothing. This
 * measured about 120 µs faster per ML-KEM-768 key generation, encapsulation and decapsulation than generating DER.
 */
function keygen(params: Parameters, seed: Uint8Array | undefined, what: string) {
  const fresh = seed === undefined ? randomBytes(params.seedLength) : undefined;
  try {
    const privateKey = importSeedPrivate(params, fresh ?? seed!);
    const pair = rawKeyPair(params, toBytes(privateKey.export({ format: "der", type: "pkcs8" })), exportPublic(params, nodeCrypto.createPublicKey(privateKey)), what);
    rememberKeyObject(privateKind(params), pair.secretKey, privateKey);
    return pair;
  } finally {
    fresh?.fill(0);
  }
}

export function nativeMlKem(name: MlKemName): ProviderKem {
  const params = ML_KEM[name];
  return defineKem(
    { name, provider: NATIVE_PROVIDER, hybrid: false, sharedSecretLength: 32, ...params },
    {
      keygen: (seed) => keygen(params, seed, name),
      encapsulate(publicKey) {
        const key = cachedKeyObject(publicKind(params), publicKey, (bytes) => importPublic(params, bytes, name));
        const { sharedKey, ciphertext } = native.encapsulate(key);
        return { ciphertext: toBytes(ciphertext), sharedSecret: toBytes(sharedKey) };
      },
      // OpenSSL implements FIPS 203 implicit rejection: a tampered ciphertext yields a pseudo-random secret.
      decapsulate(ciphertext, secretKey) {
        const key = cachedKeyObject(privateKind(params), secretKey, (bytes) => importExpandedPrivate(params, bytes, name));
        return toBytes(native.decapsulate(key, ciphertext));
      },
    },
  );
}

export function nativeMlDsa(name: MlDsaName): ProviderSignatureScheme {
  const params = ML_DSA[name];
  return defineSignature(
    { name, provider: NATIVE_PROVIDER, ...params },
    {
      keygen: (seed) => keygen(params, seed, name),
      // OpenSSL signs hedged (fresh randomness), as FIPS 204 recommends.
      sign(message, secretKey, context) {
        const key = cachedKeyObject(privateKind(params), secretKey, (bytes) => importExpandedPrivate(params, bytes, name));
        return toBytes(native.sign(null, message, { key, context }));
      },
      verify(signature, message, publicKey, context) {
        const key = cachedKeyObject(publicKind(params), publicKey, (bytes) => importPublic(params, bytes, name));
        try {
          return native.verify(null, message, { key, context }, signature);
        } catch {
          return false;
        }
      },
    },
  );
}
