// Re-authentication inside an established session: a renewed certificate, signed by the sender's identity key over a
// value bound to this session and to a counter, so that it cannot be replayed into another session or repeated in
// this one. The receiver verifies it as the handshake verifies certificates, and returns the facts it replaces.
import { hash as hashByName, signature as signatureByName } from "../crypto/registry.js";
import { verifyClientCertificate, verifyServerCertificate, type ClientTrust, type SigningIdentity, type TrustedFingerprints } from "./certificate.js";
import { ByteWriter, utf8 } from "./codec.js";
import { REAUTH_CONTEXT, TRANSCRIPT_HASH } from "./constants.js";
import { SessionError, SessionErrorCode, asSessionError } from "./errors.js";
import type { AuthenticatedClient, SessionInfo } from "./facts.js";
import { decodeReauthentication, encodeReauthentication } from "./messages.js";

/** Which end sends: part of the signed content, so that a re-authentication cannot be reflected to its sender. */
export type ReauthSender = "client" | "server";

const SENDER_BYTE: Record<ReauthSender, number> = { client: 1, server: 2 };
const signingContext = utf8(REAUTH_CONTEXT);

/** SHA3-256(label ‖ sender ‖ reauth_context ‖ counter ‖ SHA3-256(certificate)): what the identity key signs. */
export function reauthSignedContent(sender: ReauthSender, reauthContext: Uint8Array, counter: number, certificate: Uint8Array): Uint8Array {
  const hash = hashByName(TRANSCRIPT_HASH);
  const body = new ByteWriter()
    .raw(signingContext)
    .u8(SENDER_BYTE[sender])
    .raw(reauthContext)
    .u64(counter)
    .raw(hash.digest(certificate))
    .finish();
  return hash.digest(body);
}

/** Builds the encoded re-authentication message: `identity` must be the key the certificate is for. */
export function sealReauthentication(sender: ReauthSender, reauthContext: Uint8Array, counter: number, certificate: Uint8Array, identity: SigningIdentity): Uint8Array {
  const content = reauthSignedContent(sender, reauthContext, counter, certificate);
  const signature = signatureByName(identity.algorithm).sign(content, identity.secretKey, signingContext);
  return encodeReauthentication({ counter, certificate, signature });
}

/** What a receiver needs to judge a re-authentication. */
export interface ReauthState {
  readonly reauthContext: Uint8Array;
  /** The highest counter accepted so far from this peer (0 before the first). */
  readonly lastCounter: number;
  readonly info: SessionInfo;
  readonly now: number;
}

function refused(message: string): SessionError {
  return new SessionError(SessionErrorCode.ReauthRefused, `re-authentication refused: ${message}`);
}

/** Decodes and checks the counter; the certificate and signature are the caller's to check. */
function decodeChecked(bytes: Uint8Array, state: ReauthState) {
  let message;
  try {
    message = decodeReauthentication(bytes);
  } catch (error) {
    throw refused(`the message is malformed (${error instanceof Error ? error.message : String(error)})`);
  }
  if (message.counter <= state.lastCounter) throw refused(`counter ${message.counter} is not above the last accepted (${state.lastCounter}): a replay`);
  return message;
}

function verifySignature(sender: ReauthSender, state: ReauthState, counter: number, certificate: Uint8Array, signature: Uint8Array, algorithm: string, publicKey: Uint8Array): void {
  let ok = false;
  try {
    ok = signatureByName(algorithm).verify(signature, reauthSignedContent(sender, state.reauthContext, counter, certificate), publicKey, signingContext);
  } catch (error) {
    throw asSessionError(error, SessionErrorCode.ReauthRefused, "re-authentication refused: its signature could not be checked");
  }
  if (!ok) throw refused("the signature does not verify under the certificate's key for this session");
}

/**
 * A server judges a client's renewed certificate: trusted and valid now as at the handshake, for the same subject key
 * (so the same fingerprint) and the same `id` claim, outlasting the current certificate, and signed by that key over
 * this session's re-authentication content. Returns the client facts that replace the current ones.
 */
export function acceptClientReauthentication(
  bytes: Uint8Array,
  state: ReauthState,
  trust: ClientTrust | undefined,
  acceptedSignatures: readonly string[],
): { counter: number; client: AuthenticatedClient } {
  const current = state.info.client;
  if (current === undefined) throw refused("this session's client did not authenticate, so it has no certificate to renew");
  const message = decodeChecked(bytes, state);
  let certificate;
  try {
    certificate = verifyClientCertificate(message.certificate, trust ?? {}, state.now);
  } catch (error) {
    throw refused(`the renewed certificate is not accepted (${error instanceof Error ? error.message : String(error)})`);
  }
  if (certificate.fingerprint !== current.fingerprint) {
    throw refused(`the renewed certificate is for \`${certificate.fingerprint}\`, not this session's client \`${current.fingerprint}\``);
  }
  if (current.claims.id !== undefined && certificate.claims.id !== current.claims.id) throw refused("the renewed certificate names another client `id`");
  for (const algorithm of new Set([certificate.issuerAlgorithm, certificate.subjectAlgorithm])) {
    if (!acceptedSignatures.includes(algorithm)) throw refused(`the renewed certificate uses \`${algorithm}\`, which this server does not accept`);
  }
  if (current.notAfter !== undefined && certificate.notAfter <= current.notAfter) throw refused("the renewed certificate does not outlast the current one");
  verifySignature("client", state, message.counter, message.certificate, message.signature, certificate.subjectAlgorithm, certificate.subjectPublicKey);
  return { counter: message.counter, client: { fingerprint: certificate.fingerprint, claims: certificate.claims, notAfter: certificate.notAfter } };
}

/**
 * A client judges the server's renewed certificate (for example after a key rotation): signed by the same pinned
 * identity as the session's, valid now, outlasting the current one, and the re-authentication signed by that identity
 * over this session's content. The static KEM key may change: it serves later handshakes, not this session.
 */
export function acceptServerReauthentication(
  bytes: Uint8Array,
  state: ReauthState,
  trustedServers: TrustedFingerprints,
): { counter: number; peerNotAfter: number; peerLabel: string | undefined; peerFingerprint: string; signature: string } {
  const message = decodeChecked(bytes, state);
  let certificate;
  try {
    certificate = verifyServerCertificate(message.certificate, trustedServers, state.now);
  } catch (error) {
    throw refused(`the renewed server certificate is not accepted (${error instanceof Error ? error.message : String(error)})`);
  }
  // Another identity is a key rotation: accepted only when this client already trusts the new key (pinned, or endorsed
  // by a trusted key through a trust list; checked above). The message comes inside this session, sealed with its
  // keys, and is signed by the new key over this session's context: the same server proves it holds the new key.
  const rotated = certificate.fingerprint !== state.info.peerFingerprint;
  if (!rotated && certificate.signature !== state.info.suite.signature) {
    throw refused(`the renewed certificate's identity signs with \`${certificate.signature}\`, not the session's \`${state.info.suite.signature}\``);
  }
  if (!rotated && state.info.peerNotAfter !== undefined && certificate.notAfter <= state.info.peerNotAfter) throw refused("the renewed certificate does not outlast the current one");
  verifySignature("server", state, message.counter, message.certificate, message.signature, certificate.signature, certificate.identityPublicKey);
  return {
    counter: message.counter,
    peerNotAfter: certificate.notAfter,
    peerLabel: certificate.label === "" ? undefined : certificate.label,
    peerFingerprint: certificate.fingerprint,
    signature: certificate.signature,
  };
}
