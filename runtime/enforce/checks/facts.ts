// The session-facts stage: a call is decided only while every fact it rests on still holds: the certificates the
// session was authenticated with are within their not-after, and the signed manifest is for this server and unexpired.
import { manifestBindingProblem, type VerifiedManifest } from "../../manifest/signed.js";
import type { SessionView } from "../context.js";
import { EnforceErrorCode } from "../errors.js";

/** Why nothing may be decided on this session now, with its code; undefined when the facts hold. */
export interface StaleFacts {
  readonly code: typeof EnforceErrorCode.CertificateExpired | typeof EnforceErrorCode.ManifestWrongServer | typeof EnforceErrorCode.ManifestExpired;
  readonly reason: string;
}

/**
 * The stage, in one call: certificate expiry (PQG7314), then the manifest's server binding (PQG7315), then the
 * manifest's expiry (PQG7316). Checked before the guard and again after an approval (time passed meanwhile).
 */
export function staleFacts(session: SessionView, manifest: VerifiedManifest | undefined, now: number): StaleFacts | undefined {
  const expired = expiredCertificate(session, now);
  if (expired !== undefined) return { code: EnforceErrorCode.CertificateExpired, reason: expired };
  const unbound = manifestBindingProblem(manifest, session.info?.peerFingerprint);
  if (unbound !== undefined) return { code: EnforceErrorCode.ManifestWrongServer, reason: unbound };
  // Checked at load, and at every call: a process may run past the manifest's expiry, as a session past its certificate's.
  if (manifest !== undefined && now >= manifest.expiresAt) {
    return { code: EnforceErrorCode.ManifestExpired, reason: `the signed manifest expired at ${new Date(manifest.expiresAt).toISOString()}: have the tool list reviewed and signed again` };
  }
  return undefined;
}

/**
 * Why nothing may be decided on this session at `now`, or undefined: the client certificate (its claims are the
 * `client.*` facts) or the server certificate (the `peer.*` facts) has reached its not-after. A session whose
 * certificate was renewed in time carries the renewed not-after (docs/protocol.md, Re-authentication).
 */
export function expiredCertificate(session: SessionView, now: number): string | undefined {
  const info = session.info;
  const client = info?.client?.notAfter;
  if (client !== undefined && now >= client) {
    return `the client certificate this session authenticated with expired at ${new Date(client).toISOString()} and was not renewed, so its facts are no longer believed`;
  }
  const server = info?.peerNotAfter;
  if (server !== undefined && now >= server) {
    return `the server certificate this session rests on expired at ${new Date(server).toISOString()} and was not renewed, so the session is no longer trusted`;
  }
  return undefined;
}
