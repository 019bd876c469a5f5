// node:crypto KeyObjects cached per key byte array, so that a key is parsed and validated once in its lifetime
// (a server's static key, a certificate's public key, an ephemeral key from generation to decapsulation), not per use.
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";

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

/** Whether `Error.stackTraceLimit` may be set here (it may not under --frozen-intrinsics). */
const STACK_LIMIT_WRITABLE = Object.getOwnPropertyDescriptor(Error, "stackTraceLimit")?.writable === true;

/**
 * Runs a node:crypto key import with stack traces off. Node 24 checks any key given as an object or as bytes for a
 * KeyObject and a CryptoKey brand by catching thrown errors (four for `{ key: bytes, format }`), and capturing their
 * stack traces is most of that cost (≈ 4 → 1 µs per error). The import itself is synchronous, so no other code runs
 * with the limit lowered; it is restored before any error leaves, and callers replace node's errors with their own.
 */
export function withoutStackTraces<T>(run: () => T): T {
  if (!STACK_LIMIT_WRITABLE) return run();
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return run();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** node:crypto's raw key inputs (Node >= 24.15: `raw-public`, `raw-private`), which @types/node 20 does not declare. */
interface RawKeyInput {
  key: Uint8Array;
  format: "raw-public" | "raw-private";
  asymmetricKeyType: string;
}
const createRawPublicKey = createPublicKey as unknown as (input: RawKeyInput) => KeyObject;
const createRawPrivateKey = createPrivateKey as unknown as (input: RawKeyInput) => KeyObject;

/** The X25519 base point (u = 9): a public key every node:crypto with raw key inputs accepts. */
const X25519_BASE_POINT = Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 9 : 0));

let rawKeys: boolean | undefined;

/** Whether node:crypto imports keys in its raw formats (Node >= 24.15), probed once. */
export function hasRawKeyImport(): boolean {
  if (rawKeys === undefined) {
    try {
      createRawPublicKey({ key: X25519_BASE_POINT, format: "raw-public", asymmetricKeyType: "x25519" });
      rawKeys = true;
    } catch {
      rawKeys = false;
    }
  }
  return rawKeys;
}

/**
 * A public or private key of node:crypto type `type` from its raw bytes (FIPS encodings for ML-KEM, RFC 7748 for
 * X25519); only where hasRawKeyImport(). Raw bytes skip the DER or PEM decoding, which costs more than the import.
 */
export function importRawKey(kind: "public" | "private", type: string, bytes: Uint8Array): KeyObject {
  const input: RawKeyInput = { key: bytes, format: kind === "public" ? "raw-public" : "raw-private", asymmetricKeyType: type };
  return withoutStackTraces(() => (kind === "public" ? createRawPublicKey(input) : createRawPrivateKey(input)));
}

/*
 * Why fresh keys are generated as DER bytes, never kept as the generated KeyObjects: in Node 20 a KeyObject made by
 * `generateKeyPairSync` shares its key's mutex with the (garbage) key generation job, and exporting or using it holds
 * that mutex while allocating; a garbage collection at that moment runs the job's destructor, which takes the same
 * mutex, and the process deadlocks (seen here in a test run: ExportJWKEdKey → GC → ~KeyGenJob → mutex). Keys imported
 * with createPrivateKey/createPublicKey belong to no job, so they are safe to cache and reuse.
 */

