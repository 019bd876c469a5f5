// The key schedule of session v1: one HKDF extract over both KEM secrets salted with the transcript,
// then labelled expansions for the client-auth key, the Finished MAC keys, the traffic secrets and the session id.
import type { Aead, Hash, Kdf } from "../crypto/types.js";
import { concat, toHex, utf8 } from "./codec.js";
import { LABEL, SESSION_ID_BYTES } from "./constants.js";

/**
 * Transcript hash: H(H(m1) ‖ … ‖ H(mk)). Each message is hashed once (the certificate-bearing ServerHello is
 * the bulk of the transcript, and the schedule needs five transcript values); fixed-length digests keep the
 * boundaries unambiguous.
 */
export class Transcript {
  private readonly digests: Uint8Array[] = [];
  constructor(private readonly hash: Hash) {}

  add(message: Uint8Array): this {
    this.digests.push(this.hash.digest(message));
    return this;
  }

  /** Digest of everything added so far, plus `extra` (a message being built) without keeping it. */
  digest(extra?: Uint8Array): Uint8Array {
    if (extra === undefined) return this.hash.digest(concat(...this.digests));
    return this.hash.digest(concat(...this.digests, this.hash.digest(extra)));
  }
}

export interface TrafficSecrets {
  readonly clientToServer: Uint8Array;
  readonly serverToClient: Uint8Array;
  readonly sessionId: string;
  /** Secret to both ends and unique to this session: what a re-authentication signature binds to. */
  readonly reauthContext: Uint8Array;
}

const labels = Object.fromEntries(Object.entries(LABEL).map(([k, v]) => [k, utf8(v)])) as Record<keyof typeof LABEL, Uint8Array>;

export class KeySchedule {
  private readonly prk: Uint8Array;

  /**
   * `salt` is the transcript hash through the ServerHello; `ephemeralSecret` gives forward secrecy and
   * `staticSecret` (to the certified server key) authenticates the server: both feed one extract.
   */
  constructor(
    private readonly kdf: Kdf,
    private readonly aead: Aead,
    salt: Uint8Array,
    ephemeralSecret: Uint8Array,
    staticSecret: Uint8Array,
  ) {
    const ikm = concat(ephemeralSecret, staticSecret);
    this.prk = kdf.extract(salt, ikm);
    ikm.fill(0);
  }

  private expand(label: Uint8Array, context: Uint8Array, length: number): Uint8Array {
    return this.kdf.expand(this.prk, concat(label, context), length);
  }

  /** Key for sealing the client's certificate and proof, used once with an all-zero nonce. */
  clientAuthKey(transcript: Uint8Array): Uint8Array {
    return this.expand(labels.clientAuthKey, transcript, this.aead.keyLength);
  }

  clientFinishedMac(transcript: Uint8Array): Uint8Array {
    const key = this.expand(labels.clientFinished, new Uint8Array(0), this.kdf.hashLength);
    return this.kdf.hmac(key, transcript);
  }

  serverFinishedMac(transcript: Uint8Array): Uint8Array {
    const key = this.expand(labels.serverFinished, new Uint8Array(0), this.kdf.hashLength);
    return this.kdf.hmac(key, transcript);
  }

  traffic(transcript: Uint8Array): TrafficSecrets {
    const master = this.expand(labels.master, transcript, this.kdf.hashLength);
    const secrets = {
      clientToServer: this.kdf.expand(master, labels.clientToServer, this.kdf.hashLength),
      serverToClient: this.kdf.expand(master, labels.serverToClient, this.kdf.hashLength),
      sessionId: toHex(this.kdf.expand(master, labels.sessionId, SESSION_ID_BYTES)),
      reauthContext: this.kdf.expand(master, labels.reauth, this.kdf.hashLength),
    };
    master.fill(0);
    return secrets;
  }

  wipe(): void {
    this.prk.fill(0);
  }
}

/** Per-epoch record key and IV from a traffic secret, and the next epoch's secret (the in-band rekey ratchet). */
export function recordKey(kdf: Kdf, aead: Aead, secret: Uint8Array): { key: Uint8Array; iv: Uint8Array } {
  return { key: kdf.expand(secret, labels.key, aead.keyLength), iv: kdf.expand(secret, labels.iv, aead.nonceLength) };
}

export function nextSecret(kdf: Kdf, secret: Uint8Array): Uint8Array {
  return kdf.expand(secret, labels.next, kdf.hashLength);
}
