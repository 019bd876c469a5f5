// Fingerprints: the stable text form of a public key that policies and trust lists pin,
// `<algorithm prefix>:<lowercase RFC 4648 base32, unpadded, of SHA3-256(public key)>`, e.g. `mldsa65:…`.
import { CryptoError, CryptoErrorCode } from "../crypto/errors.js";
import { algorithmNames, hash } from "../crypto/registry.js";

const BASE32_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";
/** SHA3-256 gives 32 bytes: 256 bits in 5-bit groups is 52 characters. */
const DIGEST_LENGTH = 32;
const ENCODED_LENGTH = Math.ceil((DIGEST_LENGTH * 8) / 5);
export const FINGERPRINT_HASH = "SHA3-256";

/** Lowercase RFC 4648 base32 without padding. */
export function base32(bytes: Uint8Array): string {
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32_ALPHABET[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32_ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

/** Decodes canonical lowercase unpadded base32; undefined for any other spelling (so each key has one fingerprint). */
export function decodeBase32(text: string): Uint8Array | undefined {
  const out: number[] = [];
  let buffer = 0;
  let bits = 0;
  for (const char of text) {
    const value = BASE32_ALPHABET.indexOf(char);
    if (value < 0) return undefined;
    buffer = (buffer << 5) | value;
    bits += 5;
    if (bits >= 8) {
      out.push((buffer >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
    buffer &= (1 << bits) - 1;
  }
  // Leftover bits must be zero padding, and there must not be a whole spare character.
  if (bits >= 5 || buffer !== 0) return undefined;
  return Uint8Array.from(out);
}

/** `ML-DSA-65` → `mldsa65`, `X25519MLKEM768` → `x25519mlkem768`. */
export function fingerprintPrefix(algorithm: string): string {
  return algorithm.toLowerCase().replace(/[^a-z0-9]/g, "");
}

function identityAlgorithms(): string[] {
  return [...algorithmNames("signature"), ...algorithmNames("kem")];
}

function algorithmForPrefix(prefix: string): string | undefined {
  return identityAlgorithms().find((name) => fingerprintPrefix(name) === prefix);
}

export function fingerprint(algorithm: string, publicKey: Uint8Array): string {
  if (!identityAlgorithms().includes(algorithm)) {
    throw new CryptoError(
      CryptoErrorCode.UnknownAlgorithm,
      `cannot fingerprint a key of unknown algorithm \`${algorithm}\`; valid names are ${identityAlgorithms().map((n) => `\`${n}\``).join(", ")}`,
    );
  }
  return `${fingerprintPrefix(algorithm)}:${base32(hash(FINGERPRINT_HASH).digest(publicKey))}`;
}

export interface ParsedFingerprint {
  /** Registry name of the key's algorithm, e.g. `ML-DSA-65`. */
  readonly algorithm: string;
  readonly prefix: string;
  /** SHA3-256 of the public key. */
  readonly digest: Uint8Array;
  /** The canonical text form (what `fingerprint()` returns). */
  readonly text: string;
}

export function parseFingerprint(text: string): ParsedFingerprint {
  const malformed = (why: string) =>
    new CryptoError(CryptoErrorCode.MalformedFingerprint, `malformed fingerprint \`${text.slice(0, 80)}\`: ${why}`);
  const colon = text.indexOf(":");
  if (colon < 0) throw malformed("expected `<algorithm>:<base32>`, e.g. `mldsa65:…`");
  const prefix = text.slice(0, colon);
  const encoded = text.slice(colon + 1);
  const algorithm = algorithmForPrefix(prefix);
  if (algorithm === undefined) {
    throw malformed(`unknown algorithm prefix \`${prefix}\`; valid prefixes are ${identityAlgorithms().map((n) => `\`${fingerprintPrefix(n)}\``).join(", ")}`);
  }
  if (encoded.length !== ENCODED_LENGTH) throw malformed(`expected ${ENCODED_LENGTH} base32 characters, got ${encoded.length}`);
  const digest = decodeBase32(encoded);
  if (digest === undefined || digest.length !== DIGEST_LENGTH) throw malformed("expected lowercase base32 (a-z, 2-7) without padding");
  return { algorithm, prefix, digest, text };
}
