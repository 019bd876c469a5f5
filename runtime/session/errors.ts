// Typed session errors: one stable code (PQG6xxx) per failure class of the handshake and the record layer.
// Messages are one lowercase sentence; they name algorithms, fingerprints and sizes, never key or secret bytes.

/** The catalogue of session error codes; a code never changes meaning once published. */
export const SessionErrorCode = {
  /** A handshake message that does not parse: wrong type, bad length field, trailing bytes, unknown version. */
  MalformedHandshake: "PQG6001",
  /** The peers share no KEM, signature or AEAD, or the server holds no certificate for any offered KEM. */
  NoCommonSuite: "PQG6002",
  /** The offer the server saw differs from the one the client sent, or the server chose outside the offer. */
  Downgrade: "PQG6003",
  /** The server certificate is signed by an identity the client does not trust. */
  UntrustedServerKey: "PQG6004",
  /** A certificate outside its validity window (expired, or not yet valid beyond the allowed clock skew). */
  CertificateExpired: "PQG6005",
  /** A certificate whose signature does not verify, or that does not parse. */
  BadCertificate: "PQG6006",
  /** A Finished MAC that does not verify: the transcripts or the derived keys differ (tampering, wrong key). */
  KeyConfirmationFailed: "PQG6007",
  /** A client certificate or client signature that does not verify, or whose issuer is not trusted. */
  ClientAuthFailed: "PQG6008",
  /** A wait that exceeded its timeout: the handshake, or the server waiting for a client. */
  Timeout: "PQG6009",
  /** A message the state machine does not expect now: plaintext after establishment, a second hello, ... */
  UnexpectedMessage: "PQG6010",
  /** A sealed frame that fails AEAD authentication: altered ciphertext, tag, header or wrong key. */
  BadRecordMac: "PQG6011",
  /** A sealed frame whose sequence number was already received. */
  Replay: "PQG6012",
  /** A sealed frame that skips ahead: an earlier frame was dropped or frames arrived out of order. */
  Reorder: "PQG6013",
  /** A sealed frame shorter than its header and tag, or not valid base64url. */
  TruncatedFrame: "PQG6014",
  /** A frame or handshake message larger than the configured maximum. */
  FrameTooLarge: "PQG6015",
  /** The session is closed: sends after close, and sends pending at close, fail with this. */
  Closed: "PQG6016",
  /** The inner transport closed after establishment without the peer's sealed close frame (a truncation attack). */
  StreamTruncated: "PQG6017",
  /** Too many sends queued before establishment. */
  BufferFull: "PQG6018",
  /** The peer sent more frames under one key than the protocol allows without rekeying. */
  KeyExhausted: "PQG6019",
  /** The inner transport closed before the handshake completed. */
  PeerClosedDuringHandshake: "PQG6020",
  /** Options that cannot work: no credentials, a bad limit, an empty trust list. */
  InvalidConfiguration: "PQG6021",
  /** The server requires client authentication and the client presented none. */
  ClientAuthRequired: "PQG6022",
  /** The server certificate's KEM differs from the negotiated KEM. */
  CertificateSuiteMismatch: "PQG6023",
  /** A KEM operation that rejected its input (an invalid public key, a wrongly sized ciphertext). */
  KeyExchangeFailed: "PQG6024",
  /** A decrypted frame whose plaintext is not a JSON-RPC message. */
  MalformedRecord: "PQG6025",
  /** Server messages waiting for a client's Streamable HTTP event stream passed their limit: the client does not open it. */
  EventStreamBacklog: "PQG6026",
  /** A handler set on a transport threw: from onestablished the session is closed, from onclose it is reported. */
  CallbackFailed: "PQG6027",
  /** The session is draining (its key was revoked or retired): it takes no new calls, finishes those in flight, and closes. */
  Draining: "PQG6028",
} as const;

export type SessionErrorCode = (typeof SessionErrorCode)[keyof typeof SessionErrorCode];

/** For certificate failures: whether the signer is not trusted, or the signature does not verify (metrics tell them apart). */
export type CertificateFailure = "untrusted" | "signature";

export class SessionError extends Error {
  readonly code: SessionErrorCode;
  /** Set on certificate and client authentication failures: which check refused. */
  readonly certificateFailure: CertificateFailure | undefined;
  constructor(code: SessionErrorCode, message: string, options?: { cause?: unknown; certificateFailure?: CertificateFailure }) {
    super(message, options);
    this.name = "SessionError";
    this.code = code;
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
