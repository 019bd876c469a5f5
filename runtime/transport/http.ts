// MCP over Streamable HTTP, one HttpSessionTransport per session, found again by the Mcp-Session-Id header it issues,
// and the session table: who may hold a session, for how long, and who is evicted when it is full. SealedHttpEndpoint
// wraps each session in PqcServerTransport (unordered delivery), opened by the session hello, and tells plain MCP
// clients why they are refused; PlainHttpEndpoint serves plain MCP sessions.
import type { IncomingMessage, ServerResponse } from "node:http";
import { BlockList, isIP } from "node:net";
import type { Transport, TransportSendOptions } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage, MessageExtraInfo } from "@modelcontextprotocol/sdk/types.js";
import { MAX_FRAME_BYTES, MAX_HANDSHAKE_MESSAGE_BYTES } from "../session/constants.js";
import { SessionError, SessionErrorCode } from "../session/errors.js";
import type { EstablishedSession } from "../session/handshake.js";
import { HandshakeStep, openEnvelope } from "./envelope.js";
import { HttpRefusal, HttpSessionTransport, refuse } from "./http-session.js";
import { SessionlessExchangeTransport, sessionlessClaimOf, sessionlessRequestOf } from "./http-sessionless.js";
import { PqcServerTransport, type PqcServerTransportOptions } from "./server.js";

/** At most this many sessions at once, established (default); what happens at the limit: see HttpEndpointOptions. */
export const MAX_HTTP_SESSIONS = 256;
/**
 * Of which at most this share unauthenticated, when clients can authenticate (the proxy trusts an issuer or a client):
 * the rest is kept for authenticated clients, so that anonymous ones, however many, cannot lock them out.
 */
export const ANONYMOUS_SESSION_SHARE = 0.25;
/** At most this many unauthenticated sessions from one source address (default). */
export const MAX_SESSIONS_PER_SOURCE = 16;
/** A session with no POST for this long, and none in progress, is closed; an open event stream does not count (default). */
export const HTTP_SESSION_IDLE_MS = 30 * 60_000;
/**
 * A full table evicts a session only after this long without a POST (default): long enough that a client between two
 * calls of one task keeps its session, short enough that sessions held open only by their event streams give way.
 */
export const EVICTABLE_AFTER_IDLE_MS = 10_000;
/** At most this many sessions still opening (handshake under way); a new one at the limit evicts the oldest (default). */
export const MAX_OPENING_HTTP_SESSIONS = 32;
/**
 * Request bodies being read at once, all together, at most this many bytes: one body may be 11 MiB (a largest sealed
 * frame), and without a total a few hundred concurrent POSTs could take gigabytes before any is refused.
 */
export const MAX_BODY_BYTES_IN_FLIGHT = 64 * 1024 * 1024;
/** Largest body of a request that opens a session: a session hello, or an `initialize`. */
const MAX_OPENING_BODY_BYTES = Math.ceil((MAX_HANDSHAKE_MESSAGE_BYTES * 4) / 3) + 8 * 1024;

/**
 * Sessionless requests (revision 2026-07-28) answered at once, all clients together: they take no seat in the session
 * table, and every unauthenticated one is the same client, so this is that client's bound on work in flight (as
 * MAX_REQUESTS_IN_FLIGHT is a connection's in the proxy); more are refused with 503 until some are answered.
 */
export const MAX_SESSIONLESS_IN_FLIGHT = 256;

/** What both endpoints take. */
export interface HttpEndpointOptions<T extends Transport> {
  /** Connects a server to each new session, e.g. `(t) => newMcpServer().connect(t)`; resolves once connected. */
  readonly connect: (transport: T) => Promise<unknown>;
  /**
   * Serves one request of the sessionless revision (2026-07-28: no `initialize`, no session id) on a transport of its
   * own, closed once it is answered. Without it such requests are refused (the sealed endpoint: they need its session).
   */
  readonly connectSessionless?: (transport: SessionlessExchangeTransport) => Promise<unknown>;
  /** Sessionless requests answered at once (MAX_SESSIONLESS_IN_FLIGHT by default); 503 beyond. */
  readonly maxSessionlessInFlight?: number;
  /**
   * Established sessions at once. At the limit a new session evicts the least recently used idle one (no POST for
   * `evictableAfterIdleMs`, none in progress), unauthenticated first; with none to evict it is refused.
   */
  readonly maxSessions?: number;
  /**
   * Unauthenticated sessions at once (default: a quarter of `maxSessions` when clients can authenticate, else all of
   * it). At the limit a new one evicts the least recently used idle unauthenticated session, or is refused.
   */
  readonly maxAnonymousSessions?: number;
  /**
   * Unauthenticated sessions from one source address (default 16); the source's own idle sessions are evicted first.
   * Loopback sources are not limited: all of this machine's clients share them.
   */
  readonly maxSessionsPerSource?: number;
  /** Sessions still opening at once; a new one beyond it evicts the oldest, so junk hellos cannot lock the endpoint. */
  readonly maxOpeningSessions?: number;
  readonly idleTimeoutMs?: number;
  /** How long without a POST before a full table may evict a session (default 10 s). */
  readonly evictableAfterIdleMs?: number;
  /**
   * Addresses of load balancers or reverse proxies in front of the endpoint (`10.0.0.0/8`, `::1/128`, `127.0.0.1`):
   * only from these is `X-Forwarded-For` believed for the client's source address. From anyone else it is ignored.
   */
  readonly trustProxy?: readonly string[];
  /** Largest request body; default fits the largest sealed frame as base64url plus its envelope. */
  readonly maxBodyBytes?: number;
  /** Bytes of request bodies being read at once, all requests together (default 64 MiB, at least `maxBodyBytes`); 503 beyond. */
  readonly maxBodyBytesInFlight?: number;
  readonly maxFrameBytes?: number;
  /** Host header values to accept (DNS rebinding protection for a local listener); any host when unset. */
  readonly allowedHosts?: readonly string[];
  /**
   * How a call's answer goes back when the server sent nothing else before it: `json` (one JSON body; default: the
   * SDK's client reads it for a third less CPU than an event stream, docs/performance.md) or `events` (server-sent
   * events, as the SDK's server transport answers). Either way a notification sent before the answer turns the
   * response into an event stream, so nothing related to a request is lost; both are what the protocol allows.
   */
  readonly answers?: "events" | "json";
  /** Failures of a session's setup or handshake, sessions refused or evicted (already closed and forgotten when reported). */
  readonly onSessionError?: (error: Error) => void;
  /**
   * Whether new sessions from a source address are refused (429), e.g. `HandshakeAlarm.blocked`; asked for each request
   * that would open a session, and for each sessionless request. Requests of established sessions are not affected.
   */
  readonly refusePeer?: (address: string) => boolean;
  /** Clock for idleness and eviction, ms (not the session's clock, `now`, which certificates are checked against). */
  readonly idleClock?: () => number;
}

export type SealedHttpEndpointOptions = HttpEndpointOptions<PqcServerTransport> & PqcServerTransportOptions;

/** A session's transport as the endpoint tracks it: closable, and telling when it has closed. */
export interface TrackedTransport extends Transport {
  readonly closed: Promise<void>;
}

interface Session {
  readonly inner: HttpSessionTransport;
  readonly transport: TrackedTransport;
  /** The client's address, as the endpoint believes it (see trustProxy). */
  readonly source: string;
  /** Opening until the handshake (or `initialize`) is done; then seated, counted against the table's limits. */
  seated: boolean;
  authenticated: boolean;
  idle: NodeJS.Timeout | undefined;
  /** POSTs of this session still open (calls in progress); its event stream is not counted. */
  calls: number;
  /** When its last POST began or ended. */
  lastUsed: number;
  /** Evicted, refused or failed, and reported as such: what follows from it is not reported again. */
  dismissed: boolean;
}

export abstract class HttpEndpoint<T extends TrackedTransport> {
  /** Sessions reachable by id, least recently used first. */
  private readonly sessions = new Map<string, Session>();
  /** The id inserted into `sessions` last (the most recently used end), while it is there. */
  private newest: string | undefined;
  private readonly maxSessions: number;
  private readonly maxAnonymous: number;
  private readonly maxPerSource: number;
  private readonly maxOpening: number;
  private readonly idleTimeoutMs: number;
  private readonly evictableAfterMs: number;
  private readonly maxBodyBytes: number;
  private readonly bodyBudget: BodyBudget;
  private readonly trustedProxies: BlockList | undefined;
  private readonly now: () => number;
  /** Sessions whose hello is being answered: not yet reachable by id. */
  private readonly opening = new Set<Session>();
  private readonly maxSessionlessInFlight: number;
  /** Sessionless requests being answered now. */
  private sessionlessInFlight = 0;
  private closed = false;

  constructor(private readonly options: HttpEndpointOptions<T>) {
    this.maxSessions = positive(options.maxSessions ?? MAX_HTTP_SESSIONS, "maxSessions");
    const anonymousDefault = this.clientsCanAuthenticate(options) ? Math.max(1, Math.floor(this.maxSessions * ANONYMOUS_SESSION_SHARE)) : this.maxSessions;
    this.maxAnonymous = Math.min(positive(options.maxAnonymousSessions ?? anonymousDefault, "maxAnonymousSessions"), this.maxSessions);
    this.maxPerSource = positive(options.maxSessionsPerSource ?? MAX_SESSIONS_PER_SOURCE, "maxSessionsPerSource");
    this.maxOpening = positive(options.maxOpeningSessions ?? MAX_OPENING_HTTP_SESSIONS, "maxOpeningSessions");
    this.idleTimeoutMs = options.idleTimeoutMs ?? HTTP_SESSION_IDLE_MS;
    this.evictableAfterMs = options.evictableAfterIdleMs ?? EVICTABLE_AFTER_IDLE_MS;
    this.maxBodyBytes = options.maxBodyBytes ?? Math.ceil(((options.maxFrameBytes ?? MAX_FRAME_BYTES) * 4) / 3) + 64 * 1024;
    this.bodyBudget = { inFlight: 0, max: Math.max(options.maxBodyBytesInFlight ?? MAX_BODY_BYTES_IN_FLIGHT, this.maxBodyBytes) };
    this.trustedProxies = options.trustProxy === undefined || options.trustProxy.length === 0 ? undefined : blockListOf(options.trustProxy);
    this.now = options.idleClock ?? Date.now;
    this.maxSessionlessInFlight = positive(options.maxSessionlessInFlight ?? MAX_SESSIONLESS_IN_FLIGHT, "maxSessionlessInFlight");
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
      if (req.method !== "POST") {
        if (typeof sessionId === "string") return this.existing(sessionId, req, res, undefined);
        throw new HttpRefusal(400, -32000, "Bad Request: Mcp-Session-Id header is required");
      }
      // A body as large as any call's only for a session that exists, or where a request needs none: an unknown id is
      // refused before its body is read, so a client without a session cannot hold the body budget by naming one.
      const known = typeof sessionId === "string" && this.sessions.has(sessionId);
      if (typeof sessionId === "string" && !known && !this.sessionlessServed()) throw new HttpRefusal(404, -32001, "Session not found");
      const limit = known || this.sessionlessServed() ? this.maxBodyBytes : Math.min(this.maxBodyBytes, MAX_OPENING_BODY_BYTES);
      const body = await readBody(req, limit, this.bodyBudget);
      // A request of the sessionless revision belongs to no session, whatever Mcp-Session-Id it carries (the
      // revision's servers ignore the header): it is never delivered into the session that id names.
      const revision = sessionlessClaimOf(body, req.headers);
      if (revision !== undefined) return this.sessionlessRequest(body, revision, req, res);
      if (typeof sessionId === "string") return this.existing(sessionId, req, res, body);
      await this.open(body, req, res);
    } catch (error) {
      refuse(res, error instanceof HttpRefusal ? error : new HttpRefusal(500, -32603, "the request could not be handled"));
    }
  }

  /** Closes every session (each with its sealed close) and refuses new ones. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.sessions.values(), ...this.opening].map((session) => session.transport.close()));
  }

  private existing(sessionId: string, req: IncomingMessage, res: ServerResponse, body: unknown): void {
    const session = this.sessions.get(sessionId);
    if (session === undefined) throw new HttpRefusal(404, -32001, "Session not found");
    switch (req.method) {
      case "POST": {
        this.used(sessionId, session);
        session.calls += 1;
        res.once("close", () => {
          session.calls -= 1;
          this.used(sessionId, session);
        });
        session.inner.handlePost(req, res, body);
        return;
      }
      case "GET":
        // An event stream is not activity: a session held open only by its stream still goes idle.
        session.inner.handleGet(req, res);
        return;
      case "DELETE":
        void this.terminate(session, res).catch((error: unknown) => refuse(res, error instanceof HttpRefusal ? error : new HttpRefusal(500, -32603, "the request could not be handled")));
        return;
      default:
        throw new HttpRefusal(405, -32000, "Method not allowed.", null, { allow: "GET, POST, DELETE" });
    }
  }

  /**
   * A POST of the sessionless revision (2026-07-28): checked (its headers must mirror its body), then served by a
   * transport of its own when the endpoint serves such requests, answered 202 when it is a notification, refused
   * clearly otherwise. It takes no seat in the session table; at most `maxSessionlessInFlight` are answered at once.
   */
  private sessionlessRequest(body: unknown, revision: string, req: IncomingMessage, res: ServerResponse): void {
    const connect = this.options.connectSessionless;
    if (connect === undefined) throw this.sessionlessRefusal(idOf(body));
    // A sessionless request is served as a session of one request: a peer refused new sessions is refused it too.
    if (this.options.refusePeer?.(sourceOf(req, this.trustedProxies)) === true) {
      throw new HttpRefusal(429, -32000, "too many failed handshakes from this address: try again later", idOf(body));
    }
    const request = sessionlessRequestOf(body, req.headers, revision);
    if (request === undefined) {
      res.writeHead(202).end();
      return;
    }
    if (this.sessionlessInFlight >= this.maxSessionlessInFlight) {
      throw new HttpRefusal(503, -32000, `more than ${this.maxSessionlessInFlight} sessionless requests are being answered: try again`, request.id);
    }
    this.sessionlessInFlight += 1;
    res.once("close", () => (this.sessionlessInFlight -= 1));
    const transport = new SessionlessExchangeTransport(res, request, { requestInfo: { headers: req.headers } });
    connect(transport).catch((error: unknown) => {
      this.options.onSessionError?.(error instanceof Error ? error : new Error(String(error)));
      void transport.close();
    });
  }

  /** Why this endpoint does not serve sessionless requests (the sealed one needs its session first). */
  /** @internal */
  protected abstract sessionlessRefusal(id: unknown): HttpRefusal;

  /** Whether sessionless requests are served here: their bodies may then be as large as any call's. */
  private sessionlessServed(): boolean {
    return this.options.connectSessionless !== undefined;
  }

  /**
   * An HTTP DELETE: whoever knows the session id can send one, and nothing authenticates it. A plain session ends
   * (plain MCP has no other end); a sealed session ends only with its sealed close, so the DELETE is refused there.
   */
  /** @internal */
  protected abstract terminate(session: { readonly transport: TrackedTransport }, res: ServerResponse): Promise<void>;

  /** Throws an HttpRefusal unless `body` (a POST without a session id) may open a session. */
  /** @internal */
  protected abstract admit(body: unknown): void;

  /**
   * The session transport around a new inner HTTP transport; `seat` is to be called once the session is established,
   * before anything is delivered, and says whether it may go on (when not, it has been closed).
   */
  /** @internal */
  protected abstract wrap(inner: HttpSessionTransport, seat: (authenticated: boolean) => boolean, peer: string): T;

  /** Whether sessions are established by the inner transport's `initialize` alone (plain MCP): seated as it opens. */
  /** @internal */
  protected abstract seatedWhenInitialized(): boolean;

  /** Whether any client can authenticate (the default unauthenticated budget is smaller then). */
  /** @internal */
  protected abstract clientsCanAuthenticate(options: HttpEndpointOptions<T>): boolean;

  private async open(body: unknown, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const source = sourceOf(req, this.trustedProxies);
    // Before anything of the request is looked at: a blocked peer gets no further than its address.
    if (this.options.refusePeer?.(source) === true) throw new HttpRefusal(429, -32000, "too many failed handshakes from this address: try again later", idOf(body));
    this.admit(body);
    this.makeRoomToOpen(source);
    const inner = new HttpSessionTransport({
      onsessioninitialized: (id) => {
        this.opening.delete(session);
        this.sessions.set(id, session);
        this.newest = id;
        this.armIdleTimer(id, session);
        if (this.seatedWhenInitialized()) this.seat(session, false);
      },
      overflow: (error) => this.abandon(session, error),
      ...(this.options.answers === undefined ? {} : { answers: this.options.answers }),
    });
    const session: Session = { inner, transport: undefined as unknown as TrackedTransport, source, seated: false, authenticated: false, idle: undefined, calls: 0, lastUsed: this.now(), dismissed: false };
    (session as { transport: TrackedTransport }).transport = this.wrap(inner, (authenticated) => this.seat(session, authenticated), source);
    const transport = session.transport as T;
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
    try {
      session.calls += 1;
      res.once("close", () => {
        session.calls -= 1;
        session.lastUsed = this.now();
      });
      inner.handlePost(req, res, body);
    } finally {
      // The inner transport refused the request (bad headers, say) without opening its session: free the slot.
      if (inner.sessionId === undefined) {
        this.opening.delete(session);
        void transport.close();
      }
    }
  }

  /**
   * A hello may always start a handshake: when as many are under way as allowed, the oldest handshake of the source
   * holding the most (the newcomer's own on a tie) is evicted, so one source's flood of hellos that never finish pushes
   * out its own handshakes, not others'. Below the limit, any source may open as many at once as it likes.
   */
  private makeRoomToOpen(source: string): void {
    const unseated = [...this.opening, ...this.sessions.values()].filter((session) => !session.seated);
    if (unseated.length < this.maxOpening) return;
    const bySource = new Map<string, Session[]>();
    for (const session of unseated) bySource.set(session.source, [...(bySource.get(session.source) ?? []), session]);
    let heaviest = bySource.get(source) ?? [];
    for (const sessions of bySource.values()) if (sessions.length > heaviest.length) heaviest = sessions;
    this.evict(heaviest[0]!, `${unseated.length} handshakes are under way, ${heaviest.length} of them from this source`);
  }

  /**
   * A session has finished opening: it takes its seat in the table, making room by evicting idle sessions (least
   * recently used, unauthenticated first), or it is refused and closed when there is none to evict.
   */
  private seat(session: Session, authenticated: boolean): boolean {
    if (session.seated) return true;
    if (this.closed || !this.isTracked(session)) return false;
    session.authenticated = authenticated;
    const refusal = authenticated ? this.roomForAuthenticated() : this.roomForAnonymous(session.source);
    if (refusal !== undefined) {
      this.abandon(session, new SessionError(SessionErrorCode.SessionTableFull, refusal));
      return false;
    }
    session.seated = true;
    session.lastUsed = this.now();
    return true;
  }

  /** Undefined when there is room (perhaps made by an eviction), else why there is none. */
  private roomForAnonymous(source: string): string | undefined {
    const seated = [...this.sessions.values()].filter((other) => other.seated);
    const anonymous = seated.filter((other) => !other.authenticated);
    const fromSource = anonymous.filter((other) => other.source === source);
    if (fromSource.length >= this.maxPerSource && !isLoopbackAddress(source)) {
      if (!this.evictIdle(fromSource, "its source holds the most unauthenticated sessions allowed")) {
        return `source ${source} already holds ${fromSource.length} unauthenticated sessions, none of them idle`;
      }
    } else if (anonymous.length >= this.maxAnonymous) {
      if (!this.evictIdle(anonymous, "the unauthenticated sessions are at their limit")) return `the endpoint already serves ${anonymous.length} unauthenticated sessions, none of them idle`;
    } else if (seated.length >= this.maxSessions) {
      if (!this.evictIdle(anonymous, "the session table is full")) return `the endpoint already serves ${seated.length} sessions, no unauthenticated one idle`;
    }
    return undefined;
  }

  private roomForAuthenticated(): string | undefined {
    const seated = [...this.sessions.values()].filter((other) => other.seated);
    if (seated.length < this.maxSessions) return undefined;
    if (this.evictIdle(seated.filter((other) => !other.authenticated), "the session table is full")) return undefined;
    if (this.evictIdle(seated, "the session table is full")) return undefined;
    return `the endpoint already serves ${seated.length} sessions, none of them idle`;
  }

  /** Evicts the least recently used idle session of `candidates` (in table order); false when none is idle. */
  private evictIdle(candidates: readonly Session[], why: string): boolean {
    const now = this.now();
    const idle = candidates.find((session) => session.calls === 0 && now - session.lastUsed >= this.evictableAfterMs);
    if (idle === undefined) return false;
    this.evict(idle, why);
    return true;
  }

  /** Forgotten now, not when its close settles, so its slot is free for the newcomer. */
  private evict(session: Session, why: string): void {
    session.dismissed = true;
    this.forget(session);
    void session.transport.close();
    this.options.onSessionError?.(new SessionError(SessionErrorCode.SessionTableFull, `a session from ${session.source} was evicted: ${why}`));
  }

  private isTracked(session: Session): boolean {
    if (this.opening.has(session)) return true;
    const id = session.inner.sessionId;
    return id !== undefined && this.sessions.get(id) === session;
  }

  /**
   * A session that cannot go on: forgotten, closed, and its failure reported, once: a session already dismissed (evicted,
   * refused, failed) has its server's connect fail as a consequence, which was reported when it happened.
   */
  private abandon(session: Session, error: unknown): void {
    if (session.dismissed) return void session.transport.close();
    session.dismissed = true;
    this.forget(session);
    void session.transport.close();
    this.options.onSessionError?.(error instanceof Error ? error : new Error(String(error)));
  }

  /** Drops a session from the endpoint's books (it is closed, or being closed): no slot, no timer. */
  private forget(session: Session): void {
    clearTimeout(session.idle);
    session.idle = undefined;
    this.opening.delete(session);
    const id = session.inner.sessionId;
    if (id !== undefined && this.sessions.get(id) === session) {
      this.sessions.delete(id);
      if (this.newest === id) this.newest = undefined;
    }
  }

  /** A POST began or ended: the session moves to the most recently used end of the table. */
  private used(id: string, session: Session): void {
    session.lastUsed = this.now();
    // Already the most recently used (a client making call after call): its place in the order stays as it is, and
    // the Map is not churned with a delete and an insert per POST and per answer.
    if (this.newest === id || this.sessions.get(id) !== session) return;
    this.sessions.delete(id);
    this.sessions.set(id, session);
    this.newest = id;
  }

  /**
   * One timer per session, armed once and re-armed for the rest of the idle time when it finds the session used
   * meanwhile: a POST only notes the time, it does not touch a timer.
   */
  private armIdleTimer(id: string, session: Session, delay = this.idleTimeoutMs): void {
    session.idle = setTimeout(() => {
      session.idle = undefined;
      if (this.sessions.get(id) !== session) return;
      const quiet = this.now() - session.lastUsed;
      // A call in progress is not idleness: look again later. An open event stream is.
      if (session.calls > 0) this.armIdleTimer(id, session);
      else if (quiet < this.idleTimeoutMs) this.armIdleTimer(id, session, this.idleTimeoutMs - quiet);
      else void session.transport.close();
    }, Math.max(1, delay));
    session.idle.unref?.();
  }

  private checkHost(req: IncomingMessage): void {
    const allowed = this.options.allowedHosts;
    if (allowed === undefined || allowed.length === 0) return;
    const host = req.headers.host;
    if (host === undefined || !allowed.includes(host)) throw new HttpRefusal(403, -32000, `Invalid Host header: ${host ?? "(none)"}`);
  }
}

function positive(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new SessionError(SessionErrorCode.InvalidConfiguration, `\`${name}\` must be a positive whole number`);
  return value;
}

/** A BlockList of trusted proxy addresses from `ADDRESS` or `ADDRESS/PREFIX` entries; a malformed entry is a configuration error. */
export function blockListOf(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address = "", prefixText] = entry.trim().split("/");
    const family = isIP(address);
    const bits = family === 6 ? 128 : 32;
    const prefix = prefixText === undefined ? bits : Number(prefixText);
    if (family === 0 || !/^\d*$/.test(prefixText ?? "") || !Number.isInteger(prefix) || prefix < 0 || prefix > bits) {
      throw new SessionError(SessionErrorCode.InvalidConfiguration, `\`${entry}\` is not an address or an ADDRESS/PREFIX range for trusted proxies`);
    }
    list.addSubnet(address, prefix, family === 6 ? "ipv6" : "ipv4");
  }
  return list;
}

/**
 * Whether a source is this machine: every local client shares it (a plain listener is loopback-only, and a host's
 * `pqguard connect` processes come from it), so a per-source limit there would only limit the machine's own users.
 */
export function isLoopbackAddress(source: string): boolean {
  return source === "::1" || /^127\.\d+\.\d+\.\d+$/.test(source);
}

/** `::ffff:127.0.0.1` (an IPv4 client on a dual-stack socket) as `127.0.0.1`. */
export function plainAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped?.[1] ?? address;
}

function trusted(list: BlockList, address: string): boolean {
  const family = isIP(address);
  return family !== 0 && list.check(address, family === 6 ? "ipv6" : "ipv4");
}

/**
 * The client's address: the connection's peer, unless that peer is a trusted proxy; then the last address in
 * `X-Forwarded-For` that is not itself a trusted proxy (entries left of it could be written by the client). A header
 * from anyone else is ignored, so a client cannot pick the source its limits are counted against.
 */
export function sourceOf(req: IncomingMessage, trustedProxies: BlockList | undefined): string {
  const peer = plainAddress(req.socket.remoteAddress ?? "unknown");
  if (trustedProxies === undefined || !trusted(trustedProxies, peer)) return peer;
  const header = req.headers["x-forwarded-for"];
  const hops = (Array.isArray(header) ? header.join(",") : (header ?? "")).split(",").map((hop) => plainAddress(hop.trim())).filter((hop) => hop !== "");
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!;
    // An entry that is no address: believe nothing left of it.
    if (isIP(hop) === 0) return i === hops.length - 1 ? peer : hops[i + 1]!;
    if (!trusted(trustedProxies, hop)) return hop;
  }
  return hops[0] ?? peer;
}

/** Bytes of request bodies being read at once across the endpoint, and the most allowed. */
interface BodyBudget {
  inFlight: number;
  readonly max: number;
}

/** A request body being read: what came so far, and how its read ends. */
interface BodyRead {
  readonly limit: number;
  readonly budget: BodyBudget;
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

/**
 * Reads a request body of at most `limit` bytes as JSON: an HttpRefusal 413 past the limit, 503 past the endpoint's
 * budget for bodies being read at once (each may be large, and a client may send many at once), 400 when not JSON.
 */
function readBody(req: IncomingMessage, limit: number, budget: BodyBudget): Promise<unknown> {
  return new Promise((resolve, reject) => {
    bodies.set(req, { limit, budget, chunks: [], size: 0, resolve, reject });
    // `on`, not `once`: each `once` wraps its listener in a closure and a state object per POST, and these listeners
    // do nothing once the read has ended (stopReading forgets it), so being called again is harmless.
    req.on("data", takeBodyChunk).on("end", endBody).on("error", bodyFailed).on("aborted", bodyFailed);
  });
}

/** Stops reading a body: its bytes leave the budget; what is still to come is read and dropped. */
function stopReading(req: IncomingMessage, read: BodyRead): void {
  // Not destroyed: that resets the connection, and the client may see the reset instead of the refusal. The rest is
  // read and dropped, as node:http does with a body its handler never reads (its requestTimeout bounds an endless one).
  req.off("data", takeBodyChunk).off("end", endBody).resume();
  bodies.delete(req);
  read.budget.inFlight -= read.size;
  read.chunks.length = 0;
}

function takeBodyChunk(this: IncomingMessage, chunk: Buffer): void {
  const read = bodies.get(this);
  if (read === undefined) return;
  read.size += chunk.length;
  read.budget.inFlight += chunk.length;
  if (read.size > read.limit) {
    stopReading(this, read);
    read.reject(new HttpRefusal(413, -32000, `the request body exceeds ${read.limit} bytes`));
  } else if (read.budget.inFlight > read.budget.max) {
    stopReading(this, read);
    read.reject(new HttpRefusal(503, -32000, `the endpoint is reading more than ${read.budget.max} bytes of request bodies at once: try again`));
  } else {
    read.chunks.push(chunk);
  }
}

function bodyFailed(this: IncomingMessage, error?: unknown): void {
  const read = bodies.get(this);
  if (read === undefined) return;
  stopReading(this, read);
  read.reject(error instanceof Error ? error : new HttpRefusal(400, -32000, "the request was aborted"));
}

function endBody(this: IncomingMessage): void {
  const read = bodies.get(this);
  if (read === undefined) return;
  // Most bodies come in one chunk: decoded from it, not from a copy.
  const text = read.chunks.length === 1 ? read.chunks[0]!.toString("utf8") : Buffer.concat(read.chunks).toString("utf8");
  stopReading(this, read);
  try {
    read.resolve(JSON.parse(text));
  } catch {
    read.reject(new HttpRefusal(400, -32700, "Parse error: the request body is not JSON"));
  }
}

const idOf = (body: unknown): unknown => (body as { id?: unknown } | null)?.id ?? null;
const isInitialize = (body: unknown): boolean => (body as { method?: unknown } | null)?.method === "initialize";

/** Serves MCP over Streamable HTTP with the post-quantum session: every session starts with the session hello. */
export class SealedHttpEndpoint extends HttpEndpoint<PqcServerTransport> {
  private readonly transportOptions: PqcServerTransportOptions;

  constructor(options: SealedHttpEndpointOptions) {
    super(options);
    const {
      connect: _connect,
      connectSessionless: _sessionless,
      maxSessionlessInFlight: _sessionlessInFlight,
      maxSessions: _max,
      maxAnonymousSessions: _anonymous,
      maxSessionsPerSource: _perSource,
      maxOpeningSessions: _opening,
      idleTimeoutMs: _idle,
      evictableAfterIdleMs: _evictable,
      trustProxy: _proxies,
      maxBodyBytes: _body,
      maxBodyBytesInFlight: _bodies,
      allowedHosts: _hosts,
      answers: _answers,
      refusePeer: _refuse,
      onSessionError: _report,
      idleClock: _clock,
      ...transportOptions
    } = options;
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
  protected sessionlessRefusal(id: unknown): HttpRefusal {
    return new HttpRefusal(
      400,
      -32600,
      "this endpoint requires the pqguard post-quantum session, which a request of revision 2026-07-28 sent in the clear does not have: connect through `pqguard connect` (or PqcClientTransport), inside whose session the revision is served",
      id,
    );
  }

  /** @internal */
  protected wrap(inner: HttpSessionTransport, seat: (authenticated: boolean) => boolean, peer: string): PqcServerTransport {
    return new SeatedServerTransport(inner, { ...this.transportOptions, delivery: "unordered", peer }, seat);
  }

  /** @internal */
  protected seatedWhenInitialized(): boolean {
    return false;
  }

  /** @internal */
  protected clientsCanAuthenticate(options: HttpEndpointOptions<PqcServerTransport>): boolean {
    const sealed = options as SealedHttpEndpointOptions;
    return sealed.clientTrust !== undefined || sealed.keys?.clientTrust() !== undefined;
  }

  /** @internal */
  protected terminate(): Promise<void> {
    // Anyone who saw the session id could otherwise end a session cleanly after dropping its last frames, hiding the
    // truncation the sealed close would have shown. PqcClientTransport never sends a DELETE.
    throw new HttpRefusal(405, -32000, "a sealed session ends only with its sealed close: DELETE is refused", null, { allow: "GET, POST" });
  }
}

/** PqcServerTransport that tells the endpoint when its handshake is done, and whether the client authenticated. */
class SeatedServerTransport extends PqcServerTransport {
  constructor(
    inner: Transport,
    options: PqcServerTransportOptions,
    private readonly seat: (authenticated: boolean) => boolean,
  ) {
    super(inner, options);
  }

  /** @internal */
  protected override enableReceiving(session: EstablishedSession): void {
    // Seated before anything the client sent early is delivered: a refused session reaches no server.
    if (this.seat(session.info.client !== undefined)) super.enableReceiving(session);
  }
}

/** Serves plain MCP over Streamable HTTP (no post-quantum session): every session starts with `initialize`. */
export class PlainHttpEndpoint extends HttpEndpoint<ObservedTransport> {
  /** @internal */
  protected admit(body: unknown): void {
    if (!isInitialize(body)) throw new HttpRefusal(400, -32000, "Bad Request: no session; a session starts with `initialize`", idOf(body));
  }

  /** @internal */
  protected sessionlessRefusal(id: unknown): HttpRefusal {
    return new HttpRefusal(400, -32600, "this endpoint serves revision 2026-07-28 only when its server is given `connectSessionless`; connect with `initialize`", id);
  }

  /** @internal */
  protected wrap(inner: HttpSessionTransport): ObservedTransport {
    return new ObservedTransport(inner);
  }

  /** @internal */
  protected seatedWhenInitialized(): boolean {
    return true;
  }

  /** @internal */
  protected clientsCanAuthenticate(): boolean {
    return false;
  }

  /** @internal */
  protected async terminate(session: { readonly transport: TrackedTransport }, res: ServerResponse): Promise<void> {
    await session.transport.close();
    res.writeHead(200).end();
  }
}

/** Passes everything through to the inner transport and resolves `closed` when it closes. */
export class ObservedTransport implements TrackedTransport {
  // Declared, not fields, as HttpSessionTransport's: a tap's accessors must not replace own properties (enforce/tap.ts).
  declare onclose?: (() => void) | undefined;
  declare onerror?: ((error: Error) => void) | undefined;
  declare onmessage?: (<M extends JSONRPCMessage>(message: M, extra?: MessageExtraInfo) => void) | undefined;
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
