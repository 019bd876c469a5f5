// Renewing a short-lived client certificate before it expires: the same key, the same claims and the same lifetime,
// signed again by its issuer. `pqguard connect --issuer-key` runs this on a timer (docs/keys.md, "Renewing").
import { ClientCertificateError, ClientCertificateErrorCode, certifyClient, checkCertificateKey, type LoadedClientCertificate } from "./certificate-files.js";
import type { Identity } from "./keys.js";

/** Renew when this share of the lifetime is left: a day-long certificate is renewed with 8 hours to go. */
export const RENEW_WHEN_LEFT = 1 / 3;

/** When `certificate` should be renewed, epoch ms: with `before` ms left, or a third of its lifetime by default. */
export function renewalTime(certificate: Pick<LoadedClientCertificate, "notBefore" | "notAfter">, before?: number): number {
  const lifetime = certificate.notAfter - certificate.notBefore;
  return certificate.notAfter - (before ?? Math.floor(lifetime * RENEW_WHEN_LEFT));
}

/**
 * A new certificate for the same subject key and claims, with the same lifetime from `now`, signed by `issuer`. The
 * issuer must be the one that signed the current certificate: a renewal does not move a client to another issuer.
 */
export function renewClientCertificate(current: LoadedClientCertificate, issuer: Identity, subject: Identity, now: number): Uint8Array {
  checkCertificateKey(current, subject);
  if (issuer.keyId !== current.issuerFingerprint) {
    throw new ClientCertificateError(ClientCertificateErrorCode.NotIssuable, `the certificate was issued by \`${current.issuerFingerprint}\`, not by the given issuer key \`${issuer.keyId}\``);
  }
  return certifyClient({
    issuer,
    subject: { algorithm: subject.algorithm, publicKey: subject.publicKey },
    claims: current.claims,
    lifetimeMs: current.notAfter - current.notBefore,
    now,
  });
}
