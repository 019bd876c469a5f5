// The facts a post-quantum session establishes and exposes to guards, logs and audit lines.
// A transport that has not finished its handshake has no facts: guards then refuse to decide.

export interface NegotiatedSuite {
  /** Registry names of the chosen algorithms. */
  readonly kem: string;
  readonly signature: string;
  readonly aead: string;
  readonly hybrid: boolean;
  /** NIST category of the weakest post-quantum algorithm in the suite; 0 for a classical-only suite. */
  readonly level: number;
}

export interface SessionInfo {
  /** Hex id derived from the handshake transcript; the same on both ends. */
  readonly sessionId: string;
  readonly suite: NegotiatedSuite;
  /** The server identity's fingerprint (`mldsa65:...`), as verified by the client, or as held by the server. */
  readonly peerFingerprint: string;
  /** Optional human label from the server certificate. */
  readonly peerLabel: string | undefined;
  /** The authenticated client, when the handshake was mutual. */
  readonly client: AuthenticatedClient | undefined;
  /** Epoch ms at which the handshake completed. */
  readonly establishedAt: number;
  /** How many times the session has rekeyed. */
  readonly rekeys: number;
  /**
   * Epoch ms at which the server certificate this session rests on expires (the client's view of the server, or the
   * server's own); nothing is decided at or after it, and the session closes then unless the server re-authenticated.
   */
  readonly peerNotAfter?: number | undefined;
  /** How many re-authentications (renewed certificates, docs/protocol.md) the session has accepted, both directions. */
  readonly reauthentications?: number | undefined;
}

export interface AuthenticatedClient {
  readonly fingerprint: string;
  /** Claims the client's certificate carries, e.g. `{ "id": "agent-7", "role": "billing-agent" }`. */
  readonly claims: Readonly<Record<string, unknown>>;
  /** Epoch ms at which the client certificate expires: nothing is decided at or after it, and the session closes then unless renewed. */
  readonly notAfter?: number | undefined;
}
