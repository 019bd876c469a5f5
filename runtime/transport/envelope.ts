// How session bytes ride inside JSON-RPC: handshake messages and sealed frames are notifications with one
// base64url field, so stdio, Streamable HTTP and in-memory transports carry them unchanged.
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { MAX_HANDSHAKE_MESSAGE_BYTES } from "../session/constants.js";
import { SessionError, SessionErrorCode } from "../session/errors.js";

export const HANDSHAKE_METHOD = "pqguard/handshake";
export const SEALED_METHOD = "pqguard/sealed";

export type Envelope =
  | { readonly kind: "handshake"; readonly bytes: Uint8Array }
  | { readonly kind: "sealed"; readonly frame: string }
  | { readonly kind: "plain" };

export function handshakeEnvelope(bytes: Uint8Array): JSONRPCMessage {
  return { jsonrpc: "2.0", method: HANDSHAKE_METHOD, params: { m: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url") } };
}

export function sealedEnvelope(frame: string): JSONRPCMessage {
  return { jsonrpc: "2.0", method: SEALED_METHOD, params: { f: frame } };
}

const maxHandshakeText = Math.ceil(MAX_HANDSHAKE_MESSAGE_BYTES / 3) * 4;

/** Sorts an inbound message into handshake, sealed frame, or plaintext (which a session never accepts). */
export function openEnvelope(message: JSONRPCMessage): Envelope {
  if (!("method" in message) || "id" in message) return { kind: "plain" };
  const params = message.params as Record<string, unknown> | undefined;
  if (message.method === SEALED_METHOD) {
    const frame = params?.f;
    if (typeof frame !== "string") throw new SessionError(SessionErrorCode.TruncatedFrame, "a sealed frame notification carries no frame");
    return { kind: "sealed", frame };
  }
  if (message.method === HANDSHAKE_METHOD) {
    const text = params?.m;
    if (typeof text !== "string") throw new SessionError(SessionErrorCode.MalformedHandshake, "a handshake notification carries no message");
    if (text.length > maxHandshakeText) {
      throw new SessionError(SessionErrorCode.FrameTooLarge, `a handshake message of about ${Math.floor((text.length * 3) / 4)} bytes exceeds ${MAX_HANDSHAKE_MESSAGE_BYTES}`);
    }
    return { kind: "handshake", bytes: new Uint8Array(Buffer.from(text, "base64url")) };
  }
  return { kind: "plain" };
}
