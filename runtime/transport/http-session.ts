// One MCP session over Streamable HTTP, served straight from node:http's request and response and the body the
// endpoint has already read: a POST's answers go back as one JSON body, or as server-sent events once the server sends
// more than the answers (progress, an elicitation); the client's event stream (GET) carries the rest, held until open.
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Transport, TransportSendOptions } from "@modelcontextprotocol/sdk/shared/transport.js";
import { SUPPORTED_PROTOCOL_VERSIONS, type JSONRPCMessage, type MessageExtraInfo, type RequestId } from "@modelcontextprotocol/sdk/types.js";
import { SessionError, SessionErrorCode } from "../session/errors.js";
import { isJsonRpcMessage } from "./message-shape.js";

/** At most this many server messages wait for the client's event stream. */
export const MAX_HELD_MESSAGES = 1024;
/**
 * And at most this many bytes of them (their JSON text). What waits is notifications and server requests, small as a
 * rule; without a byte limit a client that never opens its stream could make the server hold 1,024 frames of 8 MiB.
 */
export const MAX_HELD_BYTES = 4 * 1024 * 1024;
/**
 * A response stream whose client does not read may hold this many unsent bytes before the next message is refused and
 * the session fails: node:http buffers whatever is written, so a client that stops reading would otherwise grow the
 * server's memory without bound. One larger message is still written whole (a big tool result is legitimate).
 */
export const MAX_STREAM_BACKLOG_BYTES = 4 * 1024 * 1024;
/** A comment line on every open event stream this often, so that idle connections survive proxies (the SDK's default). */
export const SSE_KEEP_ALIVE_MS = 15_000;
/** Most messages in one POSTed batch (the SDK's limit). */
const MAX_BATCH = 100;

/** The headers of an event stream (`x-accel-buffering: no` keeps reverse proxies from holding events back). */
export const SSE_HEADERS = {
  "content-type": "text/event-stream",
  "cache-control": "no-cache, no-transform",
  connection: "keep-alive",
  "x-accel-buffering": "no",
} as const;

/** A refusal of one HTTP request; the session goes on. */
export class HttpRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
    readonly id: unknown = null,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

/** Answers an HTTP request with a refusal as a JSON-RPC error (the response itself, or its end when headers are out). */
export function refuse(res: ServerResponse, refusal: HttpRefusal): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(refusal.status, { "content-type": "application/json", ...refusal.headers });
  res.end(JSON.stringify({ jsonrpc: "2.0", id: refusal.id, error: { code: refusal.code, message: refusal.message } }));
}

/** One POST that carried requests: its response, and the answers still awaited. */
interface Exchange {
  readonly res: ServerResponse;
  readonly ids: RequestId[];
  /** Answers not yet sent. */
  waiting: number;
  /** Answers collected for a JSON body (until the exchange turns into an event stream). */
  readonly answers: JSONRPCMessage[];
  /** Server-sent events have begun: everything further is written at once. */
  streaming: boolean;
  done: boolean;
}

export interface HttpSessionTransportOptions {
  /** Called when an `initialize` (or a session hello) opens the session, with the id it was given. */
  readonly onsessioninitialized: (sessionId: string) => void;
  /** A buffer limit was passed (held messages, a stream's backlog): the session must fail, since a message cannot be dropped. */
  readonly overflow: (error: SessionError) => void;
  /**
   * How a POST's answers go back when nothing else was sent before them: as one JSON body (default: cheaper for the
   * client), or as server-sent events (as the SDK's transport does). Either is the protocol's; other messages always
   * turn the answer into events.
   */
  readonly answers?: "events" | "json";
}

export class HttpSessionTransport implements Transport {
  // Declared, not fields: enforcement turns `onmessage`/`onclose` of a transport it taps into accessors (enforce/tap.ts),
  // which on an own property made at construction leaves the object with slow (dictionary) properties.
  declare onclose?: (() => void) | undefined;
  declare onerror?: ((error: Error) => void) | undefined;
  declare onmessage?: (<T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void) | undefined;
  sessionId: string | undefined;

  /** Open POST exchanges by the id of each request they carry. */
  private readonly exchanges = new Map<RequestId, Exchange>();
  /** The client's event stream (its GET), while open. */
  private stream: ServerResponse | undefined;
  /** Messages for the event stream while it is not open; undefined once the session has failed or closed. */
  private held: JSONRPCMessage[] | undefined = [];
  private heldBytes = 0;
  private keepAlive: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: HttpSessionTransportOptions) {}

  start(): Promise<void> {
    this.keepAlive = setInterval(() => this.ping(), SSE_KEEP_ALIVE_MS);
    this.keepAlive.unref?.();
    return Promise.resolve();
  }

  /** Serves a POST whose body the endpoint has read and parsed; throws an HttpRefusal for a request it refuses. */
  handlePost(req: IncomingMessage, res: ServerResponse, body: unknown): void {
    const accept = req.headers.accept;
    if (accept === undefined || !accept.includes("application/json") || !accept.includes("text/event-stream")) {
      throw new HttpRefusal(406, -32000, "Not Acceptable: Client must accept both application/json and text/event-stream");
    }
    if (!isJsonContentType(req.headers["content-type"])) throw new HttpRefusal(415, -32000, "Unsupported Media Type: Content-Type must be application/json");
    const messages = Array.isArray(body) ? (body as unknown[]) : [body];
    if (messages.length > MAX_BATCH) throw new HttpRefusal(400, -32600, `Invalid Request: Batch must not exceed ${MAX_BATCH} messages`);
    if (!messages.every(isJsonRpcMessage)) throw new HttpRefusal(400, -32700, "Parse error: Invalid JSON-RPC message");
    if (this.closed) throw new HttpRefusal(404, -32001, "Session not found");
    const initialize = messages.some(isInitializeRequest);
    if (initialize) {
      if (this.sessionId !== undefined) throw new HttpRefusal(400, -32600, "Invalid Request: Server already initialized");
      if (messages.length > 1) throw new HttpRefusal(400, -32600, "Invalid Request: Only one initialization request is allowed");
      this.sessionId = randomUUID();
      this.options.onsessioninitialized(this.sessionId);
      // The endpoint may have refused the session a seat, and closed it.
      if (this.closed) throw new HttpRefusal(503, -32000, "the endpoint has no room for another session");
    } else {
      if (this.sessionId === undefined) throw new HttpRefusal(400, -32000, "Bad Request: Server not initialized");
      checkProtocolVersion(req);
    }
    const extra: MessageExtraInfo = { requestInfo: { headers: req.headers } };
    let requests = 0;
    for (const message of messages) if (isRequest(message)) requests += 1;
    if (requests === 0) {
      res.writeHead(202).end();
      for (const message of messages) this.deliver(message, extra);
      return;
    }
    const exchange: Exchange = { res, ids: [], waiting: requests, answers: [], streaming: false, done: false };
    for (const message of messages) {
      if (!isRequest(message)) continue;
      exchange.ids.push(message.id);
      this.exchanges.set(message.id, exchange);
    }
    // `on`, not `once` (a wrapper and its state per POST): abandoning an exchange a second time does nothing.
    res.on("close", () => this.abandonExchange(exchange));
    for (const message of messages) this.deliver(message, extra);
  }

  /** Serves the client's event stream; throws an HttpRefusal for a request it refuses. */
  handleGet(req: IncomingMessage, res: ServerResponse): void {
    const accept = req.headers.accept;
    if (accept === undefined || !accept.includes("text/event-stream")) throw new HttpRefusal(406, -32000, "Not Acceptable: Client must accept text/event-stream");
    checkProtocolVersion(req);
    if (this.closed) throw new HttpRefusal(404, -32001, "Session not found");
    if (this.stream !== undefined) throw new HttpRefusal(409, -32000, "Conflict: Only one SSE stream is allowed per session");
    res.writeHead(200, this.sseHeaders());
    res.flushHeaders();
    this.stream = res;
    res.once("close", () => {
      if (this.stream === res) this.stream = undefined;
    });
    // What waited for the stream goes out first, in order.
    const held = this.held ?? [];
    this.held = [];
    this.heldBytes = 0;
    for (const message of held) if (!this.write(res, message)) return;
  }

  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if (this.closed) return Promise.reject(new SessionError(SessionErrorCode.Closed, "the session is closed"));
    const answer = "result" in message || "error" in message;
    const requestId = answer ? (message as { id: RequestId }).id : options?.relatedRequestId;
    if (requestId === undefined) return this.sendStandalone(message);
    const exchange = this.exchanges.get(requestId);
    if (exchange === undefined) {
      // The POST was abandoned by its client, or this is no answer to any: as the SDK, an error for an answer.
      return answer ? Promise.reject(new Error(`No connection established for request ID: ${String(requestId)}`)) : Promise.resolve();
    }
    if (!answer) {
      if (!exchange.streaming) this.beginStream(exchange);
      return this.write(exchange.res, message) ? Promise.resolve() : Promise.reject(new SessionError(SessionErrorCode.EventStreamBacklog, "the client does not read its response stream"));
    }
    this.exchanges.delete(requestId);
    exchange.waiting -= 1;
    if (exchange.streaming) {
      if (!this.write(exchange.res, message)) return Promise.reject(new SessionError(SessionErrorCode.EventStreamBacklog, "the client does not read its response stream"));
    } else {
      exchange.answers.push(message);
    }
    if (exchange.waiting === 0) this.finish(exchange);
    return Promise.resolve();
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.held = undefined;
    clearInterval(this.keepAlive);
    this.stream?.end();
    this.stream = undefined;
    for (const exchange of new Set(this.exchanges.values())) {
      exchange.done = true;
      if (exchange.streaming) exchange.res.end();
      else refuse(exchange.res, new HttpRefusal(404, -32001, "Session not found"));
    }
    this.exchanges.clear();
    this.onclose?.();
    return Promise.resolve();
  }

  private deliver(message: JSONRPCMessage, extra: MessageExtraInfo): void {
    try {
      this.onmessage?.(message, extra);
    } catch (error) {
      this.onerror?.(error instanceof Error ? error : new Error(String(error)));
    }
  }

  private sendStandalone(message: JSONRPCMessage): Promise<void> {
    if ("result" in message || "error" in message) {
      return Promise.reject(new Error("Cannot send a response on a standalone SSE stream unless resuming a previous client request"));
    }
    if (this.stream !== undefined) {
      return this.write(this.stream, message) ? Promise.resolve() : Promise.reject(new SessionError(SessionErrorCode.EventStreamBacklog, "the client does not read its event stream"));
    }
    if (this.held === undefined) return Promise.resolve();
    const bytes = Buffer.byteLength(JSON.stringify(message));
    if (this.held.length >= MAX_HELD_MESSAGES || this.heldBytes + bytes > MAX_HELD_BYTES) {
      return this.overflow(
        new SessionError(
          SessionErrorCode.EventStreamBacklog,
          `more than ${MAX_HELD_MESSAGES} messages or ${MAX_HELD_BYTES} bytes wait for the client's event stream, which it has not opened: the session is closed`,
        ),
      );
    }
    this.held.push(message);
    this.heldBytes += bytes;
    return Promise.resolve();
  }

  /** Writes one event; false, having failed the session, when the stream's unsent bytes are past their limit. */
  private write(res: ServerResponse, message: JSONRPCMessage): boolean {
    if (res.writableLength > MAX_STREAM_BACKLOG_BYTES) {
      void this.overflow(
        new SessionError(SessionErrorCode.EventStreamBacklog, `more than ${MAX_STREAM_BACKLOG_BYTES} bytes wait for the client to read its event stream: the session is closed`),
      ).catch(() => undefined);
      return false;
    }
    res.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
    return true;
  }

  private overflow(error: SessionError): Promise<void> {
    this.held = undefined;
    // Not from inside the send: the session's close must not run while its sender is still sealing.
    queueMicrotask(() => this.options.overflow(error));
    return Promise.reject(error);
  }

  /** Turns a POST's answer into an event stream, with any answers collected so far as its first events. */
  private beginStream(exchange: Exchange): void {
    exchange.streaming = true;
    exchange.res.writeHead(200, this.sseHeaders());
    for (const answer of exchange.answers) exchange.res.write(`event: message\ndata: ${JSON.stringify(answer)}\n\n`);
    exchange.answers.length = 0;
  }

  private finish(exchange: Exchange): void {
    exchange.done = true;
    if (exchange.streaming) {
      exchange.res.end();
      return;
    }
    const answers = exchange.answers;
    if (this.options.answers === "events") {
      // As server-sent events, as the SDK's transport answers, but with their length: headers and events then go in one
      // write, not as a chunked body (a write of three buffers, and its terminating chunk).
      let events = "";
      for (const answer of answers) events += `event: message\ndata: ${JSON.stringify(answer)}\n\n`;
      const headers: Record<string, string | number> = this.sseHeaders();
      headers["content-length"] = Buffer.byteLength(events);
      exchange.res.writeHead(200, headers).end(events);
      return;
    }
    const body = JSON.stringify(answers.length === 1 ? answers[0] : answers);
    const headers: Record<string, string | number> = { "content-type": "application/json", "content-length": Buffer.byteLength(body) };
    if (this.sessionId !== undefined) headers["mcp-session-id"] = this.sessionId;
    exchange.res.writeHead(200, headers).end(body);
  }

  /** The client went away before every answer was sent: later answers to its requests have nowhere to go. */
  private abandonExchange(exchange: Exchange): void {
    if (exchange.done) return;
    exchange.done = true;
    for (const id of exchange.ids) if (this.exchanges.get(id) === exchange) this.exchanges.delete(id);
  }

  /** Keep-alive comments on the event stream and on answers still awaited (which become event streams for it). */
  private ping(): void {
    this.stream?.write(": keepalive\n\n");
    for (const exchange of new Set(this.exchanges.values())) {
      if (!exchange.streaming) this.beginStream(exchange);
      exchange.res.write(": keepalive\n\n");
    }
  }

  private sseHeaders(): Record<string, string> {
    return this.sessionId === undefined ? { ...SSE_HEADERS } : { ...SSE_HEADERS, "mcp-session-id": this.sessionId };
  }
}

function checkProtocolVersion(req: IncomingMessage): void {
  const version = req.headers["mcp-protocol-version"];
  if (version === undefined || (typeof version === "string" && SUPPORTED_PROTOCOL_VERSIONS.includes(version))) return;
  const text = String(version);
  throw new HttpRefusal(400, -32000, `Bad Request: Unsupported protocol version: ${text} (supported versions: ${SUPPORTED_PROTOCOL_VERSIONS.join(", ")})`);
}

/** Whether a Content-Type header names JSON (parameters, such as a charset, aside). */
export function isJsonContentType(header: string | undefined): boolean {
  if (header === "application/json") return true;
  return header !== undefined && header.split(";", 1)[0]!.trim().toLowerCase() === "application/json";
}

const isRequest = (message: JSONRPCMessage): message is JSONRPCMessage & { id: RequestId; method: string } =>
  "method" in message && "id" in message && (message as { id?: unknown }).id !== undefined;
const isInitializeRequest = (message: JSONRPCMessage): boolean => isRequest(message) && message.method === "initialize";
