// Shared fixtures for session and transport tests: identities made once per process (ML-DSA keygen and certificate
// signing are the slow steps), handshake runners, and a deterministic spread of byte positions for tamper sweeps.
import { signature } from "../../runtime/crypto/registry.js";
import { fingerprint } from "../../runtime/identity/index.js";
import { ServerCredentials, issueClientCertificate } from "../../runtime/session/certificate.js";
import type { ClientTrust, SigningIdentity } from "../../runtime/session/certificate.js";
import { ClientHandshake, ServerHandshake } from "../../runtime/session/handshake.js";
import type { ClientAuthentication, EstablishedSession } from "../../runtime/session/handshake.js";
import type { SuiteConfig } from "../../runtime/crypto/registry.js";

export const IDENTITY_ALGORITHM = "ML-DSA-65";
export const DEFAULT_SUITES: SuiteConfig = { kem: ["X25519MLKEM768"], signature: ["ML-DSA-65"], aead: ["AES-256-GCM"] };
export const T0 = Date.UTC(2026, 0, 1);

export function newIdentity(algorithm = IDENTITY_ALGORITHM): SigningIdentity & { fingerprint: string } {
  const pair = signature(algorithm).keygen();
  return { algorithm, publicKey: pair.publicKey, secretKey: pair.secretKey, fingerprint: fingerprint(algorithm, pair.publicKey) };
}

let cached: { server: ReturnType<typeof newIdentity>; credentials: ServerCredentials } | undefined;

/** One server identity and credential set (issued at T0) for the whole test process. */
export function serverFixture(): { server: ReturnType<typeof newIdentity>; credentials: ServerCredentials } {
  if (cached === undefined) {
    const server = newIdentity();
    const credentials = new ServerCredentials({ identity: server, label: "test server", now: () => T0 });
    credentials.forKem("X25519MLKEM768");
    cached = { server, credentials };
  }
  return cached;
}

let clientCached: { issuer: ReturnType<typeof newIdentity>; client: ReturnType<typeof newIdentity>; certificate: Uint8Array } | undefined;

/** A client identity certified by an issuer with claims { id: "agent-7", role: "billing-agent" }. */
export function clientFixture(): { issuer: ReturnType<typeof newIdentity>; client: ReturnType<typeof newIdentity>; certificate: Uint8Array } {
  if (clientCached === undefined) {
    const issuer = newIdentity();
    const client = newIdentity();
    const certificate = issueClientCertificate({
      issuer,
      subject: { algorithm: client.algorithm, publicKey: client.publicKey },
      claims: { id: "agent-7", role: "billing-agent" },
      lifetimeMs: 24 * 3600_000,
      now: T0,
    });
    clientCached = { issuer, client, certificate };
  }
  return clientCached;
}

export interface Peers {
  readonly client: ClientHandshake;
  readonly server: ServerHandshake;
}

export function peers(options: {
  clientSuites?: SuiteConfig;
  serverSuites?: SuiteConfig;
  trusted?: readonly string[];
  clientAuth?: ClientAuthentication;
  clientTrust?: ClientTrust;
  now?: number;
  credentials?: ServerCredentials;
} = {}): Peers {
  const { server, credentials } = serverFixture();
  const now = (): number => options.now ?? T0 + 1000;
  return {
    client: new ClientHandshake({
      suites: options.clientSuites ?? DEFAULT_SUITES,
      trustedServers: options.trusted ?? [server.fingerprint],
      clientAuth: options.clientAuth,
      now,
    }),
    server: new ServerHandshake({
      suites: options.serverSuites ?? DEFAULT_SUITES,
      credentials: options.credentials ?? credentials,
      clientTrust: options.clientTrust,
      now,
    }),
  };
}

export interface Flight {
  clientHello: Uint8Array;
  serverHello: Uint8Array;
  clientFinished: Uint8Array;
  serverFinished: Uint8Array;
  client: EstablishedSession;
  server: EstablishedSession;
}

/** Runs an honest handshake to completion and returns every message and both ends' sessions. */
export function handshake(p: Peers = peers()): Flight {
  const clientHello = p.client.hello();
  const serverHello = p.server.receiveClientHello(clientHello);
  const { clientFinished } = p.client.receiveServerHello(serverHello);
  const { serverFinished, session: server } = p.server.receiveClientFinished(clientFinished);
  const client = p.client.receiveServerFinished(serverFinished);
  return { clientHello, serverHello, clientFinished, serverFinished, client, server };
}

/**
 * Byte positions to tamper in a message of `length` bytes: every position when short, else every position in
 * `always` (header and small fields) plus `spread` positions evenly spaced with a fixed stride (deterministic).
 */
export function tamperPositions(length: number, always: readonly number[], spread = 200): number[] {
  if (length <= spread + always.length) return Array.from({ length }, (_, i) => i);
  const chosen = new Set(always.filter((i) => i < length));
  for (let k = 0; k < spread; k++) chosen.add(Math.floor(((k + 0.5) * length) / spread));
  return [...chosen].sort((a, b) => a - b);
}

export function flip(bytes: Uint8Array, position: number, mask = 0x01): Uint8Array {
  const copy = new Uint8Array(bytes);
  copy[position]! ^= mask;
  return copy;
}
