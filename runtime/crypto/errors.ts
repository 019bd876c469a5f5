// Typed errors for the crypto layer and identities: a stable code (PQG5xxx) and one lowercase sentence.
// Messages name algorithms, lengths and file paths, never key or secret bytes.
import { PqguardError, errorCatalogue } from "../errors.js";

/** The catalogue of crypto and identity error codes; a code never changes meaning once published. */
export const CRYPTO_ERRORS = errorCatalogue("crypto and key files", "CryptoError", [[5001, 5199]], {
  UnknownAlgorithm: ["PQG5001", "An algorithm name that the registry does not know (configuration or lookup)."],
  InvalidConfiguration: ["PQG5002", "A suite configuration that is empty or names an algorithm of the wrong kind."],
  ProviderUnavailable: ["PQG5003", "A provider was forced (PQGUARD_PROVIDER) that the running Node does not have."],
  WrongLength: ["PQG5010", "A key, ciphertext, nonce, seed or signature with the wrong number of bytes."],
  InvalidPublicKey: ["PQG5011", "A well-sized public key that fails validation (e.g. ML-KEM modulus check, a point not on the curve)."],
  InvalidSecretKey: ["PQG5012", "A well-sized secret key that fails validation (e.g. ML-KEM hash check)."],
  ContextTooLong: ["PQG5013", "A FIPS 204 context string longer than 255 bytes."],
  KeyAgreementFailed: ["PQG5014", "A classical key agreement whose result is the all-zero value (a low-order peer point)."],
  InvalidParameter: ["PQG5015", "An HKDF output longer than 255 hash blocks, or another out-of-range parameter."],
  KeyFileUnreadable: ["PQG5101", "A key file that does not exist or cannot be read."],
  KeyFileInsecure: ["PQG5102", "A secret key file that group or others may read."],
  KeyFileMalformed: ["PQG5103", "A key file that is not a well-formed `pqguard-key/1` document."],
  KeyFileWrongKind: ["PQG5104", "A public key file where a secret key was expected, or the reverse."],
  KeyFileExists: ["PQG5105", "A key file that already exists and would be overwritten."],
  MalformedFingerprint: ["PQG5106", "A fingerprint string that is not `<prefix>:<base32>` for a known algorithm."],
  KeyFileVersion: ["PQG5107", "A key file of another version of the format (`pqguard-key/2`): refused by name rather than misread."],
});

/** The codes by name, to throw with. */
export const CryptoErrorCode = CRYPTO_ERRORS.codes;

export type CryptoErrorCode = (typeof CryptoErrorCode)[keyof typeof CryptoErrorCode];

export class CryptoError extends PqguardError {
  declare readonly code: CryptoErrorCode;
  constructor(code: CryptoErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = "CryptoError";
  }
}

/** A configuration error found at startup: an unknown or misplaced algorithm name. */
export class CryptoConfigError extends CryptoError {
  constructor(code: CryptoErrorCode, message: string) {
    super(code, message);
    this.name = "CryptoConfigError";
  }
}
