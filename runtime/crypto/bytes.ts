// Byte-level checks shared by every provider: exact lengths at each boundary, concatenation, constant-time compare.
import { randomBytes as nodeRandomBytes, timingSafeEqual } from "node:crypto";
import { CryptoError, CryptoErrorCode } from "./errors.js";

/** Throws a typed error unless `bytes` is a Uint8Array of exactly `length` bytes. `what` names it in the message. */
export function expectLength(bytes: Uint8Array, length: number, what: string): Uint8Array {
  if (!(bytes instanceof Uint8Array)) {
    throw new CryptoError(CryptoErrorCode.WrongLength, `${what} must be bytes (a Uint8Array of ${length} bytes)`);
  }
  if (bytes.length !== length) {
    throw new CryptoError(CryptoErrorCode.WrongLength, `${what} must be ${length} bytes, got ${bytes.length}`);
  }
  return bytes;
}

/** Throws a typed error unless `bytes` is a Uint8Array (of any length). */
export function expectBytes(bytes: Uint8Array, what: string): Uint8Array {
  if (!(bytes instanceof Uint8Array)) {
    throw new CryptoError(CryptoErrorCode.WrongLength, `${what} must be bytes (a Uint8Array)`);
  }
  return bytes;
}

export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const part of parts) total += part.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Splits `bytes` into consecutive views of the given lengths; the lengths must add up to the whole. */
export function splitBytes(bytes: Uint8Array, lengths: readonly number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let offset = 0;
  for (const length of lengths) {
    out.push(bytes.subarray(offset, offset + length));
    offset += length;
  }
  return out;
}

/** A plain Uint8Array view (not a Buffer subclass), so callers see one type whatever the provider returned. */
export function toBytes(data: Uint8Array | ArrayBuffer): Uint8Array {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Cryptographically secure random bytes from the operating system (node:crypto). */
export function randomBytes(length: number): Uint8Array {
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new CryptoError(CryptoErrorCode.InvalidParameter, `random byte count must be a non-negative integer, got ${length}`);
  }
  return toBytes(nodeRandomBytes(length));
}

/**
 * Compares two byte strings in time that depends only on their lengths (crypto.timingSafeEqual).
 * Different lengths return false at once: lengths are public in every place this is used (MACs, hashes).
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}
