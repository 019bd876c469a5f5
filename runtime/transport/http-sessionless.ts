// Streamable HTTP of the sessionless revision 2026-07-28 on our own listener: which POSTs are of that revision (their
// `_meta` envelope claims it), the checks of its mirrored headers (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`),
// and the transport of one such request: delivered once, answered as one JSON body, or as server-sent events when
// notifications of the request come first; closing the response is the request's cancellation.
import type { IncomingHttpHeaders, ServerResponse } from "node:http";
import type { Transport, TransportSendOptions } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage, MessageExtraInfo, RequestId } from "@modelcontextprotocol/sdk/types.js";
import { HttpRefusal, isJsonContentType, MAX_STREAM_BACKLOG_BYTES, SSE_HEADERS, SSE_KEEP_ALIVE_MS } from "./http-session.js";

/** Where a request of revision 2026-07-28 names its revision (the SDK's and the specification's key). */
const PROTOCOL_VERSION_META_KEY = "io.modelcontextprotocol/protocolVersion";
/** The revisions that have sessions (`initialize`): a request naming one of them in its header is not sessionless. */
const SESSION_REVISIONS: readonly string[] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];
/** JSON-RPC codes of revision 2026-07-28: a header that does not match the body; a method the server does not serve. */
export const JSONRPC_HEADER_MISMATCH = -32020;
const JSONRPC_METHOD_NOT_FOUND = -32601;
const JSONRPC_UNSUPPORTED_PROTOCOL_VERSION = -32022;
const JSONRPC_INVALID_PARAMS = -32602;
/** The methods whose `Mcp-Name` header mirrors `params.name` or `params.uri`. */
const NAMED_METHODS: Readonly<Record<string, "name" | "uri">> = { "tools/call": "name", "prompts/get": "name", "resources/read": "uri" };
/** The Base64 form of a header value that is not plain ASCII (the specification's "Value Encoding"). */
const BASE64_SENTINEL = /^=\?base64\?([A-Za-z0-9+/]*={0,2})\?=$/;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);
const header = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const value = headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
};

/**
 * The revision a POST claims when it is of a sessionless revision: the one its body's `_meta` envelope names (a
 * single message), else one its `MCP-Protocol-Version` header names that is not a revision with sessions, when the
 * request carries no session id. Undefined for a request of a revision with sessions (served by the session table).
 */
export function sessionlessClaimOf(body: unknown, headers: IncomingHttpHeaders): string | undefined {
  if (isObject(body) && isObject(body.params) && isObject(body.params._meta)) {
    const claimed = body.params._meta[PROTOCOL_VERSION_META_KEY];
    if (typeof claimed === "string") return claimed;
  }
  const version = header(headers, "mcp-protocol-version");
  if (version === undefined || SESSION_REVISIONS.includes(version) || headers["mcp-session-id"] !== undefined) return undefined;
  return version;
}

/** Decodes a mirrored header value (plain, or in the Base64 sentinel form); undefined when it is neither. */
export function decodeMirroredValue(value: string): string | undefined {
  const encoded = BASE64_SENTINEL.exec(value);
  if (encoded === null) return /^[\x20-\x7e\t]*$/.test(value) ? value : undefined;
  const bytes = Buffer.from(encoded[1]!, "base64");
  // Base64 that does not round-trip is malformed; so is text that is not UTF-8.
  if (bytes.toString("base64") !== encoded[1]) return undefined;
  const text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  try {
    return text.decode(bytes);
  } catch {
    return undefined;
  }
}

const mismatch = (id: unknown, text: string): HttpRefusal => new HttpRefusal(400, JSONRPC_HEADER_MISMATCH, `Header mismatch: ${text}`, id);

/**
 * The request a sessionless POST carries, once its transport-level rules hold: one JSON-RPC request (a notification is
 * undefined: accepted and dropped, as the revision defines none over HTTP), with its envelope, and headers that
 * mirror its body. Throws an HttpRefusal otherwise, before anything is decided: a header an intermediary routed or
 * limited on must name what the proxy decides.
 */
export function sessionlessRequestOf(body: unknown, headers: IncomingHttpHeaders, revision: string): (JSONRPCMessage & { id: RequestId; method: string }) | undefined {
  const accept = header(headers, "accept");
  if (accept === undefined || !accept.includes("application/json") || !accept.includes("text/event-stream")) {
    throw new HttpRefusal(406, -32000, "Not Acceptable: Client must accept both application/json and text/event-stream");
  }
  if (!isJsonContentType(header(headers, "content-type"))) throw new HttpRefusal(415, -32000, "Unsupported Media Type: Content-Type must be application/json");
  if (!isObject(body)) throw new HttpRefusal(400, -32600, "Invalid Request: a request of revision 2026-07-28 is one JSON-RPC message, not a batch");
  const id = body.id ?? null;
  if (body.jsonrpc !== "2.0" || typeof body.method !== "string" || (body.params !== undefined && !isObject(body.params))) {
    throw new HttpRefusal(400, -32600, "Invalid Request: the body is no JSON-RPC request or notification", typeof id === "string" || typeof id === "number" ? id : null);
  }
  const method = body.method;
  if (!("id" in body)) return undefined;
  if (typeof id !== "string" && typeof id !== "number") throw new HttpRefusal(400, -32600, "Invalid Request: the request id must be a string or a number");
  const meta = (body.params as Record<string, unknown> | undefined)?._meta;
  if (!isObject(meta) || typeof meta[PROTOCOL_VERSION_META_KEY] !== "string") {
    throw new HttpRefusal(400, JSONRPC_INVALID_PARAMS, `Invalid params: the \`MCP-Protocol-Version\` header names ${revision.slice(0, 40)}, whose requests carry the \`_meta\` envelope`, id);
  }
  const version = header(headers, "mcp-protocol-version");
  if (version === undefined) throw mismatch(id, "the MCP-Protocol-Version header is missing");
  if (version !== revision) throw mismatch(id, `the MCP-Protocol-Version header does not match the revision in the body's \`_meta\``);
  const mirroredMethod = header(headers, "mcp-method");
  if (mirroredMethod === undefined) throw mismatch(id, "the Mcp-Method header is missing");
  if (mirroredMethod !== method) throw mismatch(id, "the Mcp-Method header does not match the body's `method`");
  const field = NAMED_METHODS[method];
  if (field !== undefined) {
    const mirroredName = header(headers, "mcp-name");
    if (mirroredName === undefined) throw mismatch(id, "the Mcp-Name header is missing");
    const named = (body.params as Record<string, unknown>)[field];
    if (decodeMirroredValue(mirroredName) !== named) throw mismatch(id, `the Mcp-Name header does not match the body's \`params.${field}\``);
  }
  return body as JSONRPCMessage & { id: RequestId; method: string };
}

/** The HTTP status of an error answer: the revision's protocol errors are 4xx, other errors ride a 200. */
function statusOfError(code: unknown): number {
  if (code === JSONRPC_METHOD_NOT_FOUND) return 404;
  return code === JSONRPC_UNSUPPORTED_PROTOCOL_VERSION || code === JSONRPC_HEADER_MISMATCH ? 400 : 200;
}

/**
 * One sessionless request as a Transport: the request is delivered once the receiver has started; its answer ends the
 * exchange (and closes the transport); notifications sent for it (`relatedRequestId`) go first on an event stream;
 * anything else is not the request's and is dropped (the revision carries no server requests on a request's stream).
 * The client closing the response, before the answer, closes the transport: that is the request's cancellation.
 */
export class SessionlessExchangeTransport implements Transport {
  declare onclose?: (() => void) | undefined;
  declare onerror?: ((error: Error) => void) | undefined;
  declare onmessage?: (<T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void) | undefined;
  readonly closed: Promise<void>;
  #markClosed!: () => void;
  #streaming = false;
  #over = false;
  #keepAlive: NodeJS.Timeout | undefined;

  constructor(
    private readonly res: ServerResponse,
    private readonly request: JSONRPCMessage & { id: RequestId },
    private readonly extra: MessageExtraInfo,
  ) {
    this.closed = new Promise((resolve) => (this.#markClosed = resolve));
    res.once("close", () => void this.close());
  }

  /** A sessionless request has no session: its transport says so. */
  get sessionId(): undefined {
    return undefined;
  }

  start(): Promise<void> {
    this.#keepAlive = setInterval(() => this.#ping(), SSE_KEEP_ALIVE_MS);
    this.#keepAlive.unref?.();
    // After start() returns: the receiver has wired its handlers by then.
    queueMicrotask(() => {
      if (this.#over) return;
      try {
        this.onmessage?.(this.request, this.extra);
      } catch (error) {
        this.onerror?.(error instanceof Error ? error : new Error(String(error)));
      }
    });
    return Promise.resolve();
  }

  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if (this.#over) return Promise.resolve();
    if ("result" in message || "error" in message) {
      if ((message as { id?: unknown }).id !== this.request.id) return Promise.resolve();
      this.#answer(message);
      return this.close();
    }
    // A notification of this request (progress, a log line): the answer becomes an event stream.
    if (!("id" in message) && options?.relatedRequestId === this.request.id) this.#event(message);
    return Promise.resolve();
  }

  close(): Promise<void> {
    if (this.#over) return Promise.resolve();
    this.#over = true;
    clearInterval(this.#keepAlive);
    if (!this.res.writableEnded) {
      if (this.res.headersSent) this.res.end();
      else {
        const body = JSON.stringify({ jsonrpc: "2.0", id: this.request.id, error: { code: -32000, message: "the request ended before it was answered: the proxy is closing" } });
        this.res.writeHead(503, { "content-type": "application/json" }).end(body);
      }
    }
    this.#markClosed();
    this.onclose?.();
    return Promise.resolve();
  }

  #answer(message: JSONRPCMessage): void {
    if (this.#streaming) {
      this.#event(message);
      this.res.end();
      return;
    }
    const body = JSON.stringify(message);
    const status = "error" in message ? statusOfError((message.error as { code?: unknown }).code) : 200;
    this.res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) }).end(body);
  }

  #event(message: JSONRPCMessage): void {
    if (!this.#streaming) {
      this.#streaming = true;
      this.res.writeHead(200, SSE_HEADERS);
    }
    // A client that does not read its stream must not grow the proxy's memory: the request ends.
    if (this.res.writableLength > MAX_STREAM_BACKLOG_BYTES) {
      void this.close();
      return;
    }
    this.res.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
  }

  /** A request answered slowly (an approval, a long call, a listen stream) keeps its connection alive through proxies. */
  #ping(): void {
    if (this.#over) return;
    if (!this.#streaming) {
      this.#streaming = true;
      this.res.writeHead(200, SSE_HEADERS);
    }
    this.res.write(": keepalive\n\n");
  }
}
