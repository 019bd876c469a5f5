// The signed trust list a server publishes from its keyring (`pqguard-trust-list/1`), and the client's side of it:
// server keys it accepts are the fingerprints it pinned plus every key endorsed, link by link, by one it accepts.
// A revoked key is refused even when pinned; a key nobody it trusts endorsed is refused even when listed.
import { PqguardError, errorCatalogue } from "../errors.js";
import canonicalize from "canonicalize";
import { signature as signatureByName } from "../crypto/registry.js";
import { readBoundedFile } from "./files.js";
import { fingerprint } from "./fingerprint.js";
import { acceptsAt, verifyEndorsement, type KeyState, type Keyring } from "./keyring.js";
import type { Identity } from "./keys.js";

export const TRUST_LIST_FORMAT = "pqguard-trust-list/1";
const TRUST_LIST_FAMILY = "pqguard-trust-list/";
const TRUST_LIST_CONTEXT = new TextEncoder().encode("pqguard trust list v1");
/** A trust list is public keys and dates: a few KiB per key; anything over this is not one. */
export const MAX_TRUST_LIST_BYTES = 1024 * 1024;

export interface TrustListKey {
  readonly keyId: string;
  readonly algorithm: string;
  /** Base64. */
  readonly publicKey: string;
  readonly state: KeyState;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly endorsedBy?: string;
  readonly endorsement?: string;
}

export interface TrustList {
  readonly format: typeof TRUST_LIST_FORMAT;
  /** ISO 8601: when it was made; a client refuses a list older than the one it holds. */
  readonly issued: string;
  readonly keys: readonly TrustListKey[];
  /** The key that signed the list (an accepted key of the keyring at `issued`). */
  readonly signer: string;
  /** Base64 ML-DSA signature over the canonical JSON of the list without this field. */
  readonly signature: string;
}

export const TRUST_LIST_ERRORS = errorCatalogue("trust lists", "TrustListError", [[5311, 5319]], {
  Malformed: ["PQG5311", "Not a well-formed `pqguard-trust-list/1` document, or of another version."],
  Untrusted: ["PQG5312", "A trust list not signed by a key the client accepts (its pins and the keys they endorse)."],
  Stale: ["PQG5313", "A trust list older than the one the client already applied (a rollback)."],
  Inaccessible: ["PQG5314", "A trust list file or URL that cannot be read."],
});

/** The codes by name, to throw with. */
export const TrustListErrorCode = TRUST_LIST_ERRORS.codes;
export type TrustListErrorCode = (typeof TrustListErrorCode)[keyof typeof TrustListErrorCode];

export class TrustListError extends PqguardError {
  declare readonly code: TrustListErrorCode;
  constructor(code: TrustListErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = "TrustListError";
  }
}

function signedBytes(list: Omit<TrustList, "signature">): Uint8Array {
  const { signature: _signature, ...unsigned } = list as TrustList;
  return new TextEncoder().encode(canonicalize(unsigned)!);
}

/** The keyring's trust list at `now`, signed by its active key. */
export async function exportTrustList(keyring: Keyring, signer: Identity, now: number = Date.now()): Promise<TrustList> {
  const publics = await keyring.publicKeys();
  const keys = keyring.keys.map(
    (entry): TrustListKey => ({
      keyId: entry.keyId,
      algorithm: entry.algorithm,
      publicKey: Buffer.from(publics.get(entry.keyId)!.publicKey).toString("base64"),
      state: entry.state,
      notBefore: entry.notBefore,
      notAfter: entry.notAfter,
      ...(entry.endorsedBy === undefined ? {} : { endorsedBy: entry.endorsedBy, endorsement: entry.endorsement! }),
    }),
  );
  const unsigned = { format: TRUST_LIST_FORMAT, issued: new Date(now).toISOString(), keys, signer: signer.keyId } as const;
  const sig = signatureByName(signer.algorithm).sign(signedBytes(unsigned), signer.secretKey, TRUST_LIST_CONTEXT);
  return { ...unsigned, signature: Buffer.from(sig).toString("base64") };
}

/** Parses a trust list's text (not yet verified: `TrustedServerKeys.apply` does that). */
export function decodeTrustList(text: string, source: string): TrustList {
  const malformed = (why: string) => new TrustListError(TrustListErrorCode.Malformed, `\`${source}\` is not a ${TRUST_LIST_FORMAT} document: ${why}`);
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw malformed("it is not valid JSON");
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw malformed("expected a JSON object");
  if (typeof doc.format !== "string") throw malformed("missing `format`");
  if (doc.format !== TRUST_LIST_FORMAT) {
    throw new TrustListError(
      TrustListErrorCode.Malformed,
      doc.format.startsWith(TRUST_LIST_FAMILY)
        ? `\`${source}\` is \`${doc.format.slice(0, 80)}\`, a version this pqguard does not read (it reads \`${TRUST_LIST_FORMAT}\`)`
        : `\`${source}\` is a \`${doc.format.slice(0, 80)}\` document, not a trust list`,
    );
  }
  for (const field of ["issued", "signer", "signature"]) if (typeof doc[field] !== "string") throw malformed(`missing or non-text \`${field}\``);
  if (Number.isNaN(Date.parse(doc.issued as string))) throw malformed("`issued` is not a time");
  if (!Array.isArray(doc.keys)) throw malformed("missing `keys`");
  for (const [index, key] of (doc.keys as unknown[]).entries()) {
    const k = key as Record<string, unknown>;
    if (typeof k !== "object" || k === null) throw malformed(`key ${index} is not an object`);
    for (const field of ["keyId", "algorithm", "publicKey", "state", "notBefore", "notAfter"]) if (typeof k[field] !== "string") throw malformed(`key ${index}: missing \`${field}\``);
  }
  return doc as unknown as TrustList;
}

/** Reads a trust list from a file path or an http(s) URL. */
export async function readTrustList(location: string): Promise<TrustList> {
  if (/^https?:\/\//i.test(location)) {
    let response: Response;
    try {
      response = await fetch(location, { signal: AbortSignal.timeout(10_000) });
    } catch (error) {
      throw new TrustListError(TrustListErrorCode.Inaccessible, `cannot fetch trust list \`${location}\`: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (!response.ok) throw new TrustListError(TrustListErrorCode.Inaccessible, `trust list \`${location}\` answered HTTP ${response.status}`);
    const text = await response.text();
    if (text.length > MAX_TRUST_LIST_BYTES) throw new TrustListError(TrustListErrorCode.Malformed, `trust list \`${location}\` is larger than ${MAX_TRUST_LIST_BYTES} bytes`);
    return decodeTrustList(text, location);
  }
  const read = await readBoundedFile(location, MAX_TRUST_LIST_BYTES);
  if (!read.ok) throw new TrustListError(TrustListErrorCode.Inaccessible, `cannot read trust list \`${location}\`: ${read.reason === "too-large" ? "too large" : read.code}`);
  return decodeTrustList(read.text, location);
}

/**
 * The server keys a client accepts: its pins, extended by signed trust lists. Pass it as
 * `trust.serverFingerprints` (it answers `includes` as an array would); `apply` a newer list at any time.
 */
export class TrustedServerKeys {
  private accepted: Set<string>;
  private readonly revoked = new Set<string>();
  /** Windows of keys learnt from a list: a retiring key stops being accepted at its not-after. */
  private readonly windows = new Map<string, TrustListKey>();
  private issued = 0;

  constructor(
    private readonly pins: readonly string[],
    private readonly now: () => number = Date.now,
  ) {
    this.accepted = new Set(pins);
  }

  /** Whether a server identity is accepted now. */
  includes(keyId: string): boolean {
    if (!this.accepted.has(keyId) || this.revoked.has(keyId)) return false;
    const window = this.windows.get(keyId);
    return window === undefined || acceptsAt(window, this.now());
  }

  /** The fingerprints accepted now. */
  get fingerprints(): string[] {
    return [...this.accepted].filter((keyId) => this.includes(keyId));
  }

  /**
   * Verifies a trust list and takes in what it says: keys endorsed (in a chain) by an accepted key, revocations. A list
   * that is older than one already applied, unsigned, or signed by a key this client does not accept changes nothing.
   */
  apply(list: TrustList): void {
    const issued = Date.parse(list.issued);
    if (issued < this.issued) throw new TrustListError(TrustListErrorCode.Stale, `the trust list of ${list.issued} is older than the one already applied`);
    const byId = new Map<string, { key: TrustListKey; publicKey: Uint8Array }>();
    for (const key of list.keys) {
      const publicKey = new Uint8Array(Buffer.from(key.publicKey, "base64"));
      let print: string;
      try {
        print = fingerprint(key.algorithm, publicKey);
      } catch {
        continue; // an algorithm this build does not know cannot be accepted
      }
      if (print === key.keyId) byId.set(key.keyId, { key, publicKey });
    }
    const accepted = new Set([...this.accepted].filter((keyId) => byId.get(keyId)?.key.state !== "revoked"));
    for (let grew = true; grew; ) {
      grew = false;
      for (const { key } of byId.values()) {
        if (accepted.has(key.keyId) || key.state === "revoked" || key.endorsedBy === undefined || key.endorsement === undefined) continue;
        const endorser = byId.get(key.endorsedBy);
        if (endorser === undefined || !accepted.has(key.endorsedBy) || endorser.key.state === "revoked") continue;
        if (verifyEndorsement({ algorithm: endorser.key.algorithm, publicKey: endorser.publicKey }, key.keyId, key.endorsement)) {
          accepted.add(key.keyId);
          grew = true;
        }
      }
    }
    const signer = byId.get(list.signer);
    const signatureValid =
      signer !== undefined &&
      accepted.has(list.signer) &&
      (() => {
        try {
          return signatureByName(signer.key.algorithm).verify(new Uint8Array(Buffer.from(list.signature, "base64")), signedBytes(list), signer.publicKey, TRUST_LIST_CONTEXT);
        } catch {
          return false;
        }
      })();
    if (!signatureValid) {
      throw new TrustListError(TrustListErrorCode.Untrusted, `the trust list is not signed by a key this client accepts (signer \`${list.signer.slice(0, 120)}\`)`);
    }
    this.issued = issued;
    this.accepted = accepted;
    for (const { key } of byId.values()) {
      if (key.state === "revoked") this.revoked.add(key.keyId);
      if (accepted.has(key.keyId)) this.windows.set(key.keyId, key);
    }
  }

  /** The pins this client started from. */
  get pinned(): readonly string[] {
    return this.pins;
  }
}
