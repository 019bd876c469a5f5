// The session v1 handshake as two state machines with no I/O: the transports feed them bytes and send what they return.
// One round trip (ClientHello → ServerHello) before the client may send; the server is authenticated by KEM, not by a signature.
import { aead as aeadByName, constantTimeEqual, hash as hashByName, kdf as kdfByName, kem as kemByName, randomBytes, signature as signatureByName } from "../crypto/registry.js";
import type { SuiteConfig } from "../crypto/registry.js";
import type { Aead, Kdf, Kem } from "../crypto/types.js";
import type { AuthenticatedClient, NegotiatedSuite, SessionInfo } from "./facts.js";
import { parseClientCertificate, verifyClientCertificate, verifyServerCertificate } from "./certificate.js";
import type { ClientTrust, ServerCertificate, ServerCredential, ServerCredentials, SigningIdentity, TrustedFingerprints } from "./certificate.js";
import { ByteReader, ByteWriter, utf8 } from "./codec.js";
import { CLIENT_AUTH_CONTEXT, HELLO_NONCE_BYTES, MAX_HANDSHAKE_MESSAGE_BYTES, MAX_OFFERED_ALGORITHMS, PROTOCOL_KDF, TRANSCRIPT_HASH } from "./constants.js";
import { SessionError, SessionErrorCode, asSessionError } from "./errors.js";
import { KeySchedule, Transcript } from "./keys.js";
import {
  decodeClientFinished,
  decodeClientHello,
  decodeServerFinished,
  decodeServerHello,
  encodeClientFinishedBody,
  encodeClientHello,
  encodeOffer,
  encodeServerFinished,
  encodeServerHello,
} from "./messages.js";
import type { ClientHello, Offer } from "./messages.js";

/** What a completed handshake hands to the record layer: the AEAD, the KDF and one traffic secret per direction. */
export interface EstablishedSession {
  readonly info: SessionInfo;
  /** Secret to both ends and unique to this session: what a re-authentication signature binds to (docs/protocol.md). */
  readonly reauthContext: Uint8Array;
  readonly aead: Aead;
  readonly kdf: Kdf;
  readonly sendSecret: Uint8Array;
  readonly receiveSecret: Uint8Array;
}

export interface ClientAuthentication {
  readonly identity: SigningIdentity;
  /** A client certificate (issueClientCertificate) for `identity`'s public key. */
  readonly certificate: Uint8Array;
}

export interface ClientHandshakeOptions {
  readonly suites: SuiteConfig;
  /** Server identity fingerprints (`mldsa65:...`) the client accepts. */
  readonly trustedServers: TrustedFingerprints;
  readonly clientAuth?: ClientAuthentication | undefined;
  readonly now: () => number;
}

const clientAuthContext = utf8(CLIENT_AUTH_CONTEXT);

function checkOffer(suites: SuiteConfig): Offer {
  for (const [family, list] of Object.entries(suites)) {
    if (!Array.isArray(list) || list.length === 0 || list.length > MAX_OFFERED_ALGORITHMS || new Set(list).size !== list.length) {
      throw new SessionError(
        SessionErrorCode.InvalidConfiguration,
        `the \`${family}\` list must name 1 to ${MAX_OFFERED_ALGORITHMS} distinct algorithms`,
      );
    }
  }
  return { kem: [...suites.kem], signature: [...suites.signature], aead: [...suites.aead] };
}

function negotiatedSuite(kem: Kem, signature: string, aead: Aead): NegotiatedSuite {
  const sig = signatureByName(signature);
  const level = kem.level === 0 || sig.level === 0 ? 0 : Math.min(kem.level, sig.level);
  return { kem: kem.name, signature: sig.name, aead: aead.name, hybrid: kem.hybrid, level };
}

function kemOperation<T>(what: string, operation: () => T): T {
  try {
    return operation();
  } catch (error) {
    throw asSessionError(error, SessionErrorCode.KeyExchangeFailed, `${what} failed: the peer's key or ciphertext was refused`);
  }
}

export class ClientHandshake {
  private state: "start" | "hello-sent" | "finished-sent" | "confirmed" | "failed" = "start";
  private readonly offer: Offer;
  private readonly transcript = new Transcript(hashByName(TRANSCRIPT_HASH));
  private readonly kdf = kdfByName(PROTOCOL_KDF);
  private ephemeral: { kem: Kem; secretKey: Uint8Array }[] = [];
  private expectedServerMac: Uint8Array | undefined;
  private session: EstablishedSession | undefined;
  private server: ServerCertificate | undefined;

  constructor(private readonly options: ClientHandshakeOptions) {
    this.offer = checkOffer(options.suites);
    if (Array.isArray(options.trustedServers) && options.trustedServers.length === 0) {
      throw new SessionError(SessionErrorCode.InvalidConfiguration, "the client trusts no server fingerprints");
    }
  }

  /** The ClientHello: the offer, a nonce and an ephemeral key share per offered KEM. */
  hello(): Uint8Array {
    this.expect("start");
    const shares = this.offer.kem.map((name) => {
      const kem = kemByName(name);
      const pair = kem.keygen();
      this.ephemeral.push({ kem, secretKey: pair.secretKey });
      return { kem: kem.name, publicKey: pair.publicKey };
    });
    const hello: ClientHello = { nonce: randomBytes(HELLO_NONCE_BYTES), offer: this.offer, shares };
    const bytes = encodeClientHello(hello);
    this.transcript.add(bytes);
    this.state = "hello-sent";
    return bytes;
  }

  /**
   * Checks the ServerHello and certificate, and returns the ClientFinished. From here the client may send
   * sealed frames: only the holder of the certified static key can derive their keys.
   */
  receiveServerHello(bytes: Uint8Array): { clientFinished: Uint8Array; session: EstablishedSession } {
    this.expect("hello-sent");
    try {
      return this.processServerHello(bytes);
    } catch (error) {
      this.fail();
      throw asSessionError(error, SessionErrorCode.MalformedHandshake, "the server hello could not be processed");
    }
  }

  private processServerHello(bytes: Uint8Array): { clientFinished: Uint8Array; session: EstablishedSession } {
    const hello = decodeServerHello(bytes);
    if (!this.offer.kem.includes(hello.kem) || !this.offer.signature.includes(hello.signature) || !this.offer.aead.includes(hello.aead)) {
      throw new SessionError(SessionErrorCode.Downgrade, `the server chose \`${hello.kem}\`, \`${hello.signature}\`, \`${hello.aead}\`, outside the offer`);
    }
    const digest = hashByName(TRANSCRIPT_HASH).digest(encodeOffer(this.offer));
    if (!constantTimeEqual(digest, hello.offerDigest)) {
      throw new SessionError(SessionErrorCode.Downgrade, "the offer the server received differs from the offer sent: downgrade detected");
    }
    const certificate = verifyServerCertificate(hello.certificate, this.options.trustedServers, this.options.now());
    if (certificate.kem !== hello.kem || certificate.signature !== hello.signature) {
      throw new SessionError(
        SessionErrorCode.CertificateSuiteMismatch,
        `the server certificate is for \`${certificate.kem}\`/\`${certificate.signature}\`, not the chosen \`${hello.kem}\`/\`${hello.signature}\``,
      );
    }
    const share = this.ephemeral.find((entry) => entry.kem.name === hello.kem)!;
    const kem = share.kem;
    const aead = aeadByName(hello.aead);
    const ephemeralSecret = kemOperation("decapsulating the server's ciphertext", () => kem.decapsulate(hello.ciphertext, share.secretKey));
    const toServer = kemOperation("encapsulating to the server certificate", () => kem.encapsulate(certificate.kemPublicKey));
    for (const entry of this.ephemeral) entry.secretKey.fill(0);
    this.ephemeral = [];

    this.transcript.add(bytes);
    const schedule = new KeySchedule(this.kdf, aead, this.transcript.digest(), ephemeralSecret, toServer.sharedSecret);
    ephemeralSecret.fill(0);
    toServer.sharedSecret.fill(0);

    const clientAuth = this.options.clientAuth ? this.sealClientAuth(schedule, aead, toServer.ciphertext) : new Uint8Array(0);
    const body = encodeClientFinishedBody(toServer.ciphertext, clientAuth);
    const mac = schedule.clientFinishedMac(this.transcript.digest(body));
    const clientFinished = new ByteWriter().raw(body).raw(mac).finish();
    this.transcript.add(clientFinished);
    const full = this.transcript.digest();
    this.expectedServerMac = schedule.serverFinishedMac(full);
    const traffic = schedule.traffic(full);
    schedule.wipe();

    this.server = certificate;
    this.session = {
      aead,
      kdf: this.kdf,
      sendSecret: traffic.clientToServer,
      receiveSecret: traffic.serverToClient,
      reauthContext: traffic.reauthContext,
      info: {
        sessionId: traffic.sessionId,
        suite: negotiatedSuite(kem, hello.signature, aead),
        peerFingerprint: certificate.fingerprint,
        peerLabel: certificate.label === "" ? undefined : certificate.label,
        client: this.options.clientAuth ? this.ownClient() : undefined,
        establishedAt: this.options.now(),
        rekeys: 0,
        peerNotAfter: certificate.notAfter,
      },
    };
    this.state = "finished-sent";
    return { clientFinished, session: this.session };
  }

  private sealClientAuth(schedule: KeySchedule, aead: Aead, ciphertext: Uint8Array): Uint8Array {
    const auth = this.options.clientAuth!;
    const context = this.transcript.digest(ciphertext);
    const proof = signatureByName(auth.identity.algorithm).sign(context, auth.identity.secretKey, clientAuthContext);
    const plaintext = new ByteWriter().bytes(auth.certificate).bytes(proof).finish();
    const key = schedule.clientAuthKey(context);
    const sealed = aead.seal(key, new Uint8Array(aead.nonceLength), plaintext, context);
    aead.forget(key);
    key.fill(0);
    return sealed;
  }

  private ownClient(): AuthenticatedClient {
    const auth = this.options.clientAuth!;
    const parsed = verifyClientCertificateShape(auth.certificate);
    return { fingerprint: parsed.fingerprint, claims: parsed.claims, notAfter: parsed.notAfter };
  }

  /** Verifies the server's key confirmation: proof that it holds the certified static key and saw our transcript. */
  receiveServerFinished(bytes: Uint8Array): EstablishedSession {
    this.expect("finished-sent");
    try {
      const finished = decodeServerFinished(bytes, this.kdf.hashLength);
      if (!constantTimeEqual(finished.mac, this.expectedServerMac!)) {
        throw new SessionError(SessionErrorCode.KeyConfirmationFailed, "the server finished MAC does not verify: the handshake was altered or the server lacks its key");
      }
    } catch (error) {
      this.fail();
      throw asSessionError(error, SessionErrorCode.MalformedHandshake, "the server finished could not be processed");
    }
    this.state = "confirmed";
    return this.session!;
  }

  get serverCertificate(): ServerCertificate | undefined {
    return this.server;
  }

  private expect(state: ClientHandshake["state"]): void {
    if (this.state !== state) {
      this.fail();
      throw new SessionError(SessionErrorCode.UnexpectedMessage, `unexpected handshake step in state \`${this.state}\``);
    }
  }

  private fail(): void {
    this.state = "failed";
    for (const entry of this.ephemeral) entry.secretKey.fill(0);
    this.ephemeral = [];
    if (this.session) {
      this.session.sendSecret.fill(0);
      this.session.receiveSecret.fill(0);
    }
  }
}

/** The claims and fingerprint of our own certificate, parsed without trust decisions (the server makes those). */
function verifyClientCertificateShape(certificate: Uint8Array): { fingerprint: string; claims: Readonly<Record<string, unknown>>; notAfter: number } {
  const parsed = parseClientCertificate(certificate).certificate;
  return { fingerprint: parsed.fingerprint, claims: parsed.claims, notAfter: parsed.notAfter };
}

export interface ServerHandshakeOptions {
  readonly suites: SuiteConfig;
  readonly credentials: ServerCredentials;
  readonly clientTrust?: ClientTrust | undefined;
  readonly now: () => number;
}

/** Throws InvalidConfiguration unless `suites` is a valid offer whose signature list includes the identity's algorithm. */
export function checkServerSuites(suites: SuiteConfig, identityAlgorithm: string): void {
  checkOffer(suites);
  if (!suites.signature.includes(identityAlgorithm)) {
    throw new SessionError(
      SessionErrorCode.InvalidConfiguration,
      `this server's identity signs with \`${identityAlgorithm}\`, which its signature algorithms (${list(suites.signature)}) leave out: add it, or use an identity of a listed algorithm`,
    );
  }
}

export class ServerHandshake {
  private state: "start" | "hello-sent" | "established" | "failed" = "start";
  private readonly transcript = new Transcript(hashByName(TRANSCRIPT_HASH));
  private readonly kdf = kdfByName(PROTOCOL_KDF);
  private chosen: { kem: Kem; aead: Aead; signature: string; credential: ServerCredential; ephemeralSecret: Uint8Array } | undefined;

  constructor(private readonly options: ServerHandshakeOptions) {
    checkServerSuites(options.suites, options.credentials.signature);
  }

  /** Chooses the suite by server preference among the client's offer and answers with the ServerHello. */
  receiveClientHello(bytes: Uint8Array): Uint8Array {
    this.expect("start");
    try {
      return this.processClientHello(bytes);
    } catch (error) {
      this.fail();
      throw asSessionError(error, SessionErrorCode.MalformedHandshake, "the client hello could not be processed");
    }
  }

  private processClientHello(bytes: Uint8Array): Uint8Array {
    const hello = decodeClientHello(bytes);
    const { suites, credentials } = this.options;
    let credential: ServerCredential | undefined;
    const kemName = suites.kem.find((name) => hello.offer.kem.includes(name) && (credential = credentials.forKem(name)) !== undefined);
    const aeadName = suites.aead.find((name) => hello.offer.aead.includes(name));
    const signature = credentials.signature;
    if (kemName === undefined || aeadName === undefined || !hello.offer.signature.includes(signature)) {
      throw new SessionError(
        SessionErrorCode.NoCommonSuite,
        `no common suite: the client offered KEM ${list(hello.offer.kem)}, signature ${list(hello.offer.signature)}, AEAD ${list(hello.offer.aead)}; ` +
          `this server has KEM ${list(suites.kem)}, signature \`${signature}\`, AEAD ${list(suites.aead)}`,
      );
    }
    const kem = kemByName(kemName);
    const share = hello.shares.find((entry) => entry.kem === kemName)!;
    const toClient = kemOperation("encapsulating to the client's key share", () => kem.encapsulate(share.publicKey));
    const serverHello = encodeServerHello({
      nonce: randomBytes(HELLO_NONCE_BYTES),
      kem: kem.name,
      signature,
      aead: aeadName,
      offerDigest: hashByName(TRANSCRIPT_HASH).digest(encodeOffer(hello.offer)),
      ciphertext: toClient.ciphertext,
      certificate: credential!.certificate,
    });
    this.transcript.add(bytes).add(serverHello);
    this.chosen = { kem, aead: aeadByName(aeadName), signature, credential: credential!, ephemeralSecret: toClient.sharedSecret };
    this.state = "hello-sent";
    return serverHello;
  }

  /** Verifies the client's key confirmation (and identity, when it offers one); returns the ServerFinished. */
  receiveClientFinished(bytes: Uint8Array): { serverFinished: Uint8Array; session: EstablishedSession } {
    this.expect("hello-sent");
    try {
      return this.processClientFinished(bytes);
    } catch (error) {
      this.fail();
      throw asSessionError(error, SessionErrorCode.MalformedHandshake, "the client finished could not be processed");
    }
  }

  private processClientFinished(bytes: Uint8Array): { serverFinished: Uint8Array; session: EstablishedSession } {
    const chosen = this.chosen!;
    const { message, body } = decodeClientFinished(bytes, this.kdf.hashLength);
    const staticSecret = kemOperation("decapsulating the client's ciphertext", () =>
      chosen.kem.decapsulate(message.ciphertext, chosen.credential.kemSecretKey),
    );
    const schedule = new KeySchedule(this.kdf, chosen.aead, this.transcript.digest(), chosen.ephemeralSecret, staticSecret);
    staticSecret.fill(0);
    chosen.ephemeralSecret.fill(0);
    const expected = schedule.clientFinishedMac(this.transcript.digest(body));
    if (!constantTimeEqual(expected, message.mac)) {
      throw new SessionError(SessionErrorCode.KeyConfirmationFailed, "the client finished MAC does not verify: the handshake was altered in transit");
    }
    const client = this.authenticateClient(schedule, chosen.aead, message.ciphertext, message.clientAuth);
    this.transcript.add(bytes);
    const full = this.transcript.digest();
    const serverFinished = encodeServerFinished(schedule.serverFinishedMac(full));
    const traffic = schedule.traffic(full);
    schedule.wipe();
    this.state = "established";
    const session: EstablishedSession = {
      aead: chosen.aead,
      kdf: this.kdf,
      sendSecret: traffic.serverToClient,
      receiveSecret: traffic.clientToServer,
      reauthContext: traffic.reauthContext,
      info: {
        sessionId: traffic.sessionId,
        suite: negotiatedSuite(chosen.kem, chosen.signature, chosen.aead),
        peerFingerprint: this.options.credentials.fingerprint,
        peerLabel: chosen.credential.parsed.label === "" ? undefined : chosen.credential.parsed.label,
        client,
        establishedAt: this.options.now(),
        rekeys: 0,
        peerNotAfter: chosen.credential.parsed.notAfter,
      },
    };
    return { serverFinished, session };
  }

  private authenticateClient(schedule: KeySchedule, aead: Aead, ciphertext: Uint8Array, sealed: Uint8Array): AuthenticatedClient | undefined {
    const trust = this.options.clientTrust;
    if (sealed.length === 0) {
      if (trust?.required) throw new SessionError(SessionErrorCode.ClientAuthRequired, "this server requires client authentication and the client offered none");
      return undefined;
    }
    if (!trust || ((trust.issuers?.length ?? 0) === 0 && (trust.clientFingerprints?.length ?? 0) === 0)) {
      throw new SessionError(SessionErrorCode.ClientAuthFailed, "the client presented a certificate but this server trusts no client issuers or fingerprints", { certificateFailure: "untrusted" });
    }
    const context = this.transcript.digest(ciphertext);
    const key = schedule.clientAuthKey(context);
    const plaintext = aead.open(key, new Uint8Array(aead.nonceLength), sealed, context);
    aead.forget(key);
    key.fill(0);
    if (plaintext === undefined) throw new SessionError(SessionErrorCode.ClientAuthFailed, "the sealed client authentication does not open");
    const reader = new ByteReader(plaintext, "client authentication", SessionErrorCode.ClientAuthFailed);
    const certificateBytes = reader.bytes(MAX_HANDSHAKE_MESSAGE_BYTES);
    const proof = reader.bytes(MAX_HANDSHAKE_MESSAGE_BYTES);
    reader.end();
    const certificate = verifyClientCertificate(certificateBytes, trust, this.options.now());
    const accepted = this.options.suites.signature;
    for (const algorithm of new Set([certificate.issuerAlgorithm, certificate.subjectAlgorithm])) {
      if (!accepted.includes(algorithm)) {
        throw new SessionError(
          SessionErrorCode.ClientAuthFailed,
          `client \`${certificate.fingerprint}\` uses \`${algorithm}\`, which this server does not accept (it accepts ${list(accepted)})`,
        );
      }
    }
    let ok = false;
    try {
      ok = signatureByName(certificate.subjectAlgorithm).verify(proof, context, certificate.subjectPublicKey, clientAuthContext);
    } catch (error) {
      throw asSessionError(error, SessionErrorCode.ClientAuthFailed, "the client's proof of its identity could not be checked");
    }
    if (!ok) throw new SessionError(SessionErrorCode.ClientAuthFailed, `client \`${certificate.fingerprint}\` did not prove possession of its key`, { certificateFailure: "signature" });
    return { fingerprint: certificate.fingerprint, claims: certificate.claims, notAfter: certificate.notAfter };
  }

  private expect(state: ServerHandshake["state"]): void {
    if (this.state !== state) {
      this.fail();
      throw new SessionError(SessionErrorCode.UnexpectedMessage, `unexpected handshake step in state \`${this.state}\``);
    }
  }

  private fail(): void {
    this.state = "failed";
    this.chosen?.ephemeralSecret.fill(0);
  }
}

/**
 * Algorithm names for an error message (the codec admits at most 8 per list). The client chose them: a name that is
 * not a plain registry-style word is quoted as JSON (control characters and line breaks escaped, so it cannot forge a
 * log line) and cut to 64 characters.
 */
function list(names: readonly string[]): string {
  return names.map((name) => (/^[A-Za-z0-9._-]{1,64}$/.test(name) ? `\`${name}\`` : JSON.stringify(name.slice(0, 64)))).join(", ");
}
