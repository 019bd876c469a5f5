// The @noble/post-quantum provider: ML-KEM (FIPS 203), ML-DSA (FIPS 204) and X-Wing, in audited pure JavaScript.
// It serves every Node version; node:crypto's native ML-KEM/ML-DSA replaces it where the running Node has them.
import { ml_kem768_x25519 } from "@noble/post-quantum/hybrid.js";
import { ml_dsa44, ml_dsa65, ml_dsa87 } from "@noble/post-quantum/ml-dsa.js";
import { ml_kem1024, ml_kem512, ml_kem768 } from "@noble/post-quantum/ml-kem.js";
import { expectLength, randomBytes, toBytes } from "./bytes.js";
import { defineKem, defineSignature, type ProviderKem, type ProviderSignatureScheme } from "./define.js";
import { CryptoError, CryptoErrorCode } from "./errors.js";

export const NOBLE_PROVIDER = "@noble/post-quantum";

/** Secret keys are the FIPS 203 decapsulation key (dk) and the FIPS 204 expanded secret key, as noble uses them. */
const ML_KEM = {
  "ML-KEM-512": ml_kem512,
  "ML-KEM-768": ml_kem768,
  "ML-KEM-1024": ml_kem1024,
} as const;

const ML_DSA = {
  "ML-DSA-44": ml_dsa44,
  "ML-DSA-65": ml_dsa65,
  "ML-DSA-87": ml_dsa87,
} as const;

export type MlKemName = keyof typeof ML_KEM;
export type MlDsaName = keyof typeof ML_DSA;

export const ML_KEM_NAMES = Object.keys(ML_KEM) as MlKemName[];
export const ML_DSA_NAMES = Object.keys(ML_DSA) as MlDsaName[];

/** FIPS 203 encapsulation randomness `m` and FIPS 204 signing randomness `rnd` are both 32 bytes. */
const PQ_RANDOMNESS_LENGTH = 32;

function length(value: number | undefined, what: string): number {
  if (value === undefined) throw new CryptoError(CryptoErrorCode.InvalidParameter, `${what} is not published by ${NOBLE_PROVIDER}`);
  return value;
}

/** Runs a noble call that throws on an invalid key, turning its message into our typed error. */
function guarded<T>(code: CryptoErrorCode, message: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof CryptoError) throw error;
    throw new CryptoError(code, message);
  }
}

export function nobleMlKem(name: MlKemName): ProviderKem {
  const impl = ML_KEM[name];
  const encapsulate = (publicKey: Uint8Array, randomness?: Uint8Array) => {
    const result = guarded(CryptoErrorCode.InvalidPublicKey, `${name} public key is not a valid encapsulation key`, () =>
      impl.encapsulate(publicKey, randomness),
    );
    return { ciphertext: toBytes(result.cipherText), sharedSecret: toBytes(result.sharedSecret) };
  };
  return defineKem(
    {
      name,
      provider: NOBLE_PROVIDER,
      hybrid: false,
      publicKeyLength: length(impl.lengths.publicKey, "public key length"),
      secretKeyLength: length(impl.lengths.secretKey, "secret key length"),
      ciphertextLength: length(impl.lengths.cipherText, "ciphertext length"),
      sharedSecretLength: 32,
      seedLength: length(impl.lengths.seed, "seed length"),
    },
    {
      keygen: (seed) => {
        const pair = impl.keygen(seed);
        return { publicKey: toBytes(pair.publicKey), secretKey: toBytes(pair.secretKey) };
      },
      encapsulate: (publicKey) => encapsulate(publicKey),
      encapsulateWithRandomness: (publicKey, randomness) =>
        encapsulate(publicKey, expectLength(randomness, PQ_RANDOMNESS_LENGTH, `${name} encapsulation randomness`)),
      // Implicit rejection happens inside noble: a tampered ciphertext yields a pseudo-random secret, not an exception.
      // What can throw is the FIPS 203 secret key check (embedded H(ek) mismatch).
      decapsulate: (ciphertext, secretKey) =>
        toBytes(
          guarded(CryptoErrorCode.InvalidSecretKey, `${name} secret key failed its integrity check`, () =>
            impl.decapsulate(ciphertext, secretKey),
          ),
        ),
    },
  );
}

export function nobleMlDsa(name: MlDsaName): ProviderSignatureScheme {
  const impl = ML_DSA[name];
  const sign = (message: Uint8Array, secretKey: Uint8Array, context: Uint8Array, extraEntropy?: Uint8Array | false) =>
    toBytes(
      guarded(CryptoErrorCode.InvalidSecretKey, `${name} secret key is not a valid signing key`, () =>
        impl.sign(message, secretKey, extraEntropy === undefined ? { context } : { context, extraEntropy }),
      ),
    );
  return defineSignature(
    {
      name,
      provider: NOBLE_PROVIDER,
      publicKeyLength: length(impl.lengths.publicKey, "public key length"),
      secretKeyLength: length(impl.lengths.secretKey, "secret key length"),
      signatureLength: length(impl.lengths.signature, "signature length"),
      seedLength: length(impl.lengths.seed, "seed length"),
    },
    {
      keygen: (seed) => {
        const pair = impl.keygen(seed);
        return { publicKey: toBytes(pair.publicKey), secretKey: toBytes(pair.secretKey) };
      },
      // Hedged signing (FIPS 204 default): fresh randomness mixed with the key, so a fault or bad RNG alone leaks nothing.
      sign: (message, secretKey, context) => sign(message, secretKey, context),
      signWithRandomness: (message, secretKey, context, randomness) =>
        sign(
          message,
          secretKey,
          context,
          randomness === false ? false : expectLength(randomness, PQ_RANDOMNESS_LENGTH, `${name} signing randomness`),
        ),
      verify: (signature, message, publicKey, context) => {
        // Malformed encodings (bad hints, out-of-range values) count as invalid signatures, never as exceptions.
        try {
          return impl.verify(signature, message, publicKey, { context });
        } catch {
          return false;
        }
      },
    },
  );
}

/** X-Wing (draft-connolly-cfrg-xwing-kem): ML-KEM-768 + X25519 with a SHA3-256 combiner; the secret key is a 32-byte seed. */
export function nobleXWing(): ProviderKem {
  const impl = ml_kem768_x25519;
  const encapsulate = (publicKey: Uint8Array, randomness?: Uint8Array) => {
    const result = guarded(CryptoErrorCode.InvalidPublicKey, "X-Wing public key is not a valid encapsulation key", () =>
      impl.encapsulate(publicKey, randomness),
    );
    return { ciphertext: toBytes(result.cipherText), sharedSecret: toBytes(result.sharedSecret) };
  };
  return defineKem(
    {
      name: "X-Wing",
      provider: NOBLE_PROVIDER,
      hybrid: true,
      publicKeyLength: length(impl.lengths.publicKey, "public key length"),
      secretKeyLength: length(impl.lengths.secretKey, "secret key length"),
      ciphertextLength: length(impl.lengths.cipherText, "ciphertext length"),
      sharedSecretLength: 32,
      seedLength: length(impl.lengths.seed, "seed length"),
    },
    {
      keygen: (seed) => {
        const pair = impl.keygen(seed);
        return { publicKey: toBytes(pair.publicKey), secretKey: toBytes(pair.secretKey) };
      },
      encapsulate: (publicKey) => encapsulate(publicKey),
      encapsulateWithRandomness: (publicKey, randomness) =>
        encapsulate(publicKey, expectLength(randomness, length(impl.lengths.msgRand, "randomness length"), "X-Wing encapsulation randomness")),
      decapsulate: (ciphertext, secretKey) => {
        // X-Wing's X25519 half maps a low-order point to zero inside the combiner rather than failing; should noble
        // throw anyway, a random secret keeps the contract (never throw on a well-sized ciphertext) and fails closed.
        try {
          return toBytes(impl.decapsulate(ciphertext, secretKey));
        } catch {
          return randomBytes(32);
        }
      },
    },
  );
}
