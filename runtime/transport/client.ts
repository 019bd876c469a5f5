// PqcClientTransport: the SDK Transport a Client connects with; it runs the client side of the session handshake
// over any inner transport and then seals every JSON-RPC message.
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { resolveSuiteConfig } from "../crypto/registry.js";
import type { SuiteConfig } from "../crypto/registry.js";
import type { SigningIdentity, TrustedFingerprints } from "../session/certificate.js";
import { SessionError, SessionErrorCode } from "../session/errors.js";
import { ClientHandshake } from "../session/handshake.js";
import type { EstablishedSession } from "../session/handshake.js";
import { HandshakeType } from "../session/messages.js";
import { transportSuites } from "./defaults.js";
import { HandshakeStep, handshakeRequest } from "./envelope.js";
import { SessionTransport } from "./session-transport.js";
import { parseClientCertificate } from "../session/certificate.js";
import type { SessionInfo } from "../session/facts.js";
import { acceptServerReauthentication, type ReauthState } from "../session/reauth.js";
import type { SessionTransportOptions } from "./session-transport.js";

export interface PqcClientTransportOptions extends SessionTransportOptions {
  /** Server identity fingerprints (`mldsa65:...`) this client accepts. */
  readonly trust: { readonly serverFingerprints: TrustedFingerprints };
  /** Algorithms to offer, in preference order; unset lists come from PQGUARD_* variables, then defaults. */
  readonly suites?: Partial<SuiteConfig>;
  /** For mutual authentication: the client's signing identity and a certificate for it. */
  readonly clientIdentity?: SigningIdentity;
  readonly clientCertificate?: Uint8Array;
}

/**
 * `start()` sends the ClientHello and resolves once the ClientFinished is sent: one round trip, after which sends
 * are sealed at once. Inbound frames are accepted only after the server's Finished confirms its key.
 * Sends made before then are queued (bounded) and flushed in order.
 */
export class PqcClientTransport extends SessionTransport {
  /** @internal */
  protected readonly side = "client" as const;
  private readonly handshake: ClientHandshake;
  private session: EstablishedSession | undefined;
  private readonly trustedServers: TrustedFingerprints;
  private clientIdentity: SigningIdentity | undefined;

  constructor(inner: Transport, options: PqcClientTransportOptions) {
    super(inner, options);
    this.trustedServers = options.trust.serverFingerprints;
    this.clientIdentity = options.clientIdentity;
    if ((options.clientIdentity === undefined) !== (options.clientCertificate === undefined)) {
      throw new SessionError(SessionErrorCode.InvalidConfiguration, "client authentication needs both `clientIdentity` and `clientCertificate`");
    }
    this.handshake = new ClientHandshake({
      suites: resolveSuiteConfig(transportSuites(options.suites)),
      trustedServers: options.trust.serverFingerprints,
      clientAuth: options.clientIdentity ? { identity: options.clientIdentity, certificate: options.clientCertificate! } : undefined,
      now: this.now,
    });
  }

  /**
   * Always undefined: the SDK Client skips `initialize` on a transport that reports a session id (it takes it for a
   * resumed session), and a sealed session is never resumed, so the HTTP session id the inner transport learns from
   * the hello must not surface here. The cryptographic session id is `sessionInfo.sessionId`.
   */
  override get sessionId(): string | undefined {
    return undefined;
  }

  start(): Promise<void> {
    return this.startSession("the handshake with the server", () => {
      // Not awaited: only the handshake (or its timer) settles start(); a send that never completes must not hold it.
      const sent = (async () => this.inner.send(handshakeRequest(HandshakeStep.hello, this.handshake.hello())))();
      sent.catch((error: unknown) => {
        this.fail(error instanceof SessionError ? error : new SessionError(SessionErrorCode.PeerClosedDuringHandshake, "the client hello could not be sent", { cause: error }));
      });
    });
  }

  /**
   * Re-authenticates with a renewed client certificate (docs/protocol.md, Re-authentication), signed by `identity`
   * (by default the identity this client authenticated with; give the new one when the key itself changed). The server
   * replaces the session's client facts once it verifies it, or closes the session (PQG6028) when it does not. Calls in
   * flight continue: the message is sealed in order with them. Resolves once it is handed to the inner transport.
   */
  async reauthenticate(certificate: Uint8Array, identity?: SigningIdentity): Promise<void> {
    const signer = identity ?? this.clientIdentity;
    if (signer === undefined || this.sessionInfo?.client === undefined) {
      throw new SessionError(SessionErrorCode.InvalidConfiguration, "only a client that authenticated at the handshake can re-authenticate");
    }
    const renewed = parseClientCertificate(certificate).certificate;
    await this.sendReauthentication("client", certificate, signer);
    this.clientIdentity = signer;
    this.updateFacts((info) => ({ ...info, client: { fingerprint: renewed.fingerprint, claims: renewed.claims, notAfter: renewed.notAfter } }));
  }

  /** @internal */
  protected acceptReauthentication(message: Uint8Array, state: ReauthState): { counter: number; info: SessionInfo } {
    const accepted = acceptServerReauthentication(message, state, this.trustedServers);
    const info = { ...state.info, peerNotAfter: accepted.peerNotAfter, peerLabel: accepted.peerLabel, peerFingerprint: accepted.peerFingerprint };
    // After a key rotation the session rests on the new identity, whose algorithm may differ from the old one's.
    return { counter: accepted.counter, info: accepted.signature === info.suite.signature ? info : { ...info, suite: { ...info.suite, signature: accepted.signature } } };
  }

  /** @internal */
  protected receiveHandshake(bytes: Uint8Array, id: unknown): void {
    if (bytes[0] === HandshakeType.serverHello && this.session === undefined && id === HandshakeStep.hello) {
      const { clientFinished, session } = this.handshake.receiveServerHello(bytes);
      this.session = session;
      this.inner.send(handshakeRequest(HandshakeStep.finished, clientFinished)).catch((error: unknown) => {
        this.fail(new SessionError(SessionErrorCode.PeerClosedDuringHandshake, "the client finished could not be sent", { cause: error }));
      });
      this.enableSending(session);
      this.releaseWaiter();
      return;
    }
    if (bytes[0] === HandshakeType.serverFinished && this.session !== undefined && this.opener === undefined && id === HandshakeStep.finished) {
      this.enableReceiving(this.handshake.receiveServerFinished(bytes));
      return;
    }
    throw new SessionError(SessionErrorCode.UnexpectedMessage, `unexpected handshake message of type ${bytes[0] ?? "none"}`);
  }
}
