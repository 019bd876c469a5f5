// The crypto provider contracts: what session, manifest and identity code may ask of an algorithm.
// Algorithms are looked up by name in the registry; no code outside runtime/crypto/ names a primitive or a key length.

/** NIST post-quantum security category (1 to 5; ML-DSA-44 and hashes are category 2); 0 for a classical-only algorithm. */
export type SecurityLevel = 0 | 1 | 2 | 3 | 5;

export interface AlgorithmInfo {
  /** Registry name, e.g. `X25519MLKEM768`, `ML-DSA-65`, `AES-256-GCM`. */
  readonly name: string;
  readonly level: SecurityLevel;
  /** Which implementation serves it, e.g. `node:crypto` or `@noble/post-quantum`. */
  readonly provider: string;
}

export interface KemKeyPair {
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;
}

export interface Kem extends AlgorithmInfo {
  readonly kind: "kem";
  readonly hybrid: boolean;
  readonly publicKeyLength: number;
  readonly secretKeyLength: number;
  readonly ciphertextLength: number;
  readonly sharedSecretLength: number;
  /** Length of the seed `keygen(seed)` takes (every registered KEM has one). */
  readonly seedLength?: number;
  /** Deterministic from `seed` when given (for known-answer tests); otherwise from the CSPRNG. */
  keygen(seed?: Uint8Array): KemKeyPair;
  encapsulate(publicKey: Uint8Array): { ciphertext: Uint8Array; sharedSecret: Uint8Array };
  /** Never throws on a well-sized but tampered ciphertext: ML-KEM's implicit rejection returns a pseudo-random secret. */
  decapsulate(ciphertext: Uint8Array, secretKey: Uint8Array): Uint8Array;
}

export interface SignatureKeyPair {
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;
}

export interface SignatureScheme extends AlgorithmInfo {
  readonly kind: "signature";
  readonly publicKeyLength: number;
  readonly secretKeyLength: number;
  readonly signatureLength: number;
  /** Length of the seed `keygen(seed)` takes (every registered scheme has one). */
  readonly seedLength?: number;
  keygen(seed?: Uint8Array): SignatureKeyPair;
  /** `context` is the FIPS 204 domain-separation context string (at most 255 bytes). */
  sign(message: Uint8Array, secretKey: Uint8Array, context: Uint8Array): Uint8Array;
  verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array, context: Uint8Array): boolean;
}

export interface Aead extends AlgorithmInfo {
  readonly kind: "aead";
  readonly keyLength: number;
  readonly nonceLength: number;
  readonly tagLength: number;
  /** Returns ciphertext with the tag appended. */
  seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array;
  /** Returns the plaintext, or undefined when authentication fails. Never returns unauthenticated bytes. */
  open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | undefined;
  /**
   * The record layer's form of `seal`: seals the UTF-8 encoding of `text` with `header` as associated data and returns
   * base64url(header ‖ ciphertext ‖ tag). Same bytes as `seal`; providers may do it without intermediate copies.
   */
  sealRecord(key: Uint8Array, nonce: Uint8Array, header: Uint8Array, text: string): string;
  /**
   * The caller is done with `key` (it is about to zero it): the provider drops whatever it derived from it, such as
   * an imported key object, so no copy outlives the caller's own.
   */
  forget(key: Uint8Array): void;
  /** The record layer's form of `open`: the plaintext decoded as UTF-8, or undefined when authentication fails. */
  openRecord(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, header: Uint8Array): string | undefined;
}

export interface Kdf extends AlgorithmInfo {
  readonly kind: "kdf";
  readonly hashLength: number;
  extract(salt: Uint8Array, ikm: Uint8Array): Uint8Array;
  expand(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array;
  hkdf(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array;
  hmac(key: Uint8Array, data: Uint8Array): Uint8Array;
}

export interface Hash extends AlgorithmInfo {
  readonly kind: "hash";
  readonly outputLength: number;
  digest(data: Uint8Array): Uint8Array;
}
