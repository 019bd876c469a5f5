// How session bytes ride inside JSON-RPC. Each envelope keeps the routing shape of what it carries (request,
// notification or response, with the same id), so transports that route by shape (Streamable HTTP puts a response on
// the stream of its request) carry sealed traffic as they would plaintext; stdio and in-memory carry it unchanged.
import { LATEST_PROTOCOL_VERSION, type JSONRPCMessage, type RequestId } from "@modelcontextprotocol/sdk/types.js";
import { MAX_HANDSHAKE_MESSAGE_BYTES } from "../session/constants.js";
import { SessionError, SessionErrorCode } from "../session/errors.js";

/** Method of sealed requests and notifications, and the key of a sealed frame in `params` or `result`. */
export const SEALED_METHOD = "pqguard/sealed";
/** Method of the ClientFinished request, and the key of handshake bytes in `params` or `result`. */
export const HANDSHAKE_METHOD = "pqguard/handshake";

/** The handshake's two round trips are requests with these ids, answered by responses with the same ids. */
export const HandshakeStep = { hello: "pqguard/hello", finished: "pqguard/finished" } as const;
export type HandshakeStep = (typeof HandshakeStep)[keyof typeof HandshakeStep];

/** The one notification whose method stays visible: Streamable HTTP clients open their event stream after it. */
const INITIALIZED = "notifications/initialized";

export type Envelope =
  | { readonly kind: "handshake"; readonly bytes: Uint8Array; readonly id: RequestId | undefined }
  | { readonly kind: "sealed"; readonly frame: string; readonly route: Route }
  | { readonly kind: "plain" };

/** What the outer message showed: the sealed message inside must match it (a request or response with this id, a method). */
export type Route = { readonly id: RequestId; readonly request: boolean } | { readonly method: string } | undefined;

/** A message's id, treating JSON-RPC's `null` id (an error about an unreadable request) as none. */
const idOf = (message: JSONRPCMessage): RequestId | undefined => {
  const id = (message as { id?: RequestId | null }).id;
  return id === null ? undefined : id;
};

const base64url = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");

/**
 * A handshake message the client sends. The hello is shaped as an MCP `initialize` request (the handshake is what
 * initialises the connection), so HTTP front ends that open a session on `initialize` open one for it.
 */
export function handshakeRequest(step: HandshakeStep, bytes: Uint8Array): JSONRPCMessage {
  const payload = { [HANDSHAKE_METHOD]: base64url(bytes) };
  if (step === HandshakeStep.finished) return { jsonrpc: "2.0", id: step, method: HANDSHAKE_METHOD, params: payload };
  return {
    jsonrpc: "2.0",
    id: step,
    method: "initialize",
    params: { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: "pqguard-session", version: "1" }, ...payload },
  };
}

/** A handshake message the server sends: the response to the client's request of the same step. */
export function handshakeResponse(step: HandshakeStep, bytes: Uint8Array): JSONRPCMessage {
  return { jsonrpc: "2.0", id: step, result: { [HANDSHAKE_METHOD]: base64url(bytes) } };
}

/** A sealed frame in the routing shape of `carried` (the message sealed in it); control frames travel as notifications. */
export function sealedEnvelope(frame: string, carried?: JSONRPCMessage): JSONRPCMessage {
  const payload = { [SEALED_METHOD]: frame };
  if (carried !== undefined) {
    const id = idOf(carried);
    const hasId = id !== undefined;
    if ("method" in carried) {
      if (hasId) return { jsonrpc: "2.0", id, method: SEALED_METHOD, params: payload };
      if (carried.method === INITIALIZED) return { jsonrpc: "2.0", method: INITIALIZED, params: payload };
    } else if (hasId) {
      return { jsonrpc: "2.0", id, result: payload };
    }
  }
  return { jsonrpc: "2.0", method: SEALED_METHOD, params: payload };
}

/** The route a sealed message must match: the outer id (requests, responses) or visible method. */
function routeOf(message: JSONRPCMessage): Route {
  const id = idOf(message);
  if (id !== undefined) return { id, request: "method" in message };
  if ("method" in message && message.method !== SEALED_METHOD) return { method: message.method };
  return undefined;
}

const maxHandshakeText = Math.ceil(MAX_HANDSHAKE_MESSAGE_BYTES / 3) * 4;

/** Sorts an inbound message into handshake, sealed frame, or plaintext (which a session never accepts). */
export function openEnvelope(message: JSONRPCMessage): Envelope {
  const body = ("method" in message ? message.params : "result" in message ? message.result : undefined) as Record<string, unknown> | undefined;
  if (typeof body !== "object" || body === null) return { kind: "plain" };
  if (Object.hasOwn(body, SEALED_METHOD)) {
    const frame = body[SEALED_METHOD];
    if (typeof frame !== "string") throw new SessionError(SessionErrorCode.TruncatedFrame, "a sealed frame message carries no frame");
    return { kind: "sealed", frame, route: routeOf(message) };
  }
  if (Object.hasOwn(body, HANDSHAKE_METHOD)) {
    const text = body[HANDSHAKE_METHOD];
    if (typeof text !== "string") throw new SessionError(SessionErrorCode.MalformedHandshake, "a handshake message carries no bytes");
    if (text.length > maxHandshakeText) {
      throw new SessionError(SessionErrorCode.FrameTooLarge, `a handshake message of about ${Math.floor((text.length * 3) / 4)} bytes exceeds ${MAX_HANDSHAKE_MESSAGE_BYTES}`);
    }
    return { kind: "handshake", bytes: new Uint8Array(Buffer.from(text, "base64url")), id: idOf(message) };
  }
  return { kind: "plain" };
}

/** Whether a sealed message matches the route its envelope showed; a mismatch means the envelope was rewritten. */
export function matchesRoute(route: Route, message: JSONRPCMessage): boolean {
  const id = idOf(message);
  if (route === undefined) return id === undefined && !("method" in message && message.method === INITIALIZED);
  if ("id" in route) return id === route.id && "method" in message === route.request;
  return "method" in message && message.method === route.method && id === undefined;
}

/** The base64url payload of an envelope (handshake or sealed), for tests and diagnostics; undefined for plaintext. */
export function envelopePayload(message: JSONRPCMessage): string | undefined {
  const body = ("method" in message ? message.params : "result" in message ? message.result : undefined) as Record<string, unknown> | undefined;
  const value = body?.[SEALED_METHOD] ?? body?.[HANDSHAKE_METHOD];
  return typeof value === "string" ? value : undefined;
}

/** The same envelope with its payload replaced (tests that tamper with the wire). */
export function withEnvelopePayload(message: JSONRPCMessage, payload: string): JSONRPCMessage {
  const inParams = "method" in message;
  const body = { ...((inParams ? message.params : (message as { result: object }).result) as Record<string, unknown>) };
  body[Object.hasOwn(body, SEALED_METHOD) ? SEALED_METHOD : HANDSHAKE_METHOD] = payload;
  return (inParams ? { ...message, params: body } : { ...message, result: body }) as JSONRPCMessage;
}
