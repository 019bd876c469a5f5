// TLS under the sealed session, both ends: TLS 1.3 only, the hybrid X25519MLKEM768 group first where the runtime's
// OpenSSL has it (Node 24; Node 20's OpenSSL 3.0 does not, and classical groups are used), and a client that always
// verifies the server: against the system store, a given CA, or a pinned public key, never not at all.
import { createHash, X509Certificate } from "node:crypto";
import { Agent as HttpAgent } from "node:http";
import { Agent, type AgentOptions, type RequestOptions, type ServerOptions } from "node:https";
import type { Duplex } from "node:stream";
import { connect, createSecureContext, type ConnectionOptions, type TLSSocket } from "node:tls";
import type { FetchLike } from "@modelcontextprotocol/sdk/shared/transport.js";
import { SessionError, SessionErrorCode } from "../session/errors.js";
import { nodeFetch } from "./fetch.js";

/** The hybrid post-quantum key exchange group of TLS 1.3 (ML-KEM-768 with X25519), as OpenSSL 3.5 names it. */
export const HYBRID_TLS_GROUP = "X25519MLKEM768";
/** The classical groups offered after it, and alone where OpenSSL lacks it. */
const CLASSICAL_TLS_GROUPS = ["X25519", "prime256v1", "secp384r1"];
/** The only protocol version either end speaks. */
export const TLS_MIN_VERSION = "TLSv1.3";
/** A public key pin: `sha256/` and the base64 SHA-256 of the certificate's SubjectPublicKeyInfo (as HPKP and curl). */
const PIN = /^sha256\/([A-Za-z0-9+/]{43}=)$/;

let groups: string | undefined;

/** The groups to offer, best first: the hybrid group when this runtime's OpenSSL accepts it, then classical ones. */
export function tlsGroups(): string {
  if (groups !== undefined) return groups;
  const hybrid = [HYBRID_TLS_GROUP, ...CLASSICAL_TLS_GROUPS].join(":");
  try {
    createSecureContext({ ecdhCurve: hybrid });
    groups = hybrid;
  } catch {
    groups = CLASSICAL_TLS_GROUPS.join(":");
  }
  return groups;
}

/** Whether this runtime can negotiate the hybrid group at all. */
export function hybridTlsAvailable(): boolean {
  return tlsGroups().startsWith(HYBRID_TLS_GROUP);
}

/** A TLS listener's certificate chain and key, PEM. */
export interface TlsServerCredentials {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
}

/** Options for `https.createServer`: TLS 1.3 only, hybrid group preferred. */
export function tlsServerOptions(credentials: TlsServerCredentials): ServerOptions {
  return { cert: credentials.cert, key: credentials.key, minVersion: TLS_MIN_VERSION, ecdhCurve: tlsGroups() };
}

/** How a client verifies the server's certificate. With neither, the system's CA store; never not at all. */
export interface TlsClientOptions {
  /** CA certificates (PEM) to verify the server's chain against, instead of the system store; the host name is checked. */
  readonly ca?: string | Buffer | readonly (string | Buffer)[] | undefined;
  /**
   * Public key pins (`sha256/BASE64`): the server's certificate must carry one of these keys. Its chain and name are
   * then not checked (a pin is the stronger statement), so a self-signed certificate serves.
   */
  readonly pins?: readonly string[] | undefined;
}

/** Checks `sha256/BASE64` pins; a typed error naming the malformed one. */
export function checkPins(pins: readonly string[]): string[] {
  return pins.map((pin) => {
    if (!PIN.test(pin.trim())) {
      throw new SessionError(SessionErrorCode.InvalidConfiguration, `\`${pin}\` is not a public key pin: give \`sha256/\` and the base64 SHA-256 of the certificate's public key`);
    }
    return pin.trim();
  });
}

/** The pin of a certificate (PEM or DER): `sha256/` and the base64 SHA-256 of its SubjectPublicKeyInfo. */
export function pinOf(certificate: string | Buffer): string {
  const spki = new X509Certificate(certificate).publicKey.export({ type: "spki", format: "der" });
  return `sha256/${createHash("sha256").update(spki).digest("base64")}`;
}

/**
 * An https Agent whose connections speak TLS 1.3 only and are verified before the HTTP client may write on them: by
 * the CA store or `ca` (chain and host name), or by a pinned key, checked once the handshake is done and before the
 * socket is handed over, so that not even the request's headers reach a server that does not hold the key.
 */
class VerifyingAgent extends Agent {
  constructor(
    options: AgentOptions,
    private readonly pins: readonly string[],
  ) {
    super(options);
  }

  override createConnection(requested: RequestOptions, handover?: (error: Error | null, socket: Duplex) => void): Duplex | undefined {
    const options = requested as ConnectionOptions;
    if (this.pins.length === 0 || handover === undefined) return connect({ ...options, minVersion: TLS_MIN_VERSION, rejectUnauthorized: true });
    const socket: TLSSocket = connect({ ...options, minVersion: TLS_MIN_VERSION, rejectUnauthorized: false });
    const refuse = (error: Error): void => {
      socket.destroy();
      handover(error, socket);
    };
    socket.once("error", refuse);
    socket.once("secureConnect", () => {
      socket.off("error", refuse);
      const raw = socket.getPeerCertificate().raw as Buffer | undefined;
      const pin = raw === undefined ? undefined : pinOf(raw);
      if (pin !== undefined && this.pins.includes(pin)) return handover(null, socket);
      refuse(new SessionError(SessionErrorCode.TlsRefused, `the server's TLS certificate carries none of the pinned keys (its key is ${pin ?? "absent"})`));
    });
    return undefined;
  }
}

/**
 * The fetch a client of the sealed session (or of an upstream) uses (`nodeFetch`, runtime/transport/fetch.ts):
 * `https:` through node:https with TLS 1.3 only and the server verified as `options` say; `http:` through node:http
 * (the sealed session is then the only protection). Each returned fetch keeps its own keep-alive connections.
 */
export function tlsClientFetch(options: TlsClientOptions = {}): FetchLike {
  return nodeFetch(tlsClientAgents(options));
}

/**
 * The keep-alive agents behind `tlsClientFetch`, for a caller that ends their connections itself (`destroy()`) when
 * it is done with them rather than leaving them to the server's idle timeout.
 */
export function tlsClientAgents(options: TlsClientOptions = {}): { readonly http: HttpAgent; readonly https: Agent } {
  const pins = checkPins(options.pins ?? []);
  const ca = options.ca === undefined ? undefined : Array.isArray(options.ca) ? [...(options.ca as (string | Buffer)[])] : [options.ca as string | Buffer];
  const https = new VerifyingAgent({ keepAlive: true, minVersion: TLS_MIN_VERSION, ecdhCurve: tlsGroups(), ...(ca === undefined ? {} : { ca }) }, pins);
  return { http: new HttpAgent({ keepAlive: true }), https };
}
