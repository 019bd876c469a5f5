// Public surface of identities: key generation, key files and fingerprints.
export { base32, decodeBase32, fingerprint, fingerprintPrefix, parseFingerprint, FINGERPRINT_HASH, type ParsedFingerprint } from "./fingerprint.js";
export {
  DEFAULT_IDENTITY_ALGORITHM,
  KEY_FILE_FORMAT,
  generateIdentity,
  identityAlgorithms,
  loadPublicKey,
  loadSecretKey,
  writeIdentity,
  type Identity,
  type PublicIdentity,
  type WriteOptions,
  type WrittenKeyFiles,
} from "./keys.js";
