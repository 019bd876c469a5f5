// Handshake messages of session v1 and their byte layouts (see docs/protocol.md): ClientHello, ServerHello,
// ClientFinished, ServerFinished, and the in-session Reauthentication. Decoders check every length and refuse trailing bytes.
import { ByteReader, ByteWriter } from "./codec.js";
import { HELLO_NONCE_BYTES, MAX_HANDSHAKE_MESSAGE_BYTES, MAX_OFFERED_ALGORITHMS, PROTOCOL_VERSION } from "./constants.js";
import { SessionError, SessionErrorCode } from "./errors.js";

export const HandshakeType = { clientHello: 1, serverHello: 2, clientFinished: 3, serverFinished: 4, reauthentication: 5 } as const;
export type HandshakeType = (typeof HandshakeType)[keyof typeof HandshakeType];

export interface Offer {
  readonly kem: readonly string[];
  readonly signature: readonly string[];
  readonly aead: readonly string[];
}

export interface KeyShare {
  readonly kem: string;
  readonly publicKey: Uint8Array;
}

export interface ClientHello {
  readonly nonce: Uint8Array;
  readonly offer: Offer;
  /** One ephemeral public key per offered KEM, in offer order: no HelloRetry round trip. */
  readonly shares: readonly KeyShare[];
}

export interface ServerHello {
  readonly nonce: Uint8Array;
  readonly kem: string;
  readonly signature: string;
  readonly aead: string;
  /** Digest of the offer as the server received it; the client compares it with what it sent. */
  readonly offerDigest: Uint8Array;
  /** Encapsulation to the client's ephemeral key of the chosen KEM. */
  readonly ciphertext: Uint8Array;
  readonly certificate: Uint8Array;
}

export interface ClientFinished {
  /** Encapsulation to the server's certified static KEM key. */
  readonly ciphertext: Uint8Array;
  /** AEAD-sealed client certificate and signature; empty when the client does not authenticate. */
  readonly clientAuth: Uint8Array;
  readonly mac: Uint8Array;
}

export interface ServerFinished {
  readonly mac: Uint8Array;
}

/** The offer's canonical encoding: the bytes whose digest the ServerHello echoes. */
export function encodeOffer(offer: Offer): Uint8Array {
  return new ByteWriter().names(offer.kem).names(offer.signature).names(offer.aead).finish();
}

export function encodeClientHello(hello: ClientHello): Uint8Array {
  const writer = header(HandshakeType.clientHello).raw(hello.nonce).raw(encodeOffer(hello.offer)).u8(hello.shares.length);
  for (const share of hello.shares) writer.name(share.kem).bytes(share.publicKey);
  return writer.finish();
}

export function decodeClientHello(bytes: Uint8Array): ClientHello {
  const reader = open(bytes, HandshakeType.clientHello, "client hello");
  const nonce = reader.raw(HELLO_NONCE_BYTES);
  const offer = { kem: reader.names(MAX_OFFERED_ALGORITHMS), signature: reader.names(MAX_OFFERED_ALGORITHMS), aead: reader.names(MAX_OFFERED_ALGORITHMS) };
  const count = reader.u8();
  const shares: KeyShare[] = [];
  for (let i = 0; i < count; i++) shares.push({ kem: reader.name(), publicKey: reader.bytes(MAX_HANDSHAKE_MESSAGE_BYTES) });
  reader.end();
  const sameKems = shares.length === offer.kem.length && shares.every((share, i) => share.kem === offer.kem[i]);
  if (!sameKems) malformed("client hello", "key shares do not match the offered KEMs");
  return { nonce, offer, shares };
}

export function encodeServerHello(hello: ServerHello): Uint8Array {
  return header(HandshakeType.serverHello)
    .raw(hello.nonce)
    .name(hello.kem)
    .name(hello.signature)
    .name(hello.aead)
    .bytes(hello.offerDigest)
    .bytes(hello.ciphertext)
    .bytes(hello.certificate)
    .finish();
}

export function decodeServerHello(bytes: Uint8Array): ServerHello {
  const reader = open(bytes, HandshakeType.serverHello, "server hello");
  const hello = {
    nonce: reader.raw(HELLO_NONCE_BYTES),
    kem: reader.name(),
    signature: reader.name(),
    aead: reader.name(),
    offerDigest: reader.bytes(MAX_HANDSHAKE_MESSAGE_BYTES),
    ciphertext: reader.bytes(MAX_HANDSHAKE_MESSAGE_BYTES),
    certificate: reader.bytes(MAX_HANDSHAKE_MESSAGE_BYTES),
  };
  reader.end();
  return hello;
}

/** Everything of the ClientFinished before its MAC: the MAC covers the transcript up to here. */
export function encodeClientFinishedBody(ciphertext: Uint8Array, clientAuth: Uint8Array): Uint8Array {
  return header(HandshakeType.clientFinished).bytes(ciphertext).bytes(clientAuth).finish();
}

export function decodeClientFinished(bytes: Uint8Array, macLength: number): { message: ClientFinished; body: Uint8Array } {
  const reader = open(bytes, HandshakeType.clientFinished, "client finished");
  const ciphertext = reader.bytes(MAX_HANDSHAKE_MESSAGE_BYTES);
  const clientAuth = reader.bytes(MAX_HANDSHAKE_MESSAGE_BYTES);
  const body = reader.consumed();
  const mac = reader.raw(macLength);
  reader.end();
  return { message: { ciphertext, clientAuth, mac }, body };
}

export function encodeServerFinished(mac: Uint8Array): Uint8Array {
  return header(HandshakeType.serverFinished).raw(mac).finish();
}

export function decodeServerFinished(bytes: Uint8Array, macLength: number): ServerFinished {
  const reader = open(bytes, HandshakeType.serverFinished, "server finished");
  const mac = reader.raw(macLength);
  reader.end();
  return { mac };
}

/** A renewed certificate, sent sealed inside an established session (docs/protocol.md, Re-authentication). */
export interface Reauthentication {
  /** 1 for the sender's first re-authentication in this session, then one more each time. */
  readonly counter: number;
  readonly certificate: Uint8Array;
  /** The sender's identity signature over the re-authentication's signed content. */
  readonly signature: Uint8Array;
}

export function encodeReauthentication(message: Reauthentication): Uint8Array {
  return header(HandshakeType.reauthentication).u64(message.counter).bytes(message.certificate).bytes(message.signature).finish();
}

export function decodeReauthentication(bytes: Uint8Array): Reauthentication {
  const reader = open(bytes, HandshakeType.reauthentication, "re-authentication");
  const message = { counter: reader.u64(), certificate: reader.bytes(MAX_HANDSHAKE_MESSAGE_BYTES), signature: reader.bytes(MAX_HANDSHAKE_MESSAGE_BYTES) };
  reader.end();
  return message;
}

/** The type byte of a handshake message, or undefined when it is empty. */
export function handshakeTypeOf(bytes: Uint8Array): number | undefined {
  return bytes[0];
}

function header(type: HandshakeType): ByteWriter {
  return new ByteWriter().u8(type).u8(PROTOCOL_VERSION);
}

function open(bytes: Uint8Array, type: HandshakeType, what: string): ByteReader {
  if (bytes.length > MAX_HANDSHAKE_MESSAGE_BYTES) {
    throw new SessionError(SessionErrorCode.FrameTooLarge, `${what} of ${bytes.length} bytes exceeds ${MAX_HANDSHAKE_MESSAGE_BYTES}`);
  }
  const reader = new ByteReader(bytes, what);
  if (reader.u8() !== type) malformed(what, "unexpected message type");
  const version = reader.u8();
  if (version !== PROTOCOL_VERSION) malformed(what, `protocol version ${version} (this peer speaks ${PROTOCOL_VERSION})`);
  return reader;
}

function malformed(what: string, detail: string): never {
  throw new SessionError(SessionErrorCode.MalformedHandshake, `malformed ${what}: ${detail}`);
}
