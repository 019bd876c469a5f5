// The certificate expiry check: a session's facts are believed only while every certificate they rest on is valid.
import type { SessionView } from "../context.js";

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
