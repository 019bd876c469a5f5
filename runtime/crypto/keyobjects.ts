// node:crypto KeyObjects cached per key byte array, so that a key is parsed and validated once in its lifetime
// (a server's static key, a certificate's public key, an ephemeral key from generation to decapsulation), not per use.
import { generateKeyPairSync, type KeyObject } from "node:crypto";

interface Entry {
  /** What the KeyObject is (algorithm and public or private), so one array is never read as another kind of key. */
  readonly kind: string;
  /** The bytes the KeyObject was made from: a hit requires the array to still hold exactly these. */
  readonly bytes: Uint8Array;
  readonly key: KeyObject;
}

/**
 * Weakly keyed by the caller's own array, so an entry (its KeyObject and its copy of the bytes) lives no longer than
 * that array. An entry is used only while the array still holds the bytes it was made from: a caller that rewrites
 * or wipes an array gets a fresh import, never a stale key.
 */
const entries = new WeakMap<Uint8Array, Entry>();

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/** The KeyObject of `kind` for the key in `bytes`: the cached one while `bytes` is unchanged, else `load(bytes)`. */
export function cachedKeyObject(kind: string, bytes: Uint8Array, load: (bytes: Uint8Array) => KeyObject): KeyObject {
  const hit = entries.get(bytes);
  if (hit !== undefined && hit.kind === kind && sameBytes(hit.bytes, bytes)) return hit.key;
  const key = load(bytes);
  entries.set(bytes, { kind, bytes: Uint8Array.from(bytes), key });
  return key;
}

/** Drops the entry for `bytes` and zeroes its copy of them (the KeyObject itself goes with the next collection). */
export function forgetKeyObject(bytes: Uint8Array): void {
  entries.get(bytes)?.bytes.fill(0);
  entries.delete(bytes);
}

/** Records that `key` (just generated, so never imported) is the KeyObject for the key exported as `bytes`. */
export function rememberKeyObject(kind: string, bytes: Uint8Array, key: KeyObject): void {
  entries.set(bytes, { kind, bytes: Uint8Array.from(bytes), key });
}

/**
 * The key held in `from` now lives in `to` (a hybrid KEM joins its components' keys into one array): the entry moves
 * with it, provided `to` holds the same bytes. `from` loses its entry, so the caller may wipe it.
 */
export function moveKeyObject(from: Uint8Array, to: Uint8Array): void {
  const hit = entries.get(from);
  if (hit === undefined) return;
  entries.delete(from);
  if (sameBytes(hit.bytes, to)) entries.set(to, hit);
}

/** PEM text (RFC 7468: base64 in lines of 64 characters) around DER bytes; only ever used for public keys. */
export function pem(label: "PUBLIC KEY", der: Uint8Array): string {
  const base64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString("base64");
  let body = "";
  for (let offset = 0; offset < base64.length; offset += 64) body += `${base64.slice(offset, offset + 64)}\n`;
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}

/** Encodings that make `generateKeyPairSync` return DER bytes instead of KeyObjects. */
const DER_KEY_PAIR = { publicKeyEncoding: { type: "spki", format: "der" }, privateKeyEncoding: { type: "pkcs8", format: "der" } } as const;

/**
 * A fresh key pair of node:crypto type `type` (`x25519`, `ml-kem-768`, ...) as DER: SubjectPublicKeyInfo and PKCS #8.
 * Callers zero `privateKey` when done. (Node's typings list the encodings for some key types only; all accept them.)
 */
export function generateDerKeyPair(type: string): { publicKey: Buffer; privateKey: Buffer } {
  const generate = generateKeyPairSync as unknown as (type: string, options: typeof DER_KEY_PAIR) => { publicKey: Buffer; privateKey: Buffer };
  return generate(type, DER_KEY_PAIR);
}

/**
 * An X25519 pair for one agreement: the private key as the generated KeyObject, the public key as SPKI DER encoded by
 * the generation job itself. Safe only because the private key is never exported, only passed to diffieHellman, which
 * holds no key lock while it allocates (the job's own encoding runs while the job is alive).
 */
export function generateEphemeralX25519(): { privateKey: KeyObject; publicKey: Buffer } {
  const generate = generateKeyPairSync as unknown as (
    type: "x25519",
    options: { publicKeyEncoding: (typeof DER_KEY_PAIR)["publicKeyEncoding"] },
  ) => { privateKey: KeyObject; publicKey: Buffer };
  return generate("x25519", { publicKeyEncoding: DER_KEY_PAIR.publicKeyEncoding });
}

/*
 * Why fresh keys are generated as DER bytes, never kept as the generated KeyObjects: in Node 20 a KeyObject made by
 * `generateKeyPairSync` shares its key's mutex with the (garbage) key generation job, and exporting or using it holds
 * that mutex while allocating; a garbage collection at that moment runs the job's destructor, which takes the same
 * mutex, and the process deadlocks (seen here in a test run: ExportJWKEdKey → GC → ~KeyGenJob → mutex). Keys imported
 * with createPrivateKey/createPublicKey belong to no job, so they are safe to cache and reuse.
 */

