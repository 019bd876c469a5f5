// Typed errors for signed manifests: a stable code (PQG70xx), one lowercase sentence, and the tool when one is at fault.

export const ManifestErrorCode = {
  /** Not a `pqguard-manifest/1` document: wrong shape, a missing or mistyped field, bad base64 or dates. */
  Malformed: "PQG7001",
  /** A manifest signed with an algorithm the registry does not offer for signatures. */
  UnsupportedAlgorithm: "PQG7002",
  /** Signed by another key than the one the caller requires. */
  WrongSigner: "PQG7003",
  /** The signature does not verify over the manifest's content. */
  BadSignature: "PQG7004",
  /** The manifest's `expiresAt` has passed. */
  Expired: "PQG7005",
  /** The manifest's `issuedAt` lies in the future (beyond the allowed clock skew). */
  NotYetValid: "PQG7006",
  /** A tool definition does not match its signed digest: it was changed after signing. */
  ToolTampered: "PQG7007",
  /** The digest list and the tool list disagree (a tool without digest, a digest without tool, a repeated name). */
  ToolListMismatch: "PQG7008",
  /** The `issuer` fingerprint is not the fingerprint of the embedded public key. */
  IssuerMismatch: "PQG7009",
  /** A manifest file or tool list larger than the limits below. */
  TooLarge: "PQG7010",
  /** A manifest or tool list file that cannot be read, or a server that could not be asked for its tools. */
  Unreadable: "PQG7011",
  /** A manifest of another version of the format (`pqguard-manifest/2`): a reader does not guess at a format it does not know. */
  UnsupportedVersion: "PQG7012",
  /** Signed by a key its keyring revoked, or retired past its not-after. */
  SignerNotAccepted: "PQG7013",
} as const;

export type ManifestErrorCode = (typeof ManifestErrorCode)[keyof typeof ManifestErrorCode];

export class ManifestError extends Error {
  constructor(
    readonly code: ManifestErrorCode,
    message: string,
    /** The tool the error is about, when there is one. */
    readonly tool?: string,
  ) {
    super(message);
    this.name = "ManifestError";
  }
}
