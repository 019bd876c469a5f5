// PqcServerTransport: the SDK Transport a Server connects with; it answers the session handshake over any inner
// transport, authenticates itself with a KEM certificate and, when configured, the client by its certificate.
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { resolveSuiteConfig } from "../crypto/registry.js";
import type { SuiteConfig } from "../crypto/registry.js";
import { ServerCredentials } from "../session/certificate.js";
import type { ClientTrust, SigningIdentity } from "../session/certificate.js";
import { parseServerCertificate } from "../session/certificate.js";
import type { SessionInfo } from "../session/facts.js";
import { acceptClientReauthentication, type ReauthState } from "../session/reauth.js";
import { SessionError, SessionErrorCode } from "../session/errors.js";
import { ServerHandshake, checkServerSuites } from "../session/handshake.js";
import { HandshakeType } from "../session/messages.js";
import { serverSuites } from "./defaults.js";
import { HandshakeStep, handshakeResponse } from "./envelope.js";
import { SessionTransport } from "./session-transport.js";
import type { SessionTransportOptions } from "./session-transport.js";

export interface PqcServerTransportOptions extends SessionTransportOptions {
  /** Certificates and their rotation; share one instance across connections. */
  readonly credentials?: ServerCredentials;
  /** Or the identity alone: credentials are then kept per identity for the whole process. */
  readonly identity?: SigningIdentity;
  /** Human label put in certificates issued from `identity`. */
  readonly label?: string;
  /**
   * Algorithms to accept, in the server's preference order (the server chooses among the client's offer). The
   * signature list names what client certificates may be signed with, and must include the identity's algorithm;
   * unset (and no PQGUARD_SIGNATURE), it is the identity's algorithm followed by the registry's defaults.
   */
  readonly suites?: Partial<SuiteConfig>;
  /** Which client certificates to believe; without it, clients that present one are refused. */
  readonly clientTrust?: ClientTrust;
  /**
   * Keys that change while the server runs (a keyring): asked for the credentials and client trust of each new
   * connection, and told of the transport so it can drain it when its key is revoked. Takes precedence over
   * `credentials`, `identity` and `clientTrust`.
   */
  readonly keys?: ServerKeySource;
}

/** Where a server's keys come from when they change at run time (`KeyringServer`). */
export interface ServerKeySource {
  /** The credentials new connections answer with. */
  credentials(): ServerCredentials;
  /** The client trust new connections apply (issuers, pins, revocations). */
  clientTrust(): ClientTrust | undefined;
  /** A new connection and the identity it answers with. */
  track(transport: PqcServerTransport, fingerprint: string): void;
  /** The algorithms new connections accept, when configured with the keys (a suites file); else the transport's. */
  suites?(): Partial<SuiteConfig> | undefined;
}

// One ServerCredentials per identity, so connections made with `identity` share certificates (one signature per rotation).
const credentialsByIdentity = new WeakMap<Uint8Array, ServerCredentials>();

function credentialsFor(options: PqcServerTransportOptions, now: () => number): ServerCredentials {
  if (options.credentials !== undefined) return options.credentials;
  const identity = options.identity;
  if (identity === undefined) {
    throw new SessionError(SessionErrorCode.InvalidConfiguration, "a server transport needs `credentials` or `identity`");
  }
  let credentials = credentialsByIdentity.get(identity.secretKey);
  if (credentials === undefined) {
    credentials = new ServerCredentials({ identity, now, ...(options.label !== undefined ? { label: options.label } : {}) });
    credentialsByIdentity.set(identity.secretKey, credentials);
  }
  return credentials;
}

/**
 * `start()` starts the inner transport and resolves when a client has completed the handshake (or rejects on
 * timeout): connect the server and the client concurrently, as with any in-memory pair. Sends before that are
 * queued (bounded) and flushed in order.
 */
export class PqcServerTransport extends SessionTransport {
  /** @internal */
  protected readonly side = "server" as const;
  private readonly handshake: ServerHandshake;
  private readonly clientTrust: ClientTrust | undefined;
  private readonly acceptedSignatures: readonly string[];
  private helloAnswered = false;

  constructor(inner: Transport, options: PqcServerTransportOptions) {
    super(inner, options);
    const credentials = options.keys?.credentials() ?? credentialsFor(options, this.now);
    const suites = resolveSuiteConfig(serverSuites(options.keys?.suites?.() ?? options.suites, credentials.signature));
    this.clientTrust = options.keys === undefined ? options.clientTrust : options.keys.clientTrust();
    this.acceptedSignatures = suites.signature;
    this.handshake = new ServerHandshake({
      suites,
      credentials,
      clientTrust: this.clientTrust,
      now: this.now,
    });
    options.keys?.track(this, credentials.fingerprint);
  }

  /**
   * Throws the error constructing a transport with `options` would (a typed InvalidConfiguration or CryptoConfigError),
   * so that a server that makes transports per connection can refuse a bad configuration once, at startup.
   */
  static checkOptions(options: PqcServerTransportOptions): void {
    const algorithm = options.keys?.credentials().signature ?? options.credentials?.signature ?? options.identity?.algorithm;
    if (algorithm === undefined) throw new SessionError(SessionErrorCode.InvalidConfiguration, "a server transport needs `credentials` or `identity`");
    checkServerSuites(resolveSuiteConfig(serverSuites(options.keys?.suites?.() ?? options.suites, algorithm)), algorithm);
  }

  start(): Promise<void> {
    return this.startSession("waiting for a client handshake");
  }

  /**
   * Re-authenticates with a renewed server certificate signed by `identity`: the session's identity (a renewal), or
   * after a key rotation the new identity, which the client accepts only when it already trusts it (pinned, or endorsed
   * by a key it trusts). The client replaces its facts about the server once it verifies it, or closes the session
   * (PQG6028). Calls in flight continue.
   */
  async reauthenticate(certificate: Uint8Array, identity: SigningIdentity): Promise<void> {
    const renewed = parseServerCertificate(certificate).certificate;
    await this.sendReauthentication("server", certificate, identity);
    this.updateFacts((info) => ({
      ...info,
      peerNotAfter: renewed.notAfter,
      peerLabel: renewed.label === "" ? undefined : renewed.label,
      peerFingerprint: renewed.fingerprint,
      suite: renewed.signature === info.suite.signature ? info.suite : { ...info.suite, signature: renewed.signature },
    }));
  }

  /** @internal */
  protected acceptReauthentication(message: Uint8Array, state: ReauthState): { counter: number; info: SessionInfo } {
    const accepted = acceptClientReauthentication(message, state, this.clientTrust, this.acceptedSignatures);
    return { counter: accepted.counter, info: { ...state.info, client: accepted.client } };
  }

  /** @internal */
  protected receiveHandshake(bytes: Uint8Array, id: unknown): void {
    if (bytes[0] === HandshakeType.clientHello && !this.helloAnswered && id === HandshakeStep.hello) {
      this.helloAnswered = true;
      this.sendHandshake(HandshakeStep.hello, this.handshake.receiveClientHello(bytes));
      return;
    }
    if (bytes[0] === HandshakeType.clientFinished && this.helloAnswered && this.opener === undefined && id === HandshakeStep.finished) {
      const { serverFinished, session } = this.handshake.receiveClientFinished(bytes);
      this.sendHandshake(HandshakeStep.finished, serverFinished);
      this.enableSending(session);
      this.enableReceiving(session);
      return;
    }
    throw new SessionError(SessionErrorCode.UnexpectedMessage, `unexpected handshake message of type ${bytes[0] ?? "none"}`);
  }

  private sendHandshake(step: HandshakeStep, bytes: Uint8Array): void {
    this.inner.send(handshakeResponse(step, bytes)).catch((error: unknown) => {
      this.fail(new SessionError(SessionErrorCode.PeerClosedDuringHandshake, "a handshake message could not be sent", { cause: error }));
    });
  }
}
