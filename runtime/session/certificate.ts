// Certificates of the session protocol: a server's static KEM key certified once by its ML-DSA identity (KEMTLS-style),
// and a client's identity with claims certified by an issuer. Issuance signs; handshakes only verify (and cache that).
import { constantTimeEqual, hash, kem as kemByName, signature as signatureByName } from "../crypto/registry.js";
import { fingerprint } from "../identity/index.js";
import { ByteReader, ByteWriter, toHex, utf8 } from "./codec.js";
import {
  CERTIFICATE_CLOCK_SKEW_MS,
  CLIENT_CERTIFICATE_CONTEXT,
  MAX_HANDSHAKE_MESSAGE_BYTES,
  SERVER_CERTIFICATE_CONTEXT,
  SERVER_CERTIFICATE_LIFETIME_MS,
  SERVER_CERTIFICATE_ROTATE_AFTER_MS,
  TRANSCRIPT_HASH,
  VERIFIED_CERTIFICATE_CACHE_ENTRIES,
} from "./constants.js";
import { SessionError, SessionErrorCode, asSessionError } from "./errors.js";

/** An ML-DSA (or other registry signature) key pair with its algorithm name: what signs certificates and client proofs. */
export interface SigningIdentity {
  readonly algorithm: string;
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;
}

const SERVER_CERTIFICATE_KIND = 1;
const CLIENT_CERTIFICATE_KIND = 2;
const CERTIFICATE_VERSION = 1;

export interface ServerCertificate {
  readonly kem: string;
  readonly kemPublicKey: Uint8Array;
  readonly signature: string;
  readonly identityPublicKey: Uint8Array;
  readonly label: string;
  readonly notBefore: number;
  readonly notAfter: number;
  /** `mldsa65:...` fingerprint of the identity that signed it. */
  readonly fingerprint: string;
}

/** A certificate with the static KEM secret key that goes with it: what a server needs to answer handshakes. */
export interface ServerCredential {
  readonly certificate: Uint8Array;
  readonly kemSecretKey: Uint8Array;
  readonly parsed: ServerCertificate;
}

export interface IssueServerCertificateOptions {
  readonly identity: SigningIdentity;
  /** Registry name of the static KEM (normally the negotiated KEM, e.g. the default hybrid). */
  readonly kem: string;
  readonly label?: string;
  readonly lifetimeMs?: number;
  /** Issuance time, epoch ms. */
  readonly now?: number;
}

const contextBytes = {
  server: utf8(SERVER_CERTIFICATE_CONTEXT),
  client: utf8(CLIENT_CERTIFICATE_CONTEXT),
};

/** Generates a static KEM key pair and signs a certificate for it: the one ML-DSA signature a server makes per rotation. */
export function issueServerCertificate(options: IssueServerCertificateOptions): ServerCredential {
  const kem = kemByName(options.kem);
  const scheme = signatureByName(options.identity.algorithm);
  const now = options.now ?? Date.now();
  const lifetime = options.lifetimeMs ?? SERVER_CERTIFICATE_LIFETIME_MS;
  checkLifetime(now, lifetime);
  if (utf8(options.label ?? "").length > 0xffff) throw new SessionError(SessionErrorCode.InvalidConfiguration, "server certificate label must fit in 65535 bytes");
  const keys = kem.keygen();
  const tbs = new ByteWriter()
    .u8(SERVER_CERTIFICATE_KIND)
    .u8(CERTIFICATE_VERSION)
    .name(kem.name)
    .bytes(keys.publicKey)
    .name(scheme.name)
    .bytes(options.identity.publicKey)
    .text(options.label ?? "")
    .u64(now)
    .u64(now + lifetime)
    .finish();
  const sig = scheme.sign(tbs, options.identity.secretKey, contextBytes.server);
  const certificate = new ByteWriter().raw(tbs).bytes(sig).finish();
  return { certificate, kemSecretKey: keys.secretKey, parsed: parseServerCertificate(certificate).certificate };
}

/** Issuance time and lifetime must give a non-empty window of whole milliseconds that the u64 fields can hold. */
function checkLifetime(now: number, lifetimeMs: number): void {
  if (!(lifetimeMs > 0 && Number.isSafeInteger(now) && now >= 0 && Number.isSafeInteger(now + lifetimeMs))) {
    throw new SessionError(
      SessionErrorCode.InvalidConfiguration,
      `certificate lifetime must be a positive whole number of milliseconds from a valid issuance time, got ${lifetimeMs} from ${now}`,
    );
  }
}

interface Parsed<T> {
  readonly certificate: T;
  readonly tbs: Uint8Array;
  readonly signature: Uint8Array;
}

export function parseServerCertificate(bytes: Uint8Array): Parsed<ServerCertificate> {
  const reader = new ByteReader(bytes, "server certificate", SessionErrorCode.BadCertificate);
  if (reader.u8() !== SERVER_CERTIFICATE_KIND) throw bad("server certificate", "not a server certificate");
  if (reader.u8() !== CERTIFICATE_VERSION) throw bad("server certificate", "unknown certificate version");
  const kem = reader.name();
  const kemPublicKey = reader.bytes(MAX_HANDSHAKE_MESSAGE_BYTES);
  const signature = reader.name();
  const identityPublicKey = reader.bytes(MAX_HANDSHAKE_MESSAGE_BYTES);
  const label = reader.text();
  const notBefore = reader.u64();
  const notAfter = reader.u64();
  const tbs = reader.consumed();
  const sig = reader.bytes(MAX_HANDSHAKE_MESSAGE_BYTES);
  reader.end();
  const print = fingerprintOf(signature, identityPublicKey, "server certificate");
  return {
    certificate: { kem, kemPublicKey, signature, identityPublicKey, label, notBefore, notAfter, fingerprint: print },
    tbs,
    signature: sig,
  };
}

/**
 * Checks a server certificate as a client must: pinned identity, signature, validity window.
 * Trust is checked first (cheap, and the most telling error); the signature result is cached by certificate digest,
 * together with the parsed certificate, so a repeat contact gets the same certificate object (and with it the KEM
 * public key whose imported key the crypto layer has cached).
 */
/** Server fingerprints a client accepts: a list, or a set that changes (a `TrustedServerKeys` fed by signed trust lists). */
export type TrustedFingerprints = readonly string[] | { includes(fingerprint: string): boolean };

export function verifyServerCertificate(bytes: Uint8Array, trustedFingerprints: TrustedFingerprints, now: number): ServerCertificate {
  const certificate = verifiedCertificate("server certificate", bytes, parseServerCertificate, {
    trust(parsed) {
      if (!trustedFingerprints.includes(parsed.fingerprint)) {
        throw new SessionError(
          SessionErrorCode.UntrustedServerKey,
          `server identity \`${parsed.fingerprint}\` is not among the trusted server fingerprints`,
          { certificateFailure: "untrusted" },
        );
      }
    },
    signer: (parsed) => ({ algorithm: parsed.signature, publicKey: parsed.identityPublicKey }),
  });
  checkValidity(certificate.notBefore, certificate.notAfter, now, "server certificate");
  return certificate;
}

export interface ClientCertificate {
  readonly subjectAlgorithm: string;
  readonly subjectPublicKey: Uint8Array;
  readonly claims: Readonly<Record<string, unknown>>;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly issuerAlgorithm: string;
  readonly issuerPublicKey: Uint8Array;
  readonly fingerprint: string;
  readonly issuerFingerprint: string;
}

export interface IssueClientCertificateOptions {
  /** Who vouches for the claims; the subject itself for a self-issued certificate that servers pin by fingerprint. */
  readonly issuer: SigningIdentity;
  readonly subject: { readonly algorithm: string; readonly publicKey: Uint8Array };
  /** For example `{ id: "agent-7", role: "billing-agent" }`; become `client.*` facts on the server. */
  readonly claims: Readonly<Record<string, unknown>>;
  readonly lifetimeMs: number;
  readonly now?: number;
}

export function issueClientCertificate(options: IssueClientCertificateOptions): Uint8Array {
  const issuerScheme = signatureByName(options.issuer.algorithm);
  const subjectScheme = signatureByName(options.subject.algorithm);
  const now = options.now ?? Date.now();
  checkLifetime(now, options.lifetimeMs);
  const tbs = new ByteWriter()
    .u8(CLIENT_CERTIFICATE_KIND)
    .u8(CERTIFICATE_VERSION)
    .name(subjectScheme.name)
    .bytes(options.subject.publicKey)
    .text(claimsText(options.claims))
    .u64(now)
    .u64(now + options.lifetimeMs)
    .name(issuerScheme.name)
    .bytes(options.issuer.publicKey)
    .finish();
  const sig = issuerScheme.sign(tbs, options.issuer.secretKey, contextBytes.client);
  return new ByteWriter().raw(tbs).bytes(sig).finish();
}

/** The claims as the certificate's JSON text: an object that fits the 2-byte length, as parseClientCertificate requires. */
function claimsText(claims: unknown): string {
  let text: string | undefined;
  try {
    text = typeof claims === "object" && claims !== null && !Array.isArray(claims) ? JSON.stringify(claims) : undefined;
  } catch {
    text = undefined;
  }
  if (text === undefined) throw new SessionError(SessionErrorCode.InvalidConfiguration, "client certificate claims must be a JSON object");
  if (utf8(text).length > 0xffff) {
    throw new SessionError(SessionErrorCode.InvalidConfiguration, "client certificate claims must fit in 65535 bytes of JSON");
  }
  return text;
}

export function parseClientCertificate(bytes: Uint8Array): Parsed<ClientCertificate> {
  const reader = new ByteReader(bytes, "client certificate", SessionErrorCode.ClientAuthFailed);
  if (reader.u8() !== CLIENT_CERTIFICATE_KIND) throw badClient("not a client certificate");
  if (reader.u8() !== CERTIFICATE_VERSION) throw badClient("unknown certificate version");
  const subjectAlgorithm = reader.name();
  const subjectPublicKey = reader.bytes(MAX_HANDSHAKE_MESSAGE_BYTES);
  const claimsText = reader.text();
  const notBefore = reader.u64();
  const notAfter = reader.u64();
  const issuerAlgorithm = reader.name();
  const issuerPublicKey = reader.bytes(MAX_HANDSHAKE_MESSAGE_BYTES);
  const tbs = reader.consumed();
  const sig = reader.bytes(MAX_HANDSHAKE_MESSAGE_BYTES);
  reader.end();
  let claims: unknown;
  try {
    claims = JSON.parse(claimsText);
  } catch {
    throw badClient("claims are not JSON");
  }
  if (typeof claims !== "object" || claims === null || Array.isArray(claims)) throw badClient("claims are not a JSON object");
  return {
    certificate: {
      subjectAlgorithm,
      subjectPublicKey,
      claims: deepFreeze(claims as Record<string, unknown>),
      notBefore,
      notAfter,
      issuerAlgorithm,
      issuerPublicKey,
      fingerprint: fingerprintOf(subjectAlgorithm, subjectPublicKey, "client certificate"),
      issuerFingerprint: fingerprintOf(issuerAlgorithm, issuerPublicKey, "client certificate"),
    },
    tbs,
    signature: sig,
  };
}

/** Whom a server believes about clients. */
export interface ClientTrust {
  /** Fingerprints of issuers whose client certificates (and claims) the server accepts. */
  readonly issuers?: readonly string[];
  /** Fingerprints of clients accepted with self-issued certificates (their claims are their own). */
  readonly clientFingerprints?: readonly string[];
  /** Refuse clients that do not authenticate. */
  readonly required?: boolean;
  /** Client and issuer fingerprints revoked before their certificates expire (a revocation list). */
  readonly revoked?: { has(fingerprint: string): boolean };
}

export function verifyClientCertificate(bytes: Uint8Array, trust: ClientTrust, now: number): ClientCertificate {
  const certificate = verifiedCertificate("client certificate", bytes, parseClientCertificate, {
    trust(parsed) {
      for (const print of [parsed.fingerprint, parsed.issuerFingerprint]) {
        if (trust.revoked?.has(print) === true) {
          throw new SessionError(SessionErrorCode.ClientAuthFailed, `client certificate rests on \`${print}\`, which is revoked`, { certificateFailure: "untrusted" });
        }
      }
      const byIssuer = trust.issuers?.includes(parsed.issuerFingerprint) ?? false;
      const selfIssued = parsed.issuerFingerprint === parsed.fingerprint;
      const pinned = selfIssued && (trust.clientFingerprints?.includes(parsed.fingerprint) ?? false);
      if (!byIssuer && !pinned) {
        throw new SessionError(
          SessionErrorCode.ClientAuthFailed,
          `client \`${parsed.fingerprint}\` is neither pinned nor certified by a trusted issuer`,
          { certificateFailure: "untrusted" },
        );
      }
    },
    signer: (parsed) => ({ algorithm: parsed.issuerAlgorithm, publicKey: parsed.issuerPublicKey }),
  });
  checkValidity(certificate.notBefore, certificate.notAfter, now, "client certificate");
  return certificate;
}

/**
 * The credentials a server answers with: one certificate per KEM, issued on first use and re-issued
 * (with a fresh static KEM key) after `rotateAfterMs`. Share one instance across connections so the
 * ML-DSA signature is made once per rotation, not once per connection.
 */
export class ServerCredentials {
  readonly fingerprint: string;
  readonly label: string | undefined;
  private readonly issued = new Map<string, ServerCredential>();

  constructor(
    private readonly options: {
      readonly identity?: SigningIdentity;
      readonly label?: string;
      readonly lifetimeMs?: number;
      readonly rotateAfterMs?: number;
      readonly now?: () => number;
      /** Certificates issued elsewhere (for example offline); used while valid, before issuing new ones. */
      readonly certificates?: readonly ServerCredential[];
    },
  ) {
    const lifetime = options.lifetimeMs ?? SERVER_CERTIFICATE_LIFETIME_MS;
    const rotate = options.rotateAfterMs ?? SERVER_CERTIFICATE_ROTATE_AFTER_MS;
    if (!(rotate > 0 && rotate < lifetime)) {
      throw new SessionError(SessionErrorCode.InvalidConfiguration, "server certificate rotation must come before expiry");
    }
    const prints = new Set<string>();
    if (options.identity) prints.add(fingerprintOf(options.identity.algorithm, options.identity.publicKey, "server identity"));
    for (const credential of options.certificates ?? []) {
      prints.add(credential.parsed.fingerprint);
      this.issued.set(credential.parsed.kem, credential);
    }
    if (prints.size !== 1) {
      throw new SessionError(
        SessionErrorCode.InvalidConfiguration,
        prints.size === 0 ? "server credentials need an identity or certificates" : "server certificates name more than one identity",
      );
    }
    this.fingerprint = [...prints][0]!;
    this.label = options.label ?? options.certificates?.[0]?.parsed.label;
  }

  /** The signature algorithm of the server identity. */
  get signature(): string {
    return this.options.identity?.algorithm ?? this.issued.values().next().value!.parsed.signature;
  }

  /** A valid credential for `kem`, issuing or rotating when needed; undefined when none can be had. */
  forKem(kem: string): ServerCredential | undefined {
    const now = (this.options.now ?? Date.now)();
    const current = this.issued.get(kem);
    const rotateAfter = this.options.rotateAfterMs ?? SERVER_CERTIFICATE_ROTATE_AFTER_MS;
    const fresh = current !== undefined && now < current.parsed.notAfter && now - current.parsed.notBefore < rotateAfter;
    if (fresh) return current;
    if (!this.options.identity) {
      return current !== undefined && now < current.parsed.notAfter ? current : undefined;
    }
    const credential = issueServerCertificate({
      identity: this.options.identity,
      kem,
      now,
      ...(this.options.label !== undefined ? { label: this.options.label } : {}),
      ...(this.options.lifetimeMs !== undefined ? { lifetimeMs: this.options.lifetimeMs } : {}),
    });
    this.issued.set(kem, credential);
    return credential;
  }
}

/**
 * Freezes parsed claims all the way down: a verified certificate is cached and shared by every session that presents
 * the same bytes, so no holder may change the claims the next one receives. Iterative: claims may nest deeply.
 */
function deepFreeze<T extends object>(root: T): Readonly<T> {
  const pending: object[] = [root];
  for (let value = pending.pop(); value !== undefined; value = pending.pop()) {
    Object.freeze(value);
    for (const child of Object.values(value)) if (typeof child === "object" && child !== null) pending.push(child as object);
  }
  return root;
}

function checkValidity(notBefore: number, notAfter: number, now: number, what: string): void {
  // Every comparison with NaN is false, so an unusable clock would pass the checks below: refuse it instead.
  if (!Number.isFinite(now)) {
    throw new SessionError(SessionErrorCode.InvalidConfiguration, `the clock gave \`${now}\`, not a time: the ${what}'s validity cannot be checked`);
  }
  if (notAfter <= notBefore) {
    throw new SessionError(SessionErrorCode.CertificateExpired, `${what} has an empty validity window (it ends before it begins)`);
  }
  if (now >= notAfter) {
    throw new SessionError(SessionErrorCode.CertificateExpired, `${what} expired at ${new Date(notAfter).toISOString()}`);
  }
  if (now + CERTIFICATE_CLOCK_SKEW_MS < notBefore) {
    throw new SessionError(SessionErrorCode.CertificateExpired, `${what} is not valid before ${new Date(notBefore).toISOString()}`);
  }
}

type CertificateKind = "server certificate" | "client certificate";

/** A certificate whose signature verified: a private copy of its bytes and what was parsed from that copy. */
interface Verified<T> {
  readonly kind: CertificateKind;
  readonly bytes: Uint8Array;
  readonly certificate: T;
}

const verifiedCache = new Map<string, Verified<ServerCertificate> | Verified<ClientCertificate>>();

interface CertificateChecks<T> {
  /** Whether the verifier trusts the certificate's signer: checked before the signature, and on every cache hit. */
  trust(certificate: T): void;
  signer(certificate: T): { algorithm: string; publicKey: Uint8Array };
}

/**
 * The certificate in `bytes`, trusted and its signature verified; validity is left to the caller. Successes are
 * remembered by digest of the whole certificate (which includes the signer's key). A hit returns the same parsed
 * object as before, as long as its private copy of the bytes still equals `bytes`; a miss parses a fresh copy, so
 * the cached certificate shares no memory with the caller's message.
 */
function verifiedCertificate<T>(
  kind: CertificateKind,
  bytes: Uint8Array,
  parse: (bytes: Uint8Array) => Parsed<T>,
  checks: CertificateChecks<T>,
): T {
  const key = toHex(hash(TRANSCRIPT_HASH).digest(bytes));
  const known = verifiedCache.get(key) as Verified<T> | undefined;
  if (known !== undefined && known.kind === kind && constantTimeEqual(known.bytes, bytes)) {
    checks.trust(known.certificate);
    return known.certificate;
  }
  const own = Uint8Array.from(bytes);
  const { certificate, tbs, signature } = parse(own);
  Object.freeze(certificate);
  checks.trust(certificate);
  const { algorithm, publicKey } = checks.signer(certificate);
  const context = kind === "client certificate" ? contextBytes.client : contextBytes.server;
  const code = kind === "client certificate" ? SessionErrorCode.ClientAuthFailed : SessionErrorCode.BadCertificate;
  let ok = false;
  try {
    ok = signatureByName(algorithm).verify(signature, tbs, publicKey, context);
  } catch (error) {
    throw asSessionError(error, code, `${kind} signature could not be checked with \`${algorithm}\``);
  }
  if (!ok) throw new SessionError(code, `${kind} signature does not verify`, { certificateFailure: "signature" });
  verifiedCache.delete(key);
  verifiedCache.set(key, { kind, bytes: own, certificate } as Verified<ServerCertificate> | Verified<ClientCertificate>);
  if (verifiedCache.size > VERIFIED_CERTIFICATE_CACHE_ENTRIES) verifiedCache.delete(verifiedCache.keys().next().value!);
  return certificate;
}

/** Test hook: forget cached verifications so a test can measure or exercise the cold path. */
export function clearVerifiedCertificateCache(): void {
  verifiedCache.clear();
}

function fingerprintOf(algorithm: string, publicKey: Uint8Array, what: string): string {
  try {
    return fingerprint(algorithm, publicKey);
  } catch (error) {
    const code = what === "client certificate" ? SessionErrorCode.ClientAuthFailed : SessionErrorCode.BadCertificate;
    throw asSessionError(error, code, `${what} names an unusable identity algorithm \`${algorithm}\``);
  }
}

function bad(what: string, detail: string): SessionError {
  return new SessionError(SessionErrorCode.BadCertificate, `malformed ${what}: ${detail}`);
}

function badClient(detail: string): SessionError {
  return new SessionError(SessionErrorCode.ClientAuthFailed, `malformed client certificate: ${detail}`);
}
