// The audit key: a secret that turns each line's argument digest into an HMAC, so that arguments with little entropy
// (a card number, an amount, a patient id) cannot be recovered from a log by hashing guesses. Its file is a
// `pqguard-audit-key/1` JSON document, mode 0600, written by `pqguard audit keygen`.
import { unlink } from "node:fs/promises";
import { createSecretKey, type KeyObject } from "node:crypto";
import { randomBytes } from "../crypto/registry.js";
import { readKeyFile, writeNewSecretFile } from "../identity/keys.js";
import { AuditError } from "./errors.js";

export const AUDIT_KEY_FORMAT = "pqguard-audit-key/1";
/** Bytes of a generated key; shorter keys are refused (HMAC-SHA3-256 wants at least its output length). */
export const AUDIT_KEY_BYTES = 32;

/** An audit key ready for HMAC: the bytes never leave the KeyObject again. */
export function auditKey(bytes: Uint8Array): KeyObject {
  if (!(bytes instanceof Uint8Array) || bytes.length < AUDIT_KEY_BYTES) {
    throw new AuditError("PQG7104", `an audit key must be at least ${AUDIT_KEY_BYTES} bytes`);
  }
  return createSecretKey(bytes);
}

/** Writes a fresh audit key to `path` (mode 0600); refuses to replace an existing file unless `force`. */
export async function writeAuditKey(path: string, options: { force?: boolean; now?: () => Date } = {}): Promise<void> {
  const key = randomBytes(AUDIT_KEY_BYTES);
  const created = (options.now ?? (() => new Date()))().toISOString();
  const text = `${JSON.stringify({ format: AUDIT_KEY_FORMAT, created, key: Buffer.from(key).toString("base64") }, null, 2)}\n`;
  key.fill(0);
  try {
    // Remove rather than truncate: an existing file may carry a wider mode, and the secret must never sit under it.
    if (options.force === true) await unlink(path).catch((error: NodeJS.ErrnoException) => (error.code === "ENOENT" ? undefined : Promise.reject(error)));
    await writeNewSecretFile(path, text);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST") throw new AuditError("PQG7104", `audit key file \`${path}\` already exists; pass --force to replace it`);
    throw new AuditError("PQG7104", `cannot write audit key file \`${path}\`: ${code ?? "error"}`);
  }
}

/** Loads an audit key file; refuses one that group or others can read, and anything malformed. Errors never hold key bytes. */
export async function loadAuditKey(path: string): Promise<KeyObject> {
  let text: string;
  try {
    text = await readKeyFile(path, true);
  } catch (error) {
    throw new AuditError("PQG7104", (error as Error).message);
  }
  const malformed = new AuditError("PQG7104", `audit key file \`${path}\` is not a ${AUDIT_KEY_FORMAT} document with a key of at least ${AUDIT_KEY_BYTES} bytes`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    // JSON.parse's message would quote the file, that is the key.
    throw malformed;
  }
  const { format, key } = (typeof doc === "object" && doc !== null ? doc : {}) as { format?: unknown; key?: unknown };
  if (format !== AUDIT_KEY_FORMAT || typeof key !== "string") throw malformed;
  const bytes = Buffer.from(key, "base64");
  // Buffer.from ignores junk; re-encoding proves the text was exactly canonical base64.
  if (bytes.length < AUDIT_KEY_BYTES || bytes.toString("base64") !== key) throw malformed;
  try {
    return auditKey(bytes);
  } finally {
    bytes.fill(0);
  }
}
