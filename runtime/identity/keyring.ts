// A keyring: a directory of ML-DSA identities with their lifecycle (next → active → retiring, or revoked), described by
// `keyring.json` (`pqguard-keyring/1`). Each key after the first is endorsed by the key that was active when it was
// made, so a client that trusted the old key can accept the new one (continuity, as TUF and SSH do it).
import { PqguardError, errorCatalogue } from "../errors.js";
import { chmod, mkdir, readdir, rename, stat, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes, signature as signatureByName } from "../crypto/registry.js";
import { readBoundedFile } from "./files.js";
import { DEFAULT_IDENTITY_ALGORITHM, generateIdentity, loadPublicKey, loadSecretKey, writeIdentity, type Identity, type PublicIdentity } from "./keys.js";

export const KEYRING_FORMAT = "pqguard-keyring/1";
const KEYRING_FAMILY = "pqguard-keyring/";
export const KEYRING_FILE = "keyring.json";
/** The keyring directory holds secret keys: owner only. */
export const KEYRING_DIRECTORY_MODE = 0o700;
/** Largest keyring.json read: thousands of entries, far more than a keyring that is pruned now and then holds. */
const MAX_KEYRING_FILE_BYTES = 4 * 1024 * 1024;

/** How long a key is active before it should be rotated, and its `not-after` when activated: 90 days, as ACME certificates. */
export const DEFAULT_KEY_LIFETIME_MS = 90 * 24 * 3600_000;
/** How long a retiring key is still accepted after a rotation: a day covers clients that reconnect daily. */
export const DEFAULT_GRACE_MS = 24 * 3600_000;

/** The domain-separation context of an endorsement signature (ML-DSA context string). */
export const ENDORSEMENT_CONTEXT = "pqguard key endorsement v1";

export type KeyState = "next" | "active" | "retiring" | "revoked";
export const KEY_STATES: readonly KeyState[] = ["next", "active", "retiring", "revoked"];

export interface KeyringEntry {
  readonly keyId: string;
  readonly algorithm: string;
  /** The same as keyId: the fingerprint of the algorithm and public key (`mldsa65:…`). */
  readonly fingerprint: string;
  /** ISO 8601 times. */
  readonly created: string;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly state: KeyState;
  /** Base name of the key files in the keyring directory (`<file>.key`, `<file>.pub`). */
  readonly file: string;
  /** The key that endorsed this one, and its signature (base64) over `endorsementMessage(keyId)`. */
  readonly endorsedBy?: string;
  readonly endorsement?: string;
  readonly revokedAt?: string;
  readonly revocationReason?: string;
}

export interface KeyringDocument {
  readonly format: typeof KEYRING_FORMAT;
  readonly keys: readonly KeyringEntry[];
}

/** The catalogue of keyring errors; a code never changes meaning once published. */
export const KEYRING_ERRORS = errorCatalogue("keyrings", "KeyringError", [[5301, 5309]], {
  Inaccessible: ["PQG5301", "The keyring directory or its file cannot be read or written."],
  Malformed: ["PQG5302", "keyring.json is not a well-formed `pqguard-keyring/1` document, or names key files that do not match it."],
  UnsupportedFormat: ["PQG5303", "keyring.json is of another format, or of another version of this one."],
  InvalidOperation: ["PQG5304", "An operation the keyring does not allow now: no active key, an unknown or revoked key id, init in a directory that is not empty."],
  Insecure: ["PQG5305", "The keyring directory can be read by group or others."],
  BadEndorsement: ["PQG5306", "A key whose endorsement by its predecessor does not verify."],
});

/** The codes by name, to throw with. */
export const KeyringErrorCode = KEYRING_ERRORS.codes;
export type KeyringErrorCode = (typeof KeyringErrorCode)[keyof typeof KeyringErrorCode];

export class KeyringError extends PqguardError {
  declare readonly code: KeyringErrorCode;
  constructor(code: KeyringErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = "KeyringError";
  }
}

/** What an endorsement signs: the format tag and the endorsed key's fingerprint (which binds algorithm and public key). */
export function endorsementMessage(keyId: string): Uint8Array {
  return new TextEncoder().encode(`pqguard-key-endorsement/1 ${keyId}`);
}

const context = new TextEncoder().encode(ENDORSEMENT_CONTEXT);

/** Signs an endorsement of `keyId` with `endorser`. */
export function endorse(endorser: Identity, keyId: string): string {
  return Buffer.from(signatureByName(endorser.algorithm).sign(endorsementMessage(keyId), endorser.secretKey, context)).toString("base64");
}

/** Whether `signature` (base64) is `endorser`'s endorsement of `keyId`. */
export function verifyEndorsement(endorser: Pick<PublicIdentity, "algorithm" | "publicKey">, keyId: string, signature: string): boolean {
  try {
    return signatureByName(endorser.algorithm).verify(new Uint8Array(Buffer.from(signature, "base64")), endorsementMessage(keyId), endorser.publicKey, context);
  } catch {
    return false;
  }
}

/** Whether a key verifies signatures at `now`: not revoked, and within its window (a retiring key until its not-after). */
export function acceptsAt(entry: Pick<KeyringEntry, "state" | "notBefore" | "notAfter">, now: number): boolean {
  if (entry.state === "revoked") return false;
  return now < Date.parse(entry.notAfter) && (entry.state === "next" || now >= Date.parse(entry.notBefore));
}

/** A keyring read from its directory: the document, and where it lives. */
export class Keyring {
  private constructor(
    readonly directory: string,
    readonly document: KeyringDocument,
  ) {}

  get keys(): readonly KeyringEntry[] {
    return this.document.keys;
  }

  /** The key that signs now: exactly one active key, or none (a keyring whose active key was revoked, awaiting rotation). */
  get active(): KeyringEntry | undefined {
    return this.document.keys.find((key) => key.state === "active");
  }

  get next(): KeyringEntry | undefined {
    return this.document.keys.find((key) => key.state === "next");
  }

  find(keyId: string): KeyringEntry | undefined {
    return this.document.keys.find((key) => key.keyId === keyId || key.file === keyId);
  }

  /** Keys whose signatures are accepted at `now` (active, next, retiring within its grace). */
  accepted(now: number): KeyringEntry[] {
    return this.document.keys.filter((key) => acceptsAt(key, now));
  }

  revoked(): KeyringEntry[] {
    return this.document.keys.filter((key) => key.state === "revoked");
  }

  /** The secret key of an entry (refused if readable by others, as every secret key file). */
  loadSecret(entry: KeyringEntry): Promise<Identity> {
    return loadSecretKey(join(this.directory, `${entry.file}.key`));
  }

  loadPublic(entry: KeyringEntry): Promise<PublicIdentity> {
    return loadPublicKey(join(this.directory, `${entry.file}.pub`));
  }

  /** Reads and checks a keyring directory: its mode, its document, each key file's id, each endorsement. */
  static async open(directory: string): Promise<Keyring> {
    await checkDirectory(directory);
    const path = join(directory, KEYRING_FILE);
    const read = await readBoundedFile(path, MAX_KEYRING_FILE_BYTES);
    if (!read.ok) {
      throw new KeyringError(
        read.reason === "too-large" ? KeyringErrorCode.Malformed : KeyringErrorCode.Inaccessible,
        read.reason === "too-large" ? `\`${path}\` is larger than a keyring file (${MAX_KEYRING_FILE_BYTES} bytes)` : `cannot read \`${path}\`: ${read.code}`,
      );
    }
    const keyring = new Keyring(directory, decodeKeyring(read.text, path));
    await keyring.verify();
    return keyring;
  }

  /** Checks that each entry's public key file matches its id and that each endorsement verifies with its endorser's key. */
  private async verify(): Promise<void> {
    const publics = new Map<string, PublicIdentity>();
    for (const entry of this.keys) {
      const pub = await this.loadPublic(entry);
      if (pub.keyId !== entry.keyId || pub.algorithm !== entry.algorithm) {
        throw new KeyringError(KeyringErrorCode.Malformed, `key file \`${entry.file}.pub\` holds \`${pub.keyId}\`, not the \`${entry.keyId}\` the keyring names`);
      }
      publics.set(entry.keyId, pub);
    }
    for (const entry of this.keys) {
      if (entry.endorsedBy === undefined) continue;
      const endorser = publics.get(entry.endorsedBy);
      if (endorser === undefined || entry.endorsement === undefined || !verifyEndorsement(endorser, entry.keyId, entry.endorsement)) {
        throw new KeyringError(KeyringErrorCode.BadEndorsement, `the endorsement of \`${entry.keyId}\` by \`${entry.endorsedBy}\` does not verify`);
      }
    }
  }

  /** The public keys of the entries, by key id. */
  async publicKeys(): Promise<Map<string, PublicIdentity>> {
    const map = new Map<string, PublicIdentity>();
    for (const entry of this.keys) map.set(entry.keyId, await this.loadPublic(entry));
    return map;
  }
}

/** Parses keyring.json's text; refuses another format or version by name. */
export function decodeKeyring(text: string, source: string): KeyringDocument {
  const malformed = (why: string) => new KeyringError(KeyringErrorCode.Malformed, `\`${source}\` is not a ${KEYRING_FORMAT} document: ${why}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw malformed("it is not valid JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw malformed("expected a JSON object");
  const doc = parsed as Record<string, unknown>;
  if (typeof doc.format !== "string") throw malformed("missing or non-text `format`");
  if (doc.format !== KEYRING_FORMAT) {
    throw new KeyringError(
      KeyringErrorCode.UnsupportedFormat,
      doc.format.startsWith(KEYRING_FAMILY)
        ? `\`${source}\` is \`${doc.format.slice(0, 80)}\`, a version this pqguard does not read (it reads \`${KEYRING_FORMAT}\`); see docs/keys.md, "Versions and migration"`
        : `\`${source}\` is a \`${doc.format.slice(0, 80)}\` document, not a keyring (\`${KEYRING_FORMAT}\`)`,
    );
  }
  if (!Array.isArray(doc.keys)) throw malformed("missing `keys` list");
  const seen = new Set<string>();
  const keys = doc.keys.map((raw, index): KeyringEntry => {
    if (typeof raw !== "object" || raw === null) throw malformed(`key ${index} is not an object`);
    const entry = raw as Record<string, unknown>;
    for (const field of ["keyId", "algorithm", "fingerprint", "created", "notBefore", "notAfter", "state", "file"]) {
      if (typeof entry[field] !== "string") throw malformed(`key ${index}: missing or non-text \`${field}\``);
    }
    for (const field of ["endorsedBy", "endorsement", "revokedAt", "revocationReason"]) {
      if (entry[field] !== undefined && typeof entry[field] !== "string") throw malformed(`key ${index}: non-text \`${field}\``);
    }
    if (!KEY_STATES.includes(entry.state as KeyState)) throw malformed(`key ${index}: unknown state \`${String(entry.state).slice(0, 40)}\``);
    for (const field of ["created", "notBefore", "notAfter"]) if (Number.isNaN(Date.parse(entry[field] as string))) throw malformed(`key ${index}: \`${field}\` is not a time`);
    if (!/^[A-Za-z0-9_-]{1,120}$/.test(entry.file as string)) throw malformed(`key ${index}: \`file\` must be a plain base name`);
    if (entry.fingerprint !== entry.keyId) throw malformed(`key ${index}: \`fingerprint\` differs from \`keyId\``);
    if (seen.has(entry.keyId as string)) throw malformed(`key \`${String(entry.keyId)}\` is listed twice`);
    seen.add(entry.keyId as string);
    return entry as unknown as KeyringEntry;
  });
  if (keys.filter((key) => key.state === "active").length > 1) throw malformed("more than one key is active");
  if (keys.filter((key) => key.state === "next").length > 1) throw malformed("more than one key is next");
  return { format: KEYRING_FORMAT, keys };
}

async function checkDirectory(directory: string): Promise<void> {
  let mode: number;
  try {
    mode = (await stat(directory)).mode;
  } catch (error) {
    throw new KeyringError(KeyringErrorCode.Inaccessible, `cannot read keyring directory \`${directory}\`: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
  }
  if (process.platform !== "win32" && (mode & 0o077) !== 0) {
    throw new KeyringError(
      KeyringErrorCode.Insecure,
      `keyring directory \`${directory}\` is open to group or others (mode ${(mode & 0o777).toString(8).padStart(4, "0")}); run \`chmod 700 ${directory}\``,
    );
  }
}

/** keyring.json is replaced in one rename: a proxy that reloads meanwhile reads the old document or the new, never half. */
async function writeDocument(directory: string, document: KeyringDocument): Promise<void> {
  const path = join(directory, KEYRING_FILE);
  const temporary = `${path}.${Buffer.from(randomBytes(6)).toString("hex")}.tmp`;
  try {
    await writeFile(temporary, `${JSON.stringify(document, null, 2)}\n`, { mode: 0o644, flag: "wx" });
    await rename(temporary, path);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw new KeyringError(KeyringErrorCode.Inaccessible, `cannot write \`${path}\`: ${(error as NodeJS.ErrnoException).code ?? "error"}`, { cause: error });
  }
}

export interface KeyringClock {
  /** Epoch ms; injected so tests control dates. */
  readonly now?: () => number;
}

export interface InitOptions extends KeyringClock {
  readonly algorithm?: string;
  readonly lifetimeMs?: number;
}

const iso = (ms: number): string => new Date(ms).toISOString();
/** The not-after of a key that is not active yet: far enough that it never lapses before it is activated. */
const PENDING_LIFETIME_FACTOR = 2;

interface NewKey {
  readonly identity: Identity;
  readonly file: string;
}

async function newKey(directory: string, algorithm: string, now: number): Promise<NewKey> {
  const identity = generateIdentity(algorithm, () => new Date(now));
  const file = identity.keyId.replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 100);
  await writeIdentity(identity, join(directory, file));
  return { identity, file };
}

function entryOf({ identity: key, file }: NewKey, state: KeyState, notBefore: number, notAfter: number, endorser?: Identity): KeyringEntry {
  return {
    keyId: key.keyId,
    algorithm: key.algorithm,
    fingerprint: key.keyId,
    created: key.created,
    notBefore: iso(notBefore),
    notAfter: iso(notAfter),
    state,
    file,
    ...(endorser === undefined ? {} : { endorsedBy: endorser.keyId, endorsement: endorse(endorser, key.keyId) }),
  };
}

/**
 * Creates a keyring in `directory` (made 0700 if absent; an existing one must be empty): an active key and the next
 * key, pre-published and endorsed by the active one, so clients can trust both before the first rotation.
 */
export async function initKeyring(directory: string, options: InitOptions = {}): Promise<Keyring> {
  const now = (options.now ?? Date.now)();
  const lifetime = options.lifetimeMs ?? DEFAULT_KEY_LIFETIME_MS;
  const algorithm = options.algorithm ?? DEFAULT_IDENTITY_ALGORITHM;
  try {
    await mkdir(directory, { recursive: true, mode: KEYRING_DIRECTORY_MODE });
  } catch (error) {
    throw new KeyringError(KeyringErrorCode.Inaccessible, `cannot create keyring directory \`${directory}\`: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
  }
  if ((await readdir(directory)).length > 0) throw new KeyringError(KeyringErrorCode.InvalidOperation, `\`${directory}\` is not empty: a keyring starts in an empty directory`);
  await chmod(directory, KEYRING_DIRECTORY_MODE);
  const active = await newKey(directory, algorithm, now);
  const next = await newKey(directory, algorithm, now);
  await writeDocument(directory, {
    format: KEYRING_FORMAT,
    keys: [entryOf(active, "active", now, now + lifetime), entryOf(next, "next", now, now + PENDING_LIFETIME_FACTOR * lifetime, active.identity)],
  });
  return Keyring.open(directory);
}

export interface RotateOptions extends KeyringClock {
  /** The algorithm of the key to activate; a pre-published next key of another algorithm is revoked unused. */
  readonly algorithm?: string;
  readonly lifetimeMs?: number;
  /** How long the retiring key stays accepted. */
  readonly graceMs?: number;
}

export interface Rotation {
  readonly keyring: Keyring;
  readonly activated: KeyringEntry;
  readonly retiring: KeyringEntry | undefined;
  readonly next: KeyringEntry;
}

/**
 * Moves the states along: the active key becomes retiring (accepted until now + grace), the next key becomes active
 * (a new one, endorsed by the active key, when there is none or it is of another algorithm), and a new next key is
 * made, endorsed by the newly active one.
 */
export async function rotateKeyring(directory: string, options: RotateOptions = {}): Promise<Rotation> {
  const keyring = await Keyring.open(directory);
  const now = (options.now ?? Date.now)();
  const lifetime = options.lifetimeMs ?? DEFAULT_KEY_LIFETIME_MS;
  const grace = options.graceMs ?? DEFAULT_GRACE_MS;
  const current = keyring.active;
  const algorithm = options.algorithm ?? keyring.next?.algorithm ?? current?.algorithm ?? DEFAULT_IDENTITY_ALGORITHM;
  // The endorser is the key clients trust now: the active one, or after a revocation of it, the pre-published next.
  const endorserEntry = current ?? keyring.next;
  if (endorserEntry === undefined) throw new KeyringError(KeyringErrorCode.InvalidOperation, "the keyring has no active or next key to continue from; make a new keyring");
  const endorser = await keyring.loadSecret(endorserEntry);
  const keys = keyring.keys.map((key): KeyringEntry => {
    if (key.state === "active") return { ...key, state: "retiring", notAfter: iso(Math.min(Date.parse(key.notAfter), now + grace)) };
    return key;
  });
  let activated: KeyringEntry;
  const pending = keyring.next;
  const index = pending === undefined ? -1 : keys.findIndex((key) => key.keyId === pending.keyId);
  if (pending !== undefined && pending.algorithm === algorithm) {
    activated = { ...pending, state: "active", notBefore: iso(now), notAfter: iso(now + lifetime) };
    keys[index] = activated;
  } else {
    if (pending !== undefined) keys[index] = { ...pending, state: "revoked", revokedAt: iso(now), revocationReason: `never activated: replaced by a ${algorithm} key` };
    const made = await newKey(directory, algorithm, now);
    activated = entryOf(made, "active", now, now + lifetime, endorser);
    keys.push(activated);
  }
  const activatedSecret = await loadSecretKey(join(directory, `${activated.file}.key`));
  const nextKey = await newKey(directory, algorithm, now);
  const next = entryOf(nextKey, "next", now, now + PENDING_LIFETIME_FACTOR * lifetime, activatedSecret);
  keys.push(next);
  await writeDocument(directory, { format: KEYRING_FORMAT, keys });
  const retiring = current === undefined ? undefined : keys.find((key) => key.keyId === current.keyId);
  return { keyring: await Keyring.open(directory), activated, retiring, next };
}

/**
 * Revokes a key: it is accepted nowhere from now on. Revoking the active key activates the pre-published next key at
 * once (rotate soon after, to pre-publish a new next key); revoking the next key leaves none until the next rotation.
 */
export async function revokeKeyring(directory: string, keyId: string, options: KeyringClock & { readonly reason?: string; readonly lifetimeMs?: number } = {}): Promise<Keyring> {
  const keyring = await Keyring.open(directory);
  const now = (options.now ?? Date.now)();
  const target = keyring.find(keyId);
  if (target === undefined) throw new KeyringError(KeyringErrorCode.InvalidOperation, `no key \`${keyId.slice(0, 120)}\` in the keyring`);
  if (target.state === "revoked") throw new KeyringError(KeyringErrorCode.InvalidOperation, `key \`${target.keyId}\` is already revoked`);
  const promote = target.state === "active" ? keyring.next : undefined;
  const keys = keyring.keys.map((key): KeyringEntry => {
    if (key.keyId === target.keyId) return { ...key, state: "revoked", revokedAt: iso(now), ...(options.reason === undefined ? {} : { revocationReason: options.reason }) };
    if (key.keyId === promote?.keyId) return { ...key, state: "active", notBefore: iso(now), notAfter: iso(now + (options.lifetimeMs ?? DEFAULT_KEY_LIFETIME_MS)) };
    return key;
  });
  await writeDocument(directory, { format: KEYRING_FORMAT, keys });
  return Keyring.open(directory);
}
