// Minimal DER framing for the fixed PKCS#8/SPKI envelopes node:crypto needs to import raw keys.
// Only encodes known structures (lengths and tags); it never parses untrusted DER.

function derLength(length: number): Uint8Array {
  if (length < 0x80) return Uint8Array.of(length);
  if (length < 0x100) return Uint8Array.of(0x81, length);
  return Uint8Array.of(0x82, length >> 8, length & 0xff);
}

/** One tag-length-value element. Lengths above 65535 never occur in the envelopes we build. */
export function tlv(tag: number, ...content: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const part of content) total += part.length;
  const header = derLength(total);
  const out = new Uint8Array(1 + header.length + total);
  out[0] = tag;
  out.set(header, 1);
  let offset = 1 + header.length;
  for (const part of content) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export const DER_SEQUENCE = 0x30;
export const DER_OCTET_STRING = 0x04;
export const DER_BIT_STRING = 0x03;
/** `[0] IMPLICIT OCTET STRING`: the seed choice of an ML-KEM/ML-DSA private key (draft-ietf-lamps-*-certificates). */
export const DER_CONTEXT_0 = 0x80;
const DER_VERSION_0 = Uint8Array.of(0x02, 0x01, 0x00);

/** OneAsymmetricKey (PKCS#8 v1) around `privateKey`, for the algorithm identified by `algorithmIdentifier`. */
export function pkcs8(algorithmIdentifier: Uint8Array, privateKey: Uint8Array): Uint8Array {
  return tlv(DER_SEQUENCE, DER_VERSION_0, algorithmIdentifier, tlv(DER_OCTET_STRING, privateKey));
}

/** SubjectPublicKeyInfo around raw public key bytes. */
export function spki(algorithmIdentifier: Uint8Array, publicKey: Uint8Array): Uint8Array {
  return tlv(DER_SEQUENCE, algorithmIdentifier, tlv(DER_BIT_STRING, Uint8Array.of(0), publicKey));
}

/** AlgorithmIdentifier with an encoded OID and no parameters (as ML-KEM, ML-DSA and X25519 require). */
export function algorithmIdentifier(oid: Uint8Array): Uint8Array {
  return tlv(DER_SEQUENCE, tlv(0x06, oid));
}
