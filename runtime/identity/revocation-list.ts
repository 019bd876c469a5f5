// The revocation list of client certificates a server reads (`pqguard-revocation-list/1`): fingerprints of client keys
// (or of issuers) whose certificates are refused before they expire. It lives beside the server's configuration,
// like its `--trust-issuer` pins, so it is not signed; the proxy reads it again whenever it changes.
import { PqguardError, errorCatalogue } from "../errors.js";
import { readBoundedFile } from "./files.js";
import { parseFingerprint } from "./fingerprint.js";

export const REVOCATION_LIST_FORMAT = "pqguard-revocation-list/1";
const FAMILY = "pqguard-revocation-list/";
/** Fingerprints are about 60 bytes: a megabyte holds over ten thousand entries with reasons. */
const MAX_REVOCATION_LIST_BYTES = 1024 * 1024;

export interface RevokedEntry {
  readonly fingerprint: string;
  /** ISO 8601. */
  readonly revokedAt: string;
  readonly reason?: string;
}

export interface RevocationList {
  readonly format: typeof REVOCATION_LIST_FORMAT;
  readonly revoked: readonly RevokedEntry[];
}

export const REVOCATION_LIST_ERRORS = errorCatalogue("revocation lists", "RevocationListError", [[5321, 5329]], {
  Inaccessible: ["PQG5321", "A revocation list file that cannot be read."],
  Malformed: ["PQG5322", "Not a well-formed `pqguard-revocation-list/1` document, or of another version."],
});

/** The codes by name, to throw with. */
export const RevocationListErrorCode = REVOCATION_LIST_ERRORS.codes;
export type RevocationListErrorCode = (typeof RevocationListErrorCode)[keyof typeof RevocationListErrorCode];

export class RevocationListError extends PqguardError {
  declare readonly code: RevocationListErrorCode;
  constructor(code: RevocationListErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = "RevocationListError";
  }
}

export function decodeRevocationList(text: string, source: string): RevocationList {
  const malformed = (why: string) => new RevocationListError(RevocationListErrorCode.Malformed, `\`${source}\` is not a ${REVOCATION_LIST_FORMAT} document: ${why}`);
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw malformed("it is not valid JSON");
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw malformed("expected a JSON object");
  if (doc.format !== REVOCATION_LIST_FORMAT) {
    const format = String(doc.format).slice(0, 80);
    throw malformed(format.startsWith(FAMILY) ? `\`${format}\` is a version this pqguard does not read` : `\`format\` is \`${format}\``);
  }
  if (!Array.isArray(doc.revoked)) throw malformed("missing `revoked` list");
  const revoked = doc.revoked.map((raw, index): RevokedEntry => {
    const entry = raw as Record<string, unknown>;
    if (typeof entry !== "object" || entry === null || typeof entry.fingerprint !== "string" || typeof entry.revokedAt !== "string") {
      throw malformed(`entry ${index} needs \`fingerprint\` and \`revokedAt\``);
    }
    try {
      parseFingerprint(entry.fingerprint);
    } catch (error) {
      throw malformed(`entry ${index}: ${error instanceof Error ? error.message : String(error)}`);
    }
    return entry as unknown as RevokedEntry;
  });
  return { format: REVOCATION_LIST_FORMAT, revoked };
}

/** Reads a revocation list file; the fingerprints it revokes, as a set. */
export async function loadRevocationList(path: string): Promise<ReadonlySet<string>> {
  const read = await readBoundedFile(path, MAX_REVOCATION_LIST_BYTES);
  if (!read.ok) throw new RevocationListError(RevocationListErrorCode.Inaccessible, `cannot read revocation list \`${path}\`: ${read.reason === "too-large" ? "too large" : read.code}`);
  return new Set(decodeRevocationList(read.text, path).revoked.map((entry) => entry.fingerprint));
}
