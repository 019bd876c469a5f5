// Typed session errors: one stable code (PQG6xxx) per failure class of the handshake and the record layer.
// Messages are one lowercase sentence; they name algorithms, fingerprints and sizes, never key or secret bytes.
import { PqguardError, errorCatalogue } from "../errors.js";

/** The catalogue of session error codes; a code never changes meaning once published. */
export const SESSION_ERRORS = errorCatalogue("session", "SessionError", [[6001, 6099]], {
  MalformedHandshake: ["PQG6001", "A handshake message that does not parse: wrong type, bad length field, trailing bytes, unknown version."],
  NoCommonSuite: ["PQG6002", "The peers share no KEM, signature or AEAD, or the server holds no certificate for any offered KEM."],
  Downgrade: ["PQG6003", "The offer the server saw differs from the one the client sent, or the server chose outside the offer."],
  UntrustedServerKey: ["PQG6004", "The server certificate is signed by an identity the client does not trust."],
  CertificateExpired: ["PQG6005", "A certificate outside its validity window (expired, or not yet valid beyond the allowed clock skew)."],
  BadCertificate: ["PQG6006", "A certificate whose signature does not verify, or that does not parse."],
  KeyConfirmationFailed: ["PQG6007", "A Finished MAC that does not verify: the transcripts or the derived keys differ (tampering, wrong key)."],
  ClientAuthFailed: ["PQG6008", "A client certificate or client signature that does not verify, or whose issuer is not trusted."],
  Timeout: ["PQG6009", "A wait that exceeded its timeout: the handshake, or the server waiting for a client."],
  UnexpectedMessage: ["PQG6010", "A message the state machine does not expect now: plaintext after establishment, a second hello, ..."],
  BadRecordMac: ["PQG6011", "A sealed frame that fails AEAD authentication: altered ciphertext, tag, header or wrong key."],
  Replay: ["PQG6012", "A sealed frame whose sequence number was already received."],
  Reorder: ["PQG6013", "A sealed frame that skips ahead: an earlier frame was dropped or frames arrived out of order."],
  TruncatedFrame: ["PQG6014", "A sealed frame shorter than its header and tag, or not valid base64url."],
  FrameTooLarge: ["PQG6015", "A frame or handshake message larger than the configured maximum."],
  Closed: ["PQG6016", "The session is closed: sends after close, and sends pending at close, fail with this."],
  StreamTruncated: ["PQG6017", "The inner transport closed after establishment without the peer's sealed close frame (a truncation attack)."],
  BufferFull: ["PQG6018", "Too many sends queued before establishment."],
  KeyExhausted: ["PQG6019", "The peer sent more frames under one key than the protocol allows without rekeying."],
  PeerClosedDuringHandshake: ["PQG6020", "The inner transport closed before the handshake completed."],
  InvalidConfiguration: ["PQG6021", "Options that cannot work: no credentials, a bad limit, an empty trust list."],
  ClientAuthRequired: ["PQG6022", "The server requires client authentication and the client presented none."],
  CertificateSuiteMismatch: ["PQG6023", "The server certificate's KEM differs from the negotiated KEM."],
  KeyExchangeFailed: ["PQG6024", "A KEM operation that rejected its input (an invalid public key, a wrongly sized ciphertext)."],
  MalformedRecord: ["PQG6025", "A decrypted frame whose plaintext is not a JSON-RPC message."],
  EventStreamBacklog: ["PQG6026", "Server messages waiting for a client's Streamable HTTP event stream passed their limit: the client does not open it."],
  CallbackFailed: ["PQG6027", "A handler set on a transport threw: from onestablished the session is closed, from onclose it is reported."],
  ReauthRefused: [
    "PQG6028",
    "A re-authentication the peer sent was refused: malformed, a certificate not valid or not trusted, another subject, `id` or identity than the session's, not outlasting the current one, a bad signature, or a replayed counter, so the session closes.",
  ],
  SessionTableFull: ["PQG6029", "An HTTP endpoint's session table had no seat for a session and no idle session to evict for it; or a session was evicted for a newcomer."],
  TlsRefused: ["PQG6030", "A TLS server under the session could not be verified: its certificate carries none of the pinned keys."],
  Draining: ["PQG6031", "The session is draining (its key was revoked or retired): it takes no new calls, finishes those in flight, and closes."],
});

/** The codes by name, to throw with. */
export const SessionErrorCode = SESSION_ERRORS.codes;

export type SessionErrorCode = (typeof SessionErrorCode)[keyof typeof SessionErrorCode];

/** For certificate failures: whether the signer is not trusted, or the signature does not verify (metrics tell them apart). */
export type CertificateFailure = "untrusted" | "signature";

export class SessionError extends PqguardError {
  declare readonly code: SessionErrorCode;
  /** Set on certificate and client authentication failures: which check refused. */
  readonly certificateFailure: CertificateFailure | undefined;
  constructor(code: SessionErrorCode, message: string, options?: { cause?: unknown; certificateFailure?: CertificateFailure }) {
    super(code, message, options);
    this.name = "SessionError";
    this.certificateFailure = options?.certificateFailure;
  }
  override toString(): string {
    return `error ${this.code}: ${this.message}`;
  }
}

/** Wraps anything thrown by a lower layer so the session only ever surfaces SessionError values. */
export function asSessionError(error: unknown, code: SessionErrorCode, message: string): SessionError {
  if (error instanceof SessionError) return error;
  return new SessionError(code, message, { cause: error });
}
