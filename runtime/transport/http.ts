// MCP over Streamable HTTP, one SDK StreamableHTTPServerTransport per session, found again by the Mcp-Session-Id
// header it issues. SealedHttpEndpoint wraps each in PqcServerTransport (unordered delivery), opened by the session
// hello, and tells plain MCP clients why they are refused; PlainHttpEndpoint serves plain MCP sessions.
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { Transport, TransportSendOptions } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage, MessageExtraInfo } from "@modelcontextprotocol/sdk/types.js";
import { MAX_FRAME_BYTES, MAX_HANDSHAKE_MESSAGE_BYTES } from "../session/constants.js";
import { SessionError, SessionErrorCode } from "../session/errors.js";
import { HandshakeStep, openEnvelope } from "./envelope.js";
import { PqcServerTransport, type PqcServerTransportOptions } from "./server.js";

/** At most this many sessions at once (default); a new hello beyond it gets 503. */
export const MAX_HTTP_SESSIONS = 256;
/** A session with no HTTP request for this long, and none open, is closed (default). */
export const HTTP_SESSION_IDLE_MS = 30 * 60_000;
/** At most this many sessions still opening (handshake under way); a new one at the limit evicts the oldest (default). */
export const MAX_OPENING_HTTP_SESSIONS = 32;
/** Largest body of a request that opens a session: a session hello, or an `initialize`. */
const MAX_OPENING_BODY_BYTES = Math.ceil((MAX_HANDSHAKE_MESSAGE_BYTES * 4) / 3) + 8 * 1024;

/** What both endpoints take. */
export interface HttpEndpointOptions<T extends Transport> {
  /** Connects a server to each new session, e.g. `(t) => newMcpServer().connect(t)`; resolves once connected. */
  readonly connect: (transport: T) => Promise<unknown>;
  readonly maxSessions?: number;
  /** Sessions still opening at once; a new one beyond it evicts the oldest, so junk hellos cannot lock the endpoint. */
  readonly maxOpeningSessions?: number;
  readonly idleTimeoutMs?: number;
  /** Largest request body; default fits the largest sealed frame as base64url plus its envelope. */
  readonly maxBodyBytes?: number;
  readonly maxFrameBytes?: number;
  /** Host header values to accept (DNS rebinding protection for a local listener); any host when unset. */
  readonly allowedHosts?: readonly string[];
  /**
   * Whether new sessions from a remote address are refused (429), e.g. `HandshakeAlarm.blocked`; asked for each request
   * that would open a session. Requests of established sessions are not affected.
   */
  readonly refusePeer?: (address: string) => boolean;
  /** Failures of a session's setup or handshake, or of its held messages (already closed and forgotten when reported). */
  readonly onSessionError?: (error: Error) => void;
}

export type SealedHttpEndpointOptions = HttpEndpointOptions<PqcServerTransport> & PqcServerTransportOptions;

/** A session's transport as the endpoint tracks it: closable, and telling when it has closed. */
export interface TrackedTransport extends Transport {
  readonly closed: Promise<void>;
}

/** At most this many server messages wait for the client's event stream. */
const MAX_HELD_MESSAGES = 1024;
/**
 * And at most this many bytes of them (their JSON text). What waits is notifications and server requests, small as a
 * rule; without a byte limit a client that never opens its stream could make the server hold 1,024 frames of 8 MiB.
 */
const MAX_HELD_BYTES = 4 * 1024 * 1024;

/**
 * Holds the server's messages meant for the client's event stream (no related request, not a response) until the
 * client has opened that stream: the SDK's transport drops them before, and a sealed session would see the gap in its
 * sequence numbers as truncation at the close. Everything else passes straight through. Past the limits the session
 * fails: a message cannot be dropped from the middle of a sealed stream, so the send is refused and `overflow` closes it.
 */
class StandaloneHold implements Transport {
  private held: { message: JSONRPCMessage; options: TransportSendOptions | undefined }[] | undefined = [];
  private heldBytes = 0;

  constructor(
    private readonly inner: StreamableHTTPServerTransport,
    private readonly overflow: (error: SessionError) => void,
  ) {}

  get onclose(): Transport["onclose"] {
    return this.inner.onclose;
  }
  set onclose(handler: Transport["onclose"]) {
    this.inner.onclose = handler;
  }
  get onerror(): Transport["onerror"] {
    return this.inner.onerror;
  }
  set onerror(handler: Transport["onerror"]) {
    this.inner.onerror = handler;
  }
  get onmessage(): Transport["onmessage"] {
    return this.inner.onmessage;
  }
  set onmessage(handler: Transport["onmessage"]) {
    this.inner.onmessage = handler;
  }
  get sessionId(): string | undefined {
    return this.inner.sessionId;
  }

  start(): Promise<void> {
    return this.inner.start();
  }

  close(): Promise<void> {
    this.held = undefined;
    return this.inner.close();
  }

  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const standalone = options?.relatedRequestId === undefined && !("result" in message || "error" in message);
    if (!standalone || this.held === undefined) return this.inner.send(message, options);
    const bytes = Buffer.byteLength(JSON.stringify(message));
    if (this.held.length >= MAX_HELD_MESSAGES || this.heldBytes + bytes > MAX_HELD_BYTES) {
      this.held = undefined;
      const error = new SessionError(
        SessionErrorCode.EventStreamBacklog,
        `more than ${MAX_HELD_MESSAGES} messages or ${MAX_HELD_BYTES} bytes wait for the client's event stream, which it has not opened: the session is closed`,
      );
      // Not from inside the send: the session's close must not run while its sender is still sealing.
      queueMicrotask(() => this.overflow(error));
      return Promise.reject(error);
    }
    this.held.push({ message, options });
    this.heldBytes += bytes;
    return Promise.resolve();
  }

  /** The client's event stream is open: send what waited for it, in order, and everything later at once. */
  release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const { message, options } of held) void this.inner.send(message, options).catch(() => undefined);
  }
}

interface Session {
  readonly inner: StreamableHTTPServerTransport;
  readonly hold: StandaloneHold;
  readonly transport: TrackedTransport;
  idle: NodeJS.Timeout | undefined;
  /** HTTP requests of this session still open (calls in progress, the client's event stream). */
  active: number;
}

class HttpRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
    readonly id: unknown = null,
  ) {
    super(message);
  }
}

export abstract class HttpEndpoint<T extends TrackedTransport> {
  private readonly sessions = new Map<string, Session>();
  private readonly maxSessions: number;
  private readonly maxOpening: number;
  private readonly idleTimeoutMs: number;
  private readonly maxBodyBytes: number;
  /** Sessions whose hello is being answered: not yet reachable by id. */
  private readonly opening = new Set<Session>();
  private closed = false;

  constructor(private readonly options: HttpEndpointOptions<T>) {
    this.maxSessions = options.maxSessions ?? MAX_HTTP_SESSIONS;
    this.maxOpening = options.maxOpeningSessions ?? MAX_OPENING_HTTP_SESSIONS;
    this.idleTimeoutMs = options.idleTimeoutMs ?? HTTP_SESSION_IDLE_MS;
    this.maxBodyBytes = options.maxBodyBytes ?? Math.ceil(((options.maxFrameBytes ?? MAX_FRAME_BYTES) * 4) / 3) + 64 * 1024;
  }

  /** Sessions currently open (handshake done or in progress). */
  get size(): number {
    return this.sessions.size + this.opening.size;
  }

  /** Handles one HTTP request (POST, GET or DELETE) for the MCP endpoint; never throws. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (this.closed) throw new HttpRefusal(503, -32000, "the endpoint is shutting down");
      this.checkHost(req);
      const sessionId = req.headers["mcp-session-id"];
      if (typeof sessionId === "string") return await this.existing(sessionId, req, res);
      if (req.method !== "POST") throw new HttpRefusal(400, -32000, "Bad Request: Mcp-Session-Id header is required");
      await this.open(await readBody(req, Math.min(this.maxBodyBytes, MAX_OPENING_BODY_BYTES)), req, res);
    } catch (error) {
      const refusal = error instanceof HttpRefusal ? error : new HttpRefusal(500, -32603, "the request could not be handled");
      if (!res.headersSent) {
        res.writeHead(refusal.status, { "content-type": "application/json" });
        res.end(JSON.stringify({ jsonrpc: "2.0", id: refusal.id, error: { code: refusal.code, message: refusal.message } }));
      } else {
        res.end();
      }
    }
  }

  /** Closes every session (each with its sealed close) and refuses new ones. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.sessions.values(), ...this.opening].map((session) => session.transport.close()));
  }

  private async existing(sessionId: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const session = this.sessions.get(sessionId);
    if (session === undefined) throw new HttpRefusal(404, -32001, "Session not found");
    this.touch(sessionId, session);
    if (req.method === "DELETE") {
      await session.transport.close();
      res.writeHead(200).end();
      return;
    }
    session.active += 1;
    res.once("close", () => {
      session.active -= 1;
      this.touch(sessionId, session);
    });
    if (req.method === "GET") {
      const handling = session.inner.handleRequest(req, res);
      // The SDK registers the event stream before it sends the response's headers: release held messages then.
      afterHeaders(res, () => {
        if (res.statusCode === 200) session.hold.release();
      });
      await handling;
      return;
    }
    const body = req.method === "POST" ? await readBody(req, this.maxBodyBytes) : undefined;
    await session.inner.handleRequest(req, res, body);
  }

  /** Throws an HttpRefusal unless `body` (a POST without a session id) may open a session. */
  /** @internal */
  protected abstract admit(body: unknown): void;

  /** The session transport around a new inner HTTP transport. */
  /** @internal */
  protected abstract wrap(inner: Transport, peer: string | undefined): T;

  /** Whether a session has finished opening (for the limit on sessions still opening). */
  /** @internal */
  protected abstract established(transport: T): boolean;

  private async open(body: unknown, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const peer = req.socket.remoteAddress;
    if (peer !== undefined && this.options.refusePeer?.(peer) === true) {
      throw new HttpRefusal(429, -32000, "too many failed handshakes from this address: try again later", idOf(body));
    }
    this.admit(body);
    const unfinished = [...this.opening, ...this.sessions.values()].filter((session) => !this.established(session.transport as T));
    if (unfinished.length >= this.maxOpening) {
      // Evict the oldest session still opening: a flood of hellos that never finish cannot lock out real clients.
      // Forgotten now, not when its close settles, so its slot is free for this client.
      const oldest = unfinished[0]!;
      this.forget(oldest);
      void oldest.transport.close();
    }
    if (this.size >= this.maxSessions) throw new HttpRefusal(503, -32000, `the endpoint already serves ${this.maxSessions} sessions`);
    const inner = new StreamableHTTPServerTransport({
      sessionIdGenerator: randomUUID,
      onsessioninitialized: (id) => {
        this.opening.delete(session);
        this.sessions.set(id, session);
        this.touch(id, session);
      },
    });
    const hold = new StandaloneHold(inner, (error) => this.abandon(session, error));
    const transport = this.wrap(hold, peer);
    const session: Session = { inner, hold, transport, idle: undefined, active: 0 };
    this.opening.add(session);
    void transport.closed.then(() => this.forget(session));
    // The SDK's connect() waits for the handshake, which this very request starts: do not await it first.
    let connecting: Promise<unknown>;
    try {
      connecting = this.options.connect(transport);
    } catch (error) {
      // A factory that throws fails the session as one that rejects; with no server behind it, the request goes no further.
      this.abandon(session, error);
      throw new HttpRefusal(500, -32603, "the server for this session could not be started", idOf(body));
    }
    connecting.catch((error: unknown) => this.abandon(session, error));
    await inner.handleRequest(req, res, body);
    // The inner transport refused the request (bad headers, say) without opening its session: free the slot.
    if (inner.sessionId === undefined) {
      this.opening.delete(session);
      void transport.close();
    }
  }

  /** A session that cannot go on: forgotten, closed, and its failure reported. */
  private abandon(session: Session, error: unknown): void {
    this.forget(session);
    void session.transport.close();
    this.options.onSessionError?.(error instanceof Error ? error : new Error(String(error)));
  }

  /** Drops a session from the endpoint's books (it is closed, or being closed): no slot, no timer. */
  private forget(session: Session): void {
    clearTimeout(session.idle);
    this.opening.delete(session);
    const id = session.inner.sessionId;
    if (id !== undefined && this.sessions.get(id) === session) this.sessions.delete(id);
  }

  private touch(id: string, session: Session): void {
    clearTimeout(session.idle);
    // A request that ends after its session closed must not arm a timer that keeps the closed session in memory.
    if (this.sessions.get(id) !== session) return;
    session.idle = setTimeout(() => {
      if (this.sessions.get(id) !== session) return;
      // A call in progress or an open event stream is not idleness: look again later.
      if (session.active > 0) this.touch(id, session);
      else void session.transport.close();
    }, this.idleTimeoutMs);
    session.idle.unref?.();
  }

  private checkHost(req: IncomingMessage): void {
    const allowed = this.options.allowedHosts;
    if (allowed === undefined || allowed.length === 0) return;
    const host = req.headers.host;
    if (host === undefined || !allowed.includes(host)) throw new HttpRefusal(403, -32000, `Invalid Host header: ${host ?? "(none)"}`);
  }
}

/** A request body being read: what came so far, and how its read ends. */
interface BodyRead {
  readonly limit: number;
  readonly chunks: Buffer[];
  size: number;
  readonly resolve: (body: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Bodies being read, by request. Their listeners are module functions (the request is their `this`), not closures
 * made for each POST: under tsx (esbuild keepNames) every named closure is wrapped in a `__name` call as it is made.
 */
const bodies = new WeakMap<IncomingMessage, BodyRead>();

/** Reads a request body of at most `limit` bytes as JSON: an HttpRefusal 413 past the limit, 400 when it is not JSON. */
function readBody(req: IncomingMessage, limit: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    bodies.set(req, { limit, chunks: [], size: 0, resolve, reject });
    req.on("data", takeBodyChunk).once("end", endBody).once("error", reject);
  });
}

function takeBodyChunk(this: IncomingMessage, chunk: Buffer): void {
  const read = bodies.get(this);
  if (read === undefined) return;
  read.size += chunk.length;
  if (read.size <= read.limit) {
    read.chunks.push(chunk);
    return;
  }
  // Not destroyed: that resets the connection, and the client may see the reset instead of the 413. The rest is
  // read and dropped, as node:http does with a body its handler never reads (its requestTimeout bounds an endless one).
  this.off("data", takeBodyChunk).off("end", endBody).resume();
  bodies.delete(this);
  read.reject(new HttpRefusal(413, -32000, `the request body exceeds ${read.limit} bytes`));
}

function endBody(this: IncomingMessage): void {
  const read = bodies.get(this);
  if (read === undefined) return;
  bodies.delete(this);
  try {
    read.resolve(JSON.parse(Buffer.concat(read.chunks).toString("utf8")));
  } catch {
    read.reject(new HttpRefusal(400, -32700, "Parse error: the request body is not JSON"));
  }
}

/** Calls `then` once the response's headers are out (polled per turn of the event loop, for at most about a second). */
function afterHeaders(res: ServerResponse, then: () => void, turns = 1000): void {
  if (res.headersSent) return then();
  if (turns > 0 && !res.destroyed) setImmediate(() => afterHeaders(res, then, turns - 1));
}

const idOf = (body: unknown): unknown => (body as { id?: unknown } | null)?.id ?? null;
const isInitialize = (body: unknown): boolean => (body as { method?: unknown } | null)?.method === "initialize";

/** Serves MCP over Streamable HTTP with the post-quantum session: every session starts with the session hello. */
export class SealedHttpEndpoint extends HttpEndpoint<PqcServerTransport> {
  private readonly transportOptions: PqcServerTransportOptions;

  constructor(options: SealedHttpEndpointOptions) {
    super(options);
    const { connect: _connect, maxSessions: _max, maxOpeningSessions: _opening, idleTimeoutMs: _idle, maxBodyBytes: _body, allowedHosts: _hosts, onSessionError: _report, refusePeer: _refuse, ...transportOptions } =
      options;
    this.transportOptions = transportOptions;
  }

  /** @internal */
  protected admit(body: unknown): void {
    const hello =
      typeof body === "object" &&
      body !== null &&
      !Array.isArray(body) &&
      isInitialize(body) &&
      idOf(body) === HandshakeStep.hello &&
      openEnvelope(body as JSONRPCMessage).kind === "handshake";
    if (hello) return;
    if (isInitialize(body)) throw new HttpRefusal(400, -32600, "this endpoint requires the pqguard post-quantum session: connect with PqcClientTransport", idOf(body));
    throw new HttpRefusal(400, -32000, "Bad Request: no session; a session starts with the pqguard session hello", idOf(body));
  }

  /** @internal */
  protected wrap(inner: Transport, peer: string | undefined): PqcServerTransport {
    return new PqcServerTransport(inner, { ...this.transportOptions, delivery: "unordered", ...(peer === undefined ? {} : { peer }) });
  }

  /** @internal */
  protected established(transport: PqcServerTransport): boolean {
    return transport.sessionInfo !== undefined;
  }
}

/** Serves plain MCP over Streamable HTTP (no post-quantum session): every session starts with `initialize`. */
export class PlainHttpEndpoint extends HttpEndpoint<ObservedTransport> {
  /** @internal */
  protected admit(body: unknown): void {
    if (!isInitialize(body)) throw new HttpRefusal(400, -32000, "Bad Request: no session; a session starts with `initialize`", idOf(body));
  }

  /** @internal */
  protected wrap(inner: Transport): ObservedTransport {
    return new ObservedTransport(inner);
  }

  /** @internal */
  protected established(transport: ObservedTransport): boolean {
    return transport.sessionId !== undefined;
  }
}

/** Passes everything through to the inner transport and resolves `closed` when it closes. */
export class ObservedTransport implements TrackedTransport {
  onclose?: (() => void) | undefined;
  onerror?: ((error: Error) => void) | undefined;
  onmessage?: (<M extends JSONRPCMessage>(message: M, extra?: MessageExtraInfo) => void) | undefined;
  readonly closed: Promise<void>;

  constructor(private readonly inner: Transport) {
    let closed!: () => void;
    this.closed = new Promise((resolve) => (closed = resolve));
    inner.onclose = () => {
      closed();
      this.onclose?.();
    };
    inner.onerror = (error) => this.onerror?.(error);
    inner.onmessage = (message, extra) => this.onmessage?.(message, extra);
  }

  get sessionId(): string | undefined {
    return this.inner.sessionId;
  }

  setProtocolVersion(version: string): void {
    this.inner.setProtocolVersion?.(version);
  }

  start(): Promise<void> {
    return this.inner.start();
  }

  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    return this.inner.send(message, options);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
