// Re-authentication for a long-running client: watches its certificate file and, when a renewed certificate for the
// same key appears, hands it on (the bridge re-authenticates the live session and uses it for later handshakes).
import type { Logger } from "pino";
import { checkCertificateKey, loadClientCertificate } from "../identity/certificate-files.js";

/**
 * How often the certificate file is read again. Certificates are renewed well before their not-after (minutes to
 * hours ahead); one small file read a minute finds a renewal in time at no measurable cost.
 */
export const CERTIFICATE_RECHECK_MS = 60_000;

export interface CertificateRenewalOptions {
  readonly path: string;
  /** The client's identity: a certificate for another key is not a renewal. */
  readonly identity: { readonly algorithm: string; readonly publicKey: Uint8Array };
  /** The not-after of the certificate in use (epoch ms): only a later one is a renewal. */
  readonly notAfter: number;
  /** Called with the renewed certificate's bytes and not-after, once per renewal. */
  readonly onRenewed: (certificate: Uint8Array, notAfter: number) => void;
  readonly logger?: Logger;
  readonly intervalMs?: number;
}

/** Reads the certificate file every `intervalMs` (unref'd) until stopped; `check()` reads it at once. */
export class CertificateRenewal {
  #notAfter: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: CertificateRenewalOptions) {
    this.#notAfter = options.notAfter;
  }

  start(): void {
    this.#timer = setInterval(() => void this.check(), this.options.intervalMs ?? CERTIFICATE_RECHECK_MS);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Whether the file now holds a renewal (which was then handed on); a file that cannot be used is logged and kept waiting. */
  async check(): Promise<boolean> {
    let certificate;
    try {
      certificate = await loadClientCertificate(this.options.path);
      checkCertificateKey(certificate, this.options.identity);
    } catch (error) {
      this.options.logger?.warn({ path: this.options.path }, `the certificate file cannot be used for a renewal: ${error instanceof Error ? error.message : String(error)}`);
      return false;
    }
    if (certificate.notAfter <= this.#notAfter) return false;
    this.#notAfter = certificate.notAfter;
    this.options.onRenewed(certificate.bytes, certificate.notAfter);
    return true;
  }
}
