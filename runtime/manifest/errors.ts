// Typed errors for signed manifests: a stable code (PQG70xx), one lowercase sentence, and the tool when one is at fault.
import { PqguardError, errorCatalogue } from "../errors.js";

export const MANIFEST_ERRORS = errorCatalogue("signed manifests", "ManifestError", [[7001, 7099]], {
  Malformed: ["PQG7001", "Not a `pqguard-manifest/1` document: wrong shape, a missing or mistyped field, bad base64 or dates."],
  UnsupportedAlgorithm: ["PQG7002", "A manifest signed with an algorithm the registry does not offer for signatures."],
  WrongSigner: ["PQG7003", "Signed by another key than the one the caller requires."],
  BadSignature: ["PQG7004", "The signature does not verify over the manifest's content."],
  Expired: ["PQG7005", "The manifest's `expiresAt` has passed."],
  NotYetValid: ["PQG7006", "The manifest's `issuedAt` lies in the future (beyond the allowed clock skew)."],
  ToolTampered: ["PQG7007", "A tool definition does not match its signed digest: it was changed after signing."],
  ToolListMismatch: ["PQG7008", "The digest list and the tool list disagree (a tool without digest, a digest without tool, a repeated name)."],
  IssuerMismatch: ["PQG7009", "The `issuer` fingerprint is not the fingerprint of the embedded public key."],
  TooLarge: ["PQG7010", "A manifest file or tool list larger than the limits below."],
  Unreadable: ["PQG7011", "A manifest or tool list file that cannot be read."],
  ServerToolsUnavailable: ["PQG7012", "A server whose tool list could not be read: it could not be reached or asked, or its list kept changing."],
  UnsupportedVersion: ["PQG7013", "A manifest of another version of the format (`pqguard-manifest/2`): a reader does not guess at a format it does not know."],
  SignerNotAccepted: ["PQG7014", "Signed by a key its keyring revoked, or retired past its not-after."],
});

/** The codes by name, to throw with. */
export const ManifestErrorCode = MANIFEST_ERRORS.codes;

export type ManifestErrorCode = (typeof ManifestErrorCode)[keyof typeof ManifestErrorCode];

export class ManifestError extends PqguardError {
  declare readonly code: ManifestErrorCode;
  constructor(
    code: ManifestErrorCode,
    message: string,
    /** The tool the error is about, when there is one. */
    readonly tool?: string,
  ) {
    super(code, message);
    this.name = "ManifestError";
  }
}
