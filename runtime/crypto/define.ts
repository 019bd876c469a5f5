// Wraps a provider's raw operations in the registry contracts, checking every byte length at the boundary,
// so that no provider can return or accept a wrongly sized key, ciphertext, secret or signature.
import { algorithmFacts } from "../guard/algorithms.js";
import { expectBytes, expectLength } from "./bytes.js";
import { CryptoError, CryptoErrorCode } from "./errors.js";
import type { Aead, Kem, KemKeyPair, SecurityLevel, SignatureKeyPair, SignatureScheme } from "./types.js";

/** FIPS 204 limits the domain-separation context to 255 bytes. */
export const MAX_SIGNATURE_CONTEXT_LENGTH = 255;

/** Security level from the shared algorithm table, so policies and providers can never disagree. */
export function levelOf(name: string): SecurityLevel {
  const facts = algorithmFacts(name);
  if (facts === undefined) {
    throw new CryptoError(CryptoErrorCode.UnknownAlgorithm, `algorithm \`${name}\` is missing from the shared algorithm table`);
  }
  return facts.level as SecurityLevel;
}

/** Key generation with every length checked at the boundary: the seed going in, both keys coming out. */
function checkedKeygen<P extends { publicKey: Uint8Array; secretKey: Uint8Array }>(
  spec: { readonly name: string; readonly seedLength: number; readonly publicKeyLength: number; readonly secretKeyLength: number },
  ops: { keygen(seed: Uint8Array | undefined): P },
  seed: Uint8Array | undefined,
): P {
  if (seed !== undefined) expectLength(seed, spec.seedLength, `${spec.name} key generation seed`);
  const pair = ops.keygen(seed);
  expectLength(pair.publicKey, spec.publicKeyLength, `${spec.name} public key`);
  expectLength(pair.secretKey, spec.secretKeyLength, `${spec.name} secret key`);
  return pair;
}

export interface KemSpec {
  readonly name: string;
  readonly provider: string;
  readonly hybrid: boolean;
  readonly publicKeyLength: number;
  readonly secretKeyLength: number;
  readonly ciphertextLength: number;
  readonly sharedSecretLength: number;
  /** Length of the seed `keygen(seed)` takes. */
  readonly seedLength: number;
}

export interface KemOps {
  keygen(seed: Uint8Array | undefined): KemKeyPair;
  encapsulate(publicKey: Uint8Array): { ciphertext: Uint8Array; sharedSecret: Uint8Array };
  decapsulate(ciphertext: Uint8Array, secretKey: Uint8Array): Uint8Array;
  /** Encapsulation with caller-chosen randomness, for known-answer tests only; absent where the provider has none. */
  encapsulateWithRandomness?(publicKey: Uint8Array, randomness: Uint8Array): { ciphertext: Uint8Array; sharedSecret: Uint8Array };
}

/** A KEM as the registry hands it out, plus what known-answer tests need. */
export interface ProviderKem extends Kem {
  readonly seedLength: number;
  /** Deterministic encapsulation from `randomness` (known-answer tests); undefined where the provider cannot. */
  readonly encapsulateWithRandomness:
    | ((publicKey: Uint8Array, randomness: Uint8Array) => { ciphertext: Uint8Array; sharedSecret: Uint8Array })
    | undefined;
}

export function defineKem(spec: KemSpec, ops: KemOps): ProviderKem {
  const checkEncapsulation = (result: { ciphertext: Uint8Array; sharedSecret: Uint8Array }) => {
    expectLength(result.ciphertext, spec.ciphertextLength, `${spec.name} ciphertext`);
    expectLength(result.sharedSecret, spec.sharedSecretLength, `${spec.name} shared secret`);
    return result;
  };
  const withRandomness = ops.encapsulateWithRandomness;
  return Object.freeze({
    kind: "kem" as const,
    name: spec.name,
    level: levelOf(spec.name),
    provider: spec.provider,
    hybrid: spec.hybrid,
    publicKeyLength: spec.publicKeyLength,
    secretKeyLength: spec.secretKeyLength,
    ciphertextLength: spec.ciphertextLength,
    sharedSecretLength: spec.sharedSecretLength,
    seedLength: spec.seedLength,
    keygen: (seed?: Uint8Array): KemKeyPair => checkedKeygen(spec, ops, seed),
    encapsulate(publicKey: Uint8Array) {
      expectLength(publicKey, spec.publicKeyLength, `${spec.name} public key`);
      return checkEncapsulation(ops.encapsulate(publicKey));
    },
    decapsulate(ciphertext: Uint8Array, secretKey: Uint8Array): Uint8Array {
      expectLength(ciphertext, spec.ciphertextLength, `${spec.name} ciphertext`);
      expectLength(secretKey, spec.secretKeyLength, `${spec.name} secret key`);
      return expectLength(ops.decapsulate(ciphertext, secretKey), spec.sharedSecretLength, `${spec.name} shared secret`);
    },
    encapsulateWithRandomness:
      withRandomness === undefined
        ? undefined
        : (publicKey: Uint8Array, randomness: Uint8Array) => {
            expectLength(publicKey, spec.publicKeyLength, `${spec.name} public key`);
            expectBytes(randomness, `${spec.name} encapsulation randomness`);
            return checkEncapsulation(withRandomness(publicKey, randomness));
          },
  });
}

export interface SignatureSpec {
  readonly name: string;
  readonly provider: string;
  readonly publicKeyLength: number;
  readonly secretKeyLength: number;
  readonly signatureLength: number;
  readonly seedLength: number;
}

export interface SignatureOps {
  keygen(seed: Uint8Array | undefined): SignatureKeyPair;
  sign(message: Uint8Array, secretKey: Uint8Array, context: Uint8Array): Uint8Array;
  /** Returns false for a well-sized but invalid signature; throws only on malformed inputs. */
  verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array, context: Uint8Array): boolean;
  /** Signing with caller-chosen randomness (`false`: the deterministic variant), for known-answer tests only. */
  signWithRandomness?(message: Uint8Array, secretKey: Uint8Array, context: Uint8Array, randomness: Uint8Array | false): Uint8Array;
}

export interface ProviderSignatureScheme extends SignatureScheme {
  readonly seedLength: number;
  readonly signWithRandomness:
    | ((message: Uint8Array, secretKey: Uint8Array, context: Uint8Array, randomness: Uint8Array | false) => Uint8Array)
    | undefined;
}

function expectContext(context: Uint8Array, name: string): void {
  expectBytes(context, `${name} context`);
  if (context.length > MAX_SIGNATURE_CONTEXT_LENGTH) {
    throw new CryptoError(
      CryptoErrorCode.ContextTooLong,
      `${name} context must be at most ${MAX_SIGNATURE_CONTEXT_LENGTH} bytes, got ${context.length}`,
    );
  }
}

export function defineSignature(spec: SignatureSpec, ops: SignatureOps): ProviderSignatureScheme {
  const withRandomness = ops.signWithRandomness;
  return Object.freeze({
    kind: "signature" as const,
    name: spec.name,
    level: levelOf(spec.name),
    provider: spec.provider,
    publicKeyLength: spec.publicKeyLength,
    secretKeyLength: spec.secretKeyLength,
    signatureLength: spec.signatureLength,
    seedLength: spec.seedLength,
    keygen: (seed?: Uint8Array): SignatureKeyPair => checkedKeygen(spec, ops, seed),
    sign(message: Uint8Array, secretKey: Uint8Array, context: Uint8Array): Uint8Array {
      expectBytes(message, `${spec.name} message`);
      expectLength(secretKey, spec.secretKeyLength, `${spec.name} secret key`);
      expectContext(context, spec.name);
      return expectLength(ops.sign(message, secretKey, context), spec.signatureLength, `${spec.name} signature`);
    },
    verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array, context: Uint8Array): boolean {
      expectBytes(signature, `${spec.name} signature`);
      expectBytes(message, `${spec.name} message`);
      expectLength(publicKey, spec.publicKeyLength, `${spec.name} public key`);
      expectContext(context, spec.name);
      // A signature of the wrong length is simply not a valid signature: callers get false, not an exception.
      if (signature.length !== spec.signatureLength) return false;
      return ops.verify(signature, message, publicKey, context) === true;
    },
    signWithRandomness:
      withRandomness === undefined
        ? undefined
        : (message: Uint8Array, secretKey: Uint8Array, context: Uint8Array, randomness: Uint8Array | false) => {
            expectLength(secretKey, spec.secretKeyLength, `${spec.name} secret key`);
            expectContext(context, spec.name);
            return expectLength(withRandomness(message, secretKey, context, randomness), spec.signatureLength, `${spec.name} signature`);
          },
  });
}

export interface AeadSpec {
  readonly name: string;
  readonly provider: string;
  readonly keyLength: number;
  readonly nonceLength: number;
  readonly tagLength: number;
}

export interface AeadOps {
  seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array;
  open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | undefined;
  /** Drops anything the provider keeps for `key` (see Aead.forget). */
  forget?(key: Uint8Array): void;
  /** Optional fused forms (see Aead.sealRecord/openRecord); built from seal and open when absent. */
  sealRecord?(key: Uint8Array, nonce: Uint8Array, header: Uint8Array, text: string): string;
  openRecord?(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, header: Uint8Array): string | undefined;
}

const asBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

export function defineAead(spec: AeadSpec, ops: AeadOps): Aead {
  // Named once: the record layer calls these checks on every frame.
  const what = {
    key: `${spec.name} key`,
    nonce: `${spec.name} nonce`,
    header: `${spec.name} record header`,
    sealed: `${spec.name} sealed input`,
    plaintext: `${spec.name} plaintext`,
    aad: `${spec.name} associated data`,
    output: `${spec.name} sealed output`,
  };
  const checkKeyAndNonce = (key: Uint8Array, nonce: Uint8Array): void => {
    expectLength(key, spec.keyLength, what.key);
    expectLength(nonce, spec.nonceLength, what.nonce);
  };
  const sealRecord =
    ops.sealRecord ??
    ((key: Uint8Array, nonce: Uint8Array, header: Uint8Array, text: string): string => {
      const plaintext = Buffer.from(text, "utf8");
      const sealed = expectLength(ops.seal(key, nonce, plaintext, header), plaintext.length + spec.tagLength, what.output);
      return Buffer.concat([header, sealed]).toString("base64url");
    });
  const openRecord =
    ops.openRecord ??
    ((key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, header: Uint8Array): string | undefined => {
      const plaintext = ops.open(key, nonce, sealed, header);
      return plaintext === undefined ? undefined : asBuffer(plaintext).toString("utf8");
    });
  return Object.freeze({
    kind: "aead" as const,
    name: spec.name,
    level: levelOf(spec.name),
    provider: spec.provider,
    keyLength: spec.keyLength,
    nonceLength: spec.nonceLength,
    tagLength: spec.tagLength,
    seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
      checkKeyAndNonce(key, nonce);
      expectBytes(plaintext, what.plaintext);
      expectBytes(aad, what.aad);
      return expectLength(ops.seal(key, nonce, plaintext, aad), plaintext.length + spec.tagLength, what.output);
    },
    open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | undefined {
      checkKeyAndNonce(key, nonce);
      expectBytes(sealed, what.sealed);
      expectBytes(aad, what.aad);
      // Too short to hold a tag: unauthenticated by definition.
      if (sealed.length < spec.tagLength) return undefined;
      return ops.open(key, nonce, sealed, aad);
    },
    forget(key: Uint8Array): void {
      ops.forget?.(key);
    },
    sealRecord(key: Uint8Array, nonce: Uint8Array, header: Uint8Array, text: string): string {
      checkKeyAndNonce(key, nonce);
      expectBytes(header, what.header);
      return sealRecord(key, nonce, header, text);
    },
    openRecord(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, header: Uint8Array): string | undefined {
      checkKeyAndNonce(key, nonce);
      expectBytes(sealed, what.sealed);
      expectBytes(header, what.header);
      if (sealed.length < spec.tagLength) return undefined;
      return openRecord(key, nonce, sealed, header);
    },
  });
}
