// Typed errors for the crypto layer and identities: a stable code (PQG5xxx) and one lowercase sentence.
// Messages name algorithms, lengths and file paths, never key or secret bytes.

/** The catalogue of crypto and identity error codes; a code never changes meaning once published. */
export const CryptoErrorCode = {
  /** An algorithm name that the registry does not know (configuration or lookup). */
  UnknownAlgorithm: "PQG5001",
  /** A suite configuration that is empty or names an algorithm of the wrong kind. */
  InvalidConfiguration: "PQG5002",
  /** A provider was forced (PQGUARD_PROVIDER) that the running Node does not have. */
  ProviderUnavailable: "PQG5003",
  /** A key, ciphertext, nonce, seed or signature with the wrong number of bytes. */
  WrongLength: "PQG5010",
  /** A well-sized public key that fails validation (e.g. ML-KEM modulus check, a point not on the curve). */
  InvalidPublicKey: "PQG5011",
  /** A well-sized secret key that fails validation (e.g. ML-KEM hash check). */
  InvalidSecretKey: "PQG5012",
  /** A FIPS 204 context string longer than 255 bytes. */
  ContextTooLong: "PQG5013",
  /** A classical key agreement whose result is the all-zero value (a low-order peer point). */
  KeyAgreementFailed: "PQG5014",
  /** An HKDF output longer than 255 hash blocks, or another out-of-range parameter. */
  InvalidParameter: "PQG5015",
  /** A key file that does not exist or cannot be read. */
  KeyFileUnreadable: "PQG5101",
  /** A secret key file that group or others may read. */
  KeyFileInsecure: "PQG5102",
  /** A key file that is not a well-formed `pqguard-key/1` document. */
  KeyFileMalformed: "PQG5103",
  /** A public key file where a secret key was expected, or the reverse. */
  KeyFileWrongKind: "PQG5104",
  /** A key file that already exists and would be overwritten. */
  KeyFileExists: "PQG5105",
  /** A fingerprint string that is not `<prefix>:<base32>` for a known algorithm. */
  MalformedFingerprint: "PQG5106",
  /** A key file of another version of the format (`pqguard-key/2`): refused by name rather than misread. */
  KeyFileVersion: "PQG5107",
} as const;

export type CryptoErrorCode = (typeof CryptoErrorCode)[keyof typeof CryptoErrorCode];

export class CryptoError extends Error {
  readonly code: CryptoErrorCode;
  constructor(code: CryptoErrorCode, message: string) {
    super(message);
    this.name = "CryptoError";
    this.code = code;
  }
}

/** A configuration error found at startup: an unknown or misplaced algorithm name. */
export class CryptoConfigError extends CryptoError {
  constructor(code: CryptoErrorCode, message: string) {
    super(code, message);
    this.name = "CryptoConfigError";
  }
}
