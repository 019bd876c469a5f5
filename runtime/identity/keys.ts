// Identities and their key files: NAME.key (secret, mode 0600) and NAME.pub, each a self-describing
// `pqguard-key/1` JSON document naming the algorithm, the key id (its fingerprint) and when it was created.
import { chmod, stat, unlink, writeFile } from "node:fs/promises";
import { CryptoError, CryptoErrorCode } from "../crypto/errors.js";
import { algorithmNames, kem, randomBytes, signature } from "../crypto/registry.js";
import { levelOf } from "../crypto/define.js";
import { readBoundedFile } from "./files.js";
import { fingerprint } from "./fingerprint.js";

export const KEY_FILE_FORMAT = "pqguard-key/1";
export const DEFAULT_IDENTITY_ALGORITHM = "ML-DSA-65";
/** Owner read/write only: a secret key that anyone else can read is refused on load. */
export const SECRET_KEY_FILE_MODE = 0o600;
export const PUBLIC_KEY_FILE_MODE = 0o644;
const GROUP_OR_OTHER_BITS = 0o077;

export interface PublicIdentity {
  /** Registry name, e.g. `ML-DSA-65`. */
  readonly algorithm: string;
  /** The key's fingerprint, e.g. `mldsa65:…`. */
  readonly keyId: string;
  /** ISO 8601 time of generation. */
  readonly created: string;
  readonly publicKey: Uint8Array;
}

export interface Identity extends PublicIdentity {
  /** The key in the form the algorithm's provider uses (e.g. the FIPS 204 expanded signing key). */
  readonly secretKey: Uint8Array;
  /** The key generation seed: what the secret key file stores; secretKey and publicKey are derived from it. */
  readonly seed: Uint8Array;
}

interface KeyMaterial {
  readonly seedLength: number;
  readonly publicKeyLength: number;
  keygen(seed: Uint8Array): { publicKey: Uint8Array; secretKey: Uint8Array };
}

/**
 * Algorithms an identity may use: the post-quantum signature schemes (ML-DSA) and KEMs (e.g. a server's certified
 * ML-KEM key). The classical-only X25519 is left out: it exists to be refused, not to be someone's identity.
 */
export function identityAlgorithms(): string[] {
  return [...algorithmNames("signature"), ...algorithmNames("kem")].filter((name) => levelOf(name) > 0);
}

function keyMaterial(algorithm: string): KeyMaterial {
  const known = identityAlgorithms();
  if (!known.includes(algorithm)) {
    throw new CryptoError(
      CryptoErrorCode.UnknownAlgorithm,
      `unknown key algorithm \`${algorithm}\`; valid names are ${known.map((n) => `\`${n}\``).join(", ")}`,
    );
  }
  const scheme = algorithmNames("signature").includes(algorithm) ? signature(algorithm) : kem(algorithm);
  const seedLength = scheme.seedLength;
  if (seedLength === undefined) {
    throw new CryptoError(CryptoErrorCode.InvalidParameter, `algorithm \`${algorithm}\` cannot derive keys from a seed`);
  }
  return { seedLength, publicKeyLength: scheme.publicKeyLength, keygen: (seed) => scheme.keygen(seed) };
}

function deriveIdentity(algorithm: string, seed: Uint8Array, created: string): Identity {
  const { publicKey, secretKey } = keyMaterial(algorithm).keygen(seed);
  return Object.freeze({ algorithm, keyId: fingerprint(algorithm, publicKey), created, publicKey, secretKey, seed });
}

/** A fresh identity from the CSPRNG. `now` is passed in so tests control the `created` time. */
export function generateIdentity(algorithm: string = DEFAULT_IDENTITY_ALGORITHM, now: () => Date = () => new Date()): Identity {
  const seed = randomBytes(keyMaterial(algorithm).seedLength);
  return deriveIdentity(algorithm, seed, now().toISOString());
}

interface KeyFileDocument {
  readonly format: typeof KEY_FILE_FORMAT;
  readonly kind: "secret" | "public";
  readonly algorithm: string;
  readonly keyId: string;
  readonly created: string;
  /** Base64: the key generation seed for a secret key file, the public key for a public one. */
  readonly key: string;
}

function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

function document(kind: "secret" | "public", identity: PublicIdentity, key: Uint8Array): string {
  const doc: KeyFileDocument = { format: KEY_FILE_FORMAT, kind, algorithm: identity.algorithm, keyId: identity.keyId, created: identity.created, key: toBase64(key) };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

export interface WriteOptions {
  /** Replace existing key files. Without it, an existing NAME.key or NAME.pub is an error and nothing is written. */
  readonly force?: boolean;
}

export interface WrittenKeyFiles {
  readonly secretKeyPath: string;
  readonly publicKeyPath: string;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw new CryptoError(CryptoErrorCode.KeyFileUnreadable, `cannot inspect key file \`${path}\`: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
  }
}

/**
 * Creates `path` with `text`, mode 0600 from the start (never widened later); fails with EEXIST when it exists.
 * Shared by every secret file the project writes.
 */
export async function writeNewSecretFile(path: string, text: string): Promise<void> {
  await writeFile(path, text, { mode: SECRET_KEY_FILE_MODE, flag: "wx" });
  // The umask can only narrow the creation mode, but a chmod states the intent regardless of it.
  await chmod(path, SECRET_KEY_FILE_MODE);
}

/** Key files are small JSON documents: anything larger is not one, and is not read. */
export const MAX_KEY_FILE_BYTES = 64 * 1024;

/** Refuses a secret file that group or others can read: its secrecy is already in doubt. */
function assertPrivateMode(path: string, mode: number): void {
  // Windows has no POSIX permission bits: node reports a synthetic mode, so the check would only mislead there.
  if (process.platform !== "win32" && (mode & GROUP_OR_OTHER_BITS) !== 0) {
    throw new CryptoError(
      CryptoErrorCode.KeyFileInsecure,
      `secret key file \`${path}\` is readable by group or others (mode ${(mode & 0o777).toString(8).padStart(4, "0")}); run \`chmod 600 ${path}\``,
    );
  }
}

/**
 * Reads a key file of at most MAX_KEY_FILE_BYTES through one open handle; a `secret` one is refused, unread, when
 * group or others can read it (the mode checked is the open file's).
 */
export async function readKeyFile(path: string, secret: boolean): Promise<string> {
  const read = await readBoundedFile(path, MAX_KEY_FILE_BYTES, secret ? (mode) => assertPrivateMode(path, mode) : undefined);
  if (read.ok) return read.text;
  if (read.reason === "too-large") {
    throw new CryptoError(CryptoErrorCode.KeyFileMalformed, `key file \`${path}\` is ${read.size} bytes, more than a key file holds (${MAX_KEY_FILE_BYTES})`);
  }
  throw new CryptoError(CryptoErrorCode.KeyFileUnreadable, `cannot read key file \`${path}\`: ${read.code}`);
}

/** Writes `<base>.key` (mode 0600) and `<base>.pub`. The secret file is created with its mode, never widened later. */
export async function writeIdentity(identity: Identity, base: string, options: WriteOptions = {}): Promise<WrittenKeyFiles> {
  const secretKeyPath = `${base}.key`;
  const publicKeyPath = `${base}.pub`;
  for (const path of [secretKeyPath, publicKeyPath]) {
    if (!options.force && (await exists(path))) {
      throw new CryptoError(CryptoErrorCode.KeyFileExists, `key file \`${path}\` already exists; pass --force to replace it`);
    }
  }
  if (options.force) {
    // Remove rather than truncate: an existing file may carry a wider mode, and the secret must never sit under it.
    for (const path of [secretKeyPath, publicKeyPath]) if (await exists(path)) await unlink(path);
  }
  try {
    await writeNewSecretFile(secretKeyPath, document("secret", identity, identity.seed));
    await writeFile(publicKeyPath, document("public", identity, identity.publicKey), { mode: PUBLIC_KEY_FILE_MODE, flag: "wx" });
  } catch (error) {
    if (error instanceof CryptoError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST") throw new CryptoError(CryptoErrorCode.KeyFileExists, `key file for \`${base}\` appeared while writing; nothing was replaced`);
    throw new CryptoError(CryptoErrorCode.KeyFileUnreadable, `cannot write key files \`${base}.key\`/\`${base}.pub\`: ${code ?? "error"}`);
  }
  return { secretKeyPath, publicKeyPath };
}

async function readDocument(path: string, kind: "secret" | "public"): Promise<KeyFileDocument> {
  const text = await readKeyFile(path, kind === "secret");
  const malformed = (why: string) => new CryptoError(CryptoErrorCode.KeyFileMalformed, `key file \`${path}\` is not a ${KEY_FILE_FORMAT} document: ${why}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // JSON.parse's own message quotes the file's text, which for a secret key would be the key. Say only where.
    throw malformed("it is not valid JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw malformed("expected a JSON object");
  const doc = parsed as Record<string, unknown>;
  if (typeof doc.format === "string" && doc.format !== KEY_FILE_FORMAT && doc.format.startsWith("pqguard-key/")) {
    throw new CryptoError(
      CryptoErrorCode.KeyFileVersion,
      `key file \`${path}\` is \`${doc.format.slice(0, 80)}\`, a version this pqguard does not read (it reads \`${KEY_FILE_FORMAT}\`); see docs/keys.md, "Versions and migration"`,
    );
  }
  if (doc.format !== KEY_FILE_FORMAT) throw malformed(`expected \`format\` to be \`${KEY_FILE_FORMAT}\``);
  for (const field of ["kind", "algorithm", "keyId", "created", "key"]) {
    if (typeof doc[field] !== "string") throw malformed(`missing or non-text \`${field}\``);
  }
  if (doc.kind !== kind) {
    throw new CryptoError(CryptoErrorCode.KeyFileWrongKind, `key file \`${path}\` holds a ${String(doc.kind)} key, expected a ${kind} key`);
  }
  return doc as unknown as KeyFileDocument;
}

function decodeKey(doc: KeyFileDocument, path: string, length: number, what: string): Uint8Array {
  const bytes = Buffer.from(doc.key, "base64");
  // Buffer.from ignores junk; re-encoding proves the text was exactly canonical base64 of `length` bytes.
  if (bytes.length !== length || bytes.toString("base64") !== doc.key) {
    throw new CryptoError(CryptoErrorCode.KeyFileMalformed, `key file \`${path}\` does not hold a ${length}-byte ${doc.algorithm} ${what}`);
  }
  return new Uint8Array(bytes);
}

function checkKeyId(doc: KeyFileDocument, path: string, publicKey: Uint8Array): void {
  if (fingerprint(doc.algorithm, publicKey) !== doc.keyId) {
    throw new CryptoError(CryptoErrorCode.KeyFileMalformed, `key file \`${path}\` names key id \`${doc.keyId}\` but its key has another fingerprint`);
  }
}

function algorithmOf(doc: KeyFileDocument, path: string): KeyMaterial {
  try {
    return keyMaterial(doc.algorithm);
  } catch (error) {
    if (error instanceof CryptoError) throw new CryptoError(CryptoErrorCode.KeyFileMalformed, `key file \`${path}\`: ${error.message}`);
    throw error;
  }
}

/**
 * Loads a secret key file. Refuses one that group or others can read (its secrecy is already in doubt), one whose
 * key id does not match the key derived from it, and anything malformed. Errors never contain key bytes.
 */
export async function loadSecretKey(path: string): Promise<Identity> {
  const doc = await readDocument(path, "secret");
  const material = algorithmOf(doc, path);
  const identity = deriveIdentity(doc.algorithm, decodeKey(doc, path, material.seedLength, "key seed"), doc.created);
  checkKeyId(doc, path, identity.publicKey);
  return identity;
}

export async function loadPublicKey(path: string): Promise<PublicIdentity> {
  const doc = await readDocument(path, "public");
  const material = algorithmOf(doc, path);
  const publicKey = decodeKey(doc, path, material.publicKeyLength, "public key");
  checkKeyId(doc, path, publicKey);
  return Object.freeze({ algorithm: doc.algorithm, keyId: doc.keyId, created: doc.created, publicKey });
}
