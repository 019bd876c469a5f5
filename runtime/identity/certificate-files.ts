// Client certificate files: the signed bytes of a client certificate (certificate.ts) in a small versioned JSON document,
// `{ "format": "pqguard-client-certificate/1", "certificate": "<base64url>" }`, and what a client or `pqguard cert` needs
// around them. Subject, issuer, claims and validity are read from the signed bytes, never stored beside them.
// Unlike the key files beside it, this module reads the session's certificate format (session/certificate.ts); the
// session layer imports identity/index.ts, which does not re-export this module, so the two never form a cycle.
import { rename, unlink, writeFile } from "node:fs/promises";
import { algorithmNames, constantTimeEqual, randomBytes, signature as signatureByName } from "../crypto/registry.js";
import { readBoundedFile } from "./files.js";
import { fingerprint } from "./fingerprint.js";
import { issueClientCertificate, parseClientCertificate, verifyClientCertificate, type ClientCertificate, type ClientTrust, type IssueClientCertificateOptions } from "../session/certificate.js";
import { utf8 } from "../session/codec.js";
import { CERTIFICATE_CLOCK_SKEW_MS, CLIENT_CERTIFICATE_CONTEXT } from "../session/constants.js";
import { SessionError, SessionErrorCode } from "../session/errors.js";
import { PqguardError, errorCatalogue } from "../errors.js";

export type { ClientCertificate } from "../session/certificate.js";

/** The one file format this version reads and writes; any other `format`, older or newer, is refused by name. */
export const CLIENT_CERTIFICATE_FILE_FORMAT = "pqguard-client-certificate/1";
const FORMAT_FAMILY = "pqguard-client-certificate/";

/**
 * The largest certificate a handshake can carry: a ClientFinished is at most MAX_HANDSHAKE_MESSAGE_BYTES (64 KiB) and
 * also holds the largest KEM ciphertext (SecP384r1MLKEM1024, 1665 bytes), the ML-DSA-87 proof (4627 bytes), the AEAD
 * tag, the MAC and length prefixes (6358 bytes in all); 56 KiB leaves a margin below the 59178 that remain.
 */
export const MAX_CLIENT_CERTIFICATE_BYTES = 56 * 1024;

/** A certificate file is the base64url of at most MAX_CLIENT_CERTIFICATE_BYTES (about 75 KiB) in a few bytes of JSON. */
export const MAX_CERTIFICATE_FILE_BYTES = 96 * 1024;

/** Certificates are public: readable by anyone, like a `.pub` key file. */
export const CERTIFICATE_FILE_MODE = 0o644;

/** The catalogue of certificate file errors; a code never changes meaning once published. */
export const CLIENT_CERTIFICATE_ERRORS = errorCatalogue("client certificate files", "ClientCertificateError", [[5201, 5299]], {
  Inaccessible: ["PQG5201", "A certificate file that cannot be read or written (missing, permissions)."],
  Malformed: ["PQG5202", "Not a well-formed certificate document: not JSON, a missing or extra field, bad base64url, bytes that do not parse."],
  UnsupportedFormat: ["PQG5203", "A document of another format or another version of this one."],
  BadSignature: ["PQG5204", "The certificate's signature does not verify with its own issuer's key: the file was altered or damaged."],
  KeyMismatch: ["PQG5205", "The certificate certifies another key than the identity it is used with."],
  Exists: ["PQG5206", "The file to write exists and replacing it was not asked for."],
  NotIssuable: ["PQG5207", "A certificate that could never be used: a key that is not a signature key, a bad lifetime, claims too large."],
});

/** The codes by name, to throw with. */
export const ClientCertificateErrorCode = CLIENT_CERTIFICATE_ERRORS.codes;

export type ClientCertificateErrorCode = (typeof ClientCertificateErrorCode)[keyof typeof ClientCertificateErrorCode];

export class ClientCertificateError extends PqguardError {
  declare readonly code: ClientCertificateErrorCode;
  constructor(code: ClientCertificateErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = "ClientCertificateError";
  }
}

/** A certificate read from a file: the bytes for `PqcClientTransport`'s `clientCertificate`, and what they say. */
export interface LoadedClientCertificate extends ClientCertificate {
  /** Where it was read from, for messages. */
  readonly path: string;
  readonly bytes: Uint8Array;
  /** Signed by its own subject: servers accept it only when they pin its fingerprint. */
  readonly selfIssued: boolean;
}

/** Whether a certificate's window holds `now`, judged as a server judges it (with CERTIFICATE_CLOCK_SKEW_MS before). */
export type CertificateValidity = "valid" | "expired" | "not-yet-valid";

/** A certificate's window at `now`, as the server's check: strict at the end, lenient by the clock skew at the start. */
export function validityOf(certificate: Pick<ClientCertificate, "notBefore" | "notAfter">, now: number): CertificateValidity {
  if (!Number.isFinite(now)) {
    throw new SessionError(SessionErrorCode.InvalidConfiguration, `the clock gave \`${now}\`, not a time: a certificate's validity cannot be checked`);
  }
  if (certificate.notAfter <= certificate.notBefore || now >= certificate.notAfter) return "expired";
  if (now + CERTIFICATE_CLOCK_SKEW_MS < certificate.notBefore) return "not-yet-valid";
  return "valid";
}

function signatureAlgorithmCheck(role: "issuer" | "subject", algorithm: string): void {
  const signatures = algorithmNames("signature");
  if (!signatures.includes(algorithm)) {
    throw new ClientCertificateError(
      ClientCertificateErrorCode.NotIssuable,
      `the ${role} key is a \`${algorithm}\` key; client certificates certify and are signed by signature keys (${signatures.map((n) => `\`${n}\``).join(", ")})`,
    );
  }
}

/**
 * Issues a client certificate as `issueClientCertificate` does, first refusing one that could never be used: an issuer
 * or subject key that is not a signature key, or a certificate larger than a handshake carries.
 */
export function certifyClient(options: IssueClientCertificateOptions): Uint8Array {
  signatureAlgorithmCheck("issuer", options.issuer.algorithm);
  signatureAlgorithmCheck("subject", options.subject.algorithm);
  let certificate: Uint8Array;
  try {
    certificate = issueClientCertificate(options);
  } catch (error) {
    if (error instanceof SessionError) throw new ClientCertificateError(ClientCertificateErrorCode.NotIssuable, error.message, { cause: error });
    throw error;
  }
  if (certificate.length > MAX_CLIENT_CERTIFICATE_BYTES) {
    throw new ClientCertificateError(
      ClientCertificateErrorCode.NotIssuable,
      `the certificate would be ${certificate.length} bytes, more than a handshake carries (${MAX_CLIENT_CERTIFICATE_BYTES}); shorten the claims`,
    );
  }
  return certificate;
}

interface CertificateFileDocument {
  readonly format: typeof CLIENT_CERTIFICATE_FILE_FORMAT;
  /** base64url, unpadded, of the certificate's signed bytes. */
  readonly certificate: string;
}

/** The file text for `certificate`: the format and the signed bytes, nothing a reader could take instead of them. */
export function encodeCertificateFile(certificate: Uint8Array): string {
  const doc: CertificateFileDocument = { format: CLIENT_CERTIFICATE_FILE_FORMAT, certificate: Buffer.from(certificate).toString("base64url") };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** The certificate in a file's text, parsed but not verified. `source` names the file in messages. */
export function decodeCertificateFile(text: string, source: string): { readonly bytes: Uint8Array; readonly certificate: ClientCertificate } {
  const malformed = (why: string) =>
    new ClientCertificateError(ClientCertificateErrorCode.Malformed, `certificate file \`${source}\` is not a ${CLIENT_CERTIFICATE_FILE_FORMAT} document: ${why}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw malformed("it is not valid JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw malformed("expected a JSON object");
  const doc = parsed as Record<string, unknown>;
  const format = doc.format;
  if (typeof format !== "string") throw malformed("missing or non-text `format`");
  if (format !== CLIENT_CERTIFICATE_FILE_FORMAT) {
    throw new ClientCertificateError(
      ClientCertificateErrorCode.UnsupportedFormat,
      format.startsWith(FORMAT_FAMILY)
        ? `certificate file \`${source}\` is \`${format.slice(0, 80)}\`, a version this pqguard does not read (it reads \`${CLIENT_CERTIFICATE_FILE_FORMAT}\`); use the pqguard that wrote it, or issue the certificate again`
        : `\`${source}\` is a \`${format.slice(0, 80)}\` document, not a client certificate (\`${CLIENT_CERTIFICATE_FILE_FORMAT}\`)`,
    );
  }
  // Only the signed bytes count: a field beside them (a subject, an expiry) would be believed by someone, and is refused.
  const extra = Object.keys(doc).find((key) => key !== "format" && key !== "certificate");
  if (extra !== undefined) throw malformed(`unexpected field \`${extra.slice(0, 80)}\`; everything else is read from the signed bytes (\`pqguard cert show\`)`);
  if (typeof doc.certificate !== "string" || doc.certificate === "") throw malformed("missing or non-text `certificate`");
  const bytes = Buffer.from(doc.certificate, "base64url");
  // Buffer.from skips what is not base64url; re-encoding proves the text was exactly the canonical encoding.
  if (bytes.toString("base64url") !== doc.certificate) throw malformed("`certificate` is not unpadded base64url");
  try {
    return { bytes: new Uint8Array(bytes), certificate: parseClientCertificate(new Uint8Array(bytes)).certificate };
  } catch (error) {
    if (error instanceof SessionError) {
      throw new ClientCertificateError(ClientCertificateErrorCode.Malformed, `certificate file \`${source}\` does not hold a client certificate: ${error.message}`, { cause: error });
    }
    throw error;
  }
}

/** Reads and decodes a certificate file of at most MAX_CERTIFICATE_FILE_BYTES; parsed, not verified. */
export async function readCertificateFile(path: string): Promise<{ readonly bytes: Uint8Array; readonly certificate: ClientCertificate }> {
  const read = await readBoundedFile(path, MAX_CERTIFICATE_FILE_BYTES);
  if (!read.ok) {
    if (read.reason === "too-large") {
      throw new ClientCertificateError(
        ClientCertificateErrorCode.Malformed,
        `certificate file \`${path}\` is ${read.size} bytes, more than a certificate file holds (${MAX_CERTIFICATE_FILE_BYTES})`,
      );
    }
    throw new ClientCertificateError(ClientCertificateErrorCode.Inaccessible, `cannot read certificate file \`${path}\`: ${read.code}`);
  }
  return decodeCertificateFile(read.text, path);
}

/** Whether the certificate's signature verifies with the issuer key it names: integrity, not trust. */
function signedByItsIssuer(bytes: Uint8Array): boolean {
  const { certificate, tbs, signature } = parseClientCertificate(bytes);
  try {
    return signatureByName(certificate.issuerAlgorithm).verify(signature, tbs, certificate.issuerPublicKey, utf8(CLIENT_CERTIFICATE_CONTEXT));
  } catch {
    // An issuer algorithm or key this registry cannot use verifies nothing; the caller reports it as a bad signature.
    return false;
  }
}

/**
 * Loads a certificate file for a client: the bytes for `PqcClientTransport`'s `clientCertificate`, with the subject's
 * fingerprint and what else the certificate says. Refuses a file whose signature does not verify with its own issuer's
 * key (altered or damaged). Trust and validity are not judged: trust is the server's, and `validityOf` gives the window.
 */
export async function loadClientCertificate(path: string): Promise<LoadedClientCertificate> {
  const { bytes, certificate } = await readCertificateFile(path);
  if (!signedByItsIssuer(bytes)) {
    throw new ClientCertificateError(
      ClientCertificateErrorCode.BadSignature,
      `certificate file \`${path}\` was altered or damaged: its signature does not verify with its issuer's key \`${certificate.issuerFingerprint}\``,
    );
  }
  return Object.freeze({ ...certificate, path, bytes, selfIssued: certificate.issuerFingerprint === certificate.fingerprint });
}

/**
 * Throws KeyMismatch unless `certificate` certifies `identity`'s public key: a client must present the certificate of
 * the key it proves possession of, or the server refuses it after the whole handshake.
 */
export function checkCertificateKey(
  certificate: Pick<ClientCertificate, "fingerprint" | "subjectAlgorithm" | "subjectPublicKey"> & { readonly path?: string },
  identity: { readonly algorithm: string; readonly publicKey: Uint8Array },
): void {
  const same =
    certificate.subjectAlgorithm === identity.algorithm &&
    certificate.subjectPublicKey.length === identity.publicKey.length &&
    constantTimeEqual(certificate.subjectPublicKey, identity.publicKey);
  if (same) return;
  const which = certificate.path === undefined ? "the certificate" : `certificate \`${certificate.path}\``;
  throw new ClientCertificateError(
    ClientCertificateErrorCode.KeyMismatch,
    `${which} is for key \`${certificate.fingerprint}\`, not for \`${fingerprint(identity.algorithm, identity.publicKey)}\`; ` +
      "issue one for this key's public key file (`pqguard cert issue --key NAME.pub ...`)",
  );
}

/**
 * Writes `certificate` to `path` as a certificate file, mode 0644. An existing file is an error unless `force`, which
 * replaces it in one rename, so a client that reads it meanwhile (at a renewal) sees the old file or the new, never half.
 */
export async function writeCertificateFile(path: string, certificate: Uint8Array, options: { readonly force?: boolean } = {}): Promise<void> {
  const text = encodeCertificateFile(certificate);
  const failed = (error: unknown): ClientCertificateError => {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return new ClientCertificateError(ClientCertificateErrorCode.Exists, `certificate file \`${path}\` already exists; pass --force to replace it`);
    return new ClientCertificateError(ClientCertificateErrorCode.Inaccessible, `cannot write certificate file \`${path}\`: ${code ?? "error"}`, { cause: error });
  };
  if (!options.force) {
    await writeFile(path, text, { mode: CERTIFICATE_FILE_MODE, flag: "wx" }).catch((error: unknown) => Promise.reject(failed(error)));
    return;
  }
  const temporary = `${path}.${Buffer.from(randomBytes(6)).toString("hex")}.tmp`;
  try {
    await writeFile(temporary, text, { mode: CERTIFICATE_FILE_MODE, flag: "wx" });
    await rename(temporary, path);
  } catch (error) {
    await unlink(temporary).catch(() => undefined); // it may never have been created; the write's error is the one to report
    throw failed(error);
  }
}

/** What `pqguard cert show` reports, worst first: a bad signature, an untrusted issuer, then the validity window. */
export type CertificateStatus = "bad-signature" | "untrusted" | CertificateValidity;

export interface CertificateInspection {
  readonly certificate: ClientCertificate;
  readonly selfIssued: boolean;
  /** The signature verifies with the issuer key the certificate names (integrity; trust is `trusted`). */
  readonly signatureValid: boolean;
  readonly validity: CertificateValidity;
  /**
   * Whether a server with the given trust accepts the certificate's signer; undefined when no trust was given, or when
   * the signature does not verify (no issuer vouched for these bytes).
   */
  readonly trusted: boolean | undefined;
  readonly status: CertificateStatus;
  /** The sentence for a status other than `valid`; for `untrusted`, the server's own. */
  readonly problem: string | undefined;
}

/**
 * Judges a certificate as a server with `trust` would at `now`, keeping each finding apart so all can be shown. Trust
 * is decided by `verifyClientCertificate`, the function the handshake runs, not by a copy of its rule.
 */
export function inspectClientCertificate(bytes: Uint8Array, options: { readonly now: number; readonly trust?: ClientTrust }): CertificateInspection {
  const certificate = parseClientCertificate(bytes).certificate;
  const selfIssued = certificate.issuerFingerprint === certificate.fingerprint;
  const signatureValid = signedByItsIssuer(bytes);
  const validity = validityOf(certificate, options.now);
  let trusted: boolean | undefined;
  let distrust: string | undefined;
  if (options.trust !== undefined && signatureValid) {
    try {
      verifyClientCertificate(bytes, options.trust, options.now);
      trusted = true;
    } catch (error) {
      // Trust is checked before the validity window: an expiry error means the signer was trusted.
      if (!(error instanceof SessionError)) throw error;
      if (error.code === SessionErrorCode.ClientAuthFailed) {
        trusted = false;
        distrust = error.message;
      } else if (error.code === SessionErrorCode.CertificateExpired) trusted = true;
      else throw error;
    }
  }
  const status: CertificateStatus = !signatureValid ? "bad-signature" : trusted === false ? "untrusted" : validity;
  const problem =
    status === "bad-signature"
      ? `the signature does not verify with the issuer's key \`${certificate.issuerFingerprint}\`: the certificate was altered or damaged`
      : status === "untrusted"
        ? distrust
        : status === "expired"
          ? certificate.notAfter <= certificate.notBefore
            ? "the certificate has an empty validity window (it ends before it begins)"
            : `the certificate expired at ${new Date(certificate.notAfter).toISOString()}`
          : status === "not-yet-valid"
            ? `the certificate is not valid before ${new Date(certificate.notBefore).toISOString()}`
            : undefined;
  return { certificate, selfIssued, signatureValid, validity, trusted, status, problem };
}
