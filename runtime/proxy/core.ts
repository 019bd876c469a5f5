// The proxy core: serves any number of downstream MCP connections, each with an upstream MCP session of its own (or
// all with one shared), answering `initialize` and `tools/list` itself (from the pinned tool list), gating every
// `tools/call`, forwarding the other MCP requests, and routing the upstream's notifications and requests (elicitation,
// sampling, roots) to the client they are for.
import { setMaxListeners } from "node:events";
import type { Logger } from "pino";
import type { Transport, TransportSendOptions } from "@modelcontextprotocol/sdk/shared/transport.js";
import {
  LATEST_PROTOCOL_VERSION,
  SUPPORTED_PROTOCOL_VERSIONS,
  type ClientCapabilities,
  type JSONRPCMessage,
  type JSONRPCNotification,
  type RequestId,
  type Tool,
} from "@modelcontextprotocol/sdk/types.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import {
  defaultReachability,
  guardContextOf,
  historyKeyOf,
  SessionResolver,
  transportSessionInfo,
  type ApprovalCallback,
  type DecisionPoint,
  type SessionView,
  type Verdict,
} from "../enforce/index.js";
import type { CancelSignal } from "../enforce/decide.js";
import { Cancellation } from "../enforce/tap.js";
import { ProxyError, RPC_UPSTREAM_TIMEOUT, RPC_UPSTREAM_UNAVAILABLE } from "./errors.js";
import { errorReply, JSONRPC_INTERNAL_ERROR, JSONRPC_INVALID_PARAMS, JSONRPC_INVALID_REQUEST, JSONRPC_METHOD_NOT_FOUND } from "./framing.js";
import type { UpstreamRequest } from "./upstream.js";
import { readBudget, UpstreamSession, type UpstreamParts } from "./upstream-session.js";
import { isClientRequestMethod } from "./methods.js";
import { ResultGate } from "../enforce/links.js";
import { InOrder, LOG_MESSAGE, PROGRESS, ReturningCalls, type ReturningCall } from "../enforce/notifications.js";
import { checkModernRevision, LISTEN, modernGate, modernRevisionOf, ownResult, SUBSCRIPTION_ID_META_KEY } from "./modern.js";

/**
 * How long a human may take to approve an `ask` before the call is denied. The upstream then has its own call
 * timeout (DEFAULT_CALL_TIMEOUT_MS, 30 s), so an approved call is answered within 55 s: before a client with the MCP
 * SDK's default request timeout (60 s) gives up, with time left for the pin, the decisions and the transport.
 */
export const APPROVAL_TIMEOUT_MS = 25_000;
/** How long a client may take to answer a request forwarded from the upstream: a human may be answering it. */
export const CLIENT_REQUEST_TIMEOUT_MS = 55_000;
/** How much longer an approval question may wait than the decision's own deadline, which aborts it first. */
const APPROVAL_BACKSTOP_MS = 1_000;

/**
 * What the proxy declares to the upstream as its client: what it can forward. Whether a request is then forwarded
 * depends on the downstream client it is for; one that did not declare the capability gets a clear error instead.
 */
export const FORWARDED_CLIENT_CAPABILITIES: ClientCapabilities = { elicitation: { form: {}, url: {} }, sampling: {}, roots: {} };

/** The client capability a request from the upstream needs; undefined for methods the proxy does not forward. */
function neededCapability(method: string, params: Params): { readonly name: string; declared(capabilities: ClientCapabilities): boolean } | undefined {
  switch (method) {
    case "elicitation/create": {
      const url = params?.mode === "url";
      return {
        name: url ? "elicitation.url" : "elicitation.form",
        // An empty `elicitation` object means form mode, as before modes existed.
        declared: (c) => c.elicitation !== undefined && (url ? c.elicitation.url !== undefined : c.elicitation.form !== undefined || Object.keys(c.elicitation).length === 0),
      };
    }
    case "sampling/createMessage": {
      const tools = params?.tools !== undefined || params?.toolChoice !== undefined;
      return { name: tools ? "sampling.tools" : "sampling", declared: (c) => c.sampling !== undefined && (!tools || c.sampling.tools !== undefined) };
    }
    case "roots/list":
      return { name: "roots", declared: (c) => c.roots !== undefined };
    default:
      return undefined;
  }
}

function notForwarded(message: string, rpcCode: number): ProxyError {
  return new ProxyError("PQG8008", message, rpcCode, { code: "PQG8008" });
}

/**
 * How clients share the upstream server. `per-session`: each downstream client has its own upstream MCP session (its
 * own child process for a command, its own HTTP session for a URL), so notifications, requests, roots, logging levels
 * and subscriptions flow only between the two ends of one session. `shared`: one upstream session for every client,
 * for servers whose state must be one; each message goes to the one client it concerns, and what concerns nobody is
 * dropped.
 */
export type UpstreamMode = "per-session" | "shared";

/**
 * Most upstream sessions open at once in per-session mode: each may be a server process (tens of MB), so a flood of
 * clients cannot exhaust the machine. A client past it is answered with PQG8011 on every request.
 */
export const MAX_UPSTREAM_SESSIONS = 32;

/**
 * Requests one client may have in flight at once: far above what an agent runs in parallel, low enough that one
 * client cannot queue unbounded work (and memory) on the proxy and its server. Past it a request is refused (PQG8012).
 */
export const MAX_REQUESTS_IN_FLIGHT = 256;

/**
 * How long the refusal of a sessionless request stands once the upstream did not speak the revision: its server is not
 * started again for every such request (each start of a command is a process), yet an upgraded server is found.
 */
export const SESSIONLESS_REFUSAL_KEPT_MS = 60_000;

/**
 * How long the proxy's own `subscriptions/listen` request upstream may stay open: as long as a timer can wait (about 24
 * days). It is no call anybody waits for; a restart or close of the server ends it first.
 */
const UPSTREAM_LISTEN_TIMEOUT_MS = 2_147_483_647;
/** How long after its change subscription ended the proxy asks the server for a new one: never in a tight loop. */
const UPSTREAM_RELISTEN_DELAY_MS = 5_000;

/**
 * Change subscriptions (`subscriptions/listen` streams) open at once through the proxy, all clients together: each holds
 * a request open for as long as its client wants, so a client cannot take every request slot with them.
 */
export const MAX_LISTEN_SUBSCRIPTIONS = 64;

/** The controller every open change subscription listens to (one listener each, up to MAX_LISTEN_SUBSCRIPTIONS). */
function subscriptionsEnd(): AbortController {
  const controller = new AbortController();
  setMaxListeners(MAX_LISTEN_SUBSCRIPTIONS + 1, controller.signal);
  return controller;
}

/** The events of one upstream supervisor, wired by the core to the session they belong to. */
export interface UpstreamEvents {
  onReady(): void;
  onNotification(notification: JSONRPCNotification): void;
  onRequest(request: UpstreamRequest, signal: AbortSignal): Promise<unknown>;
}

export interface ProxyCoreOptions {
  /**
   * Makes the parts of a new upstream session: a supervisor wired to `events`, and a fresh pin. `modern`: the
   * stateless revision (2026-07-28) the session speaks instead of `initialize` (runtime/proxy/modern.ts).
   */
  readonly openUpstream: (events: UpstreamEvents, modern?: string) => UpstreamParts;
  /** `per-session` by default. */
  readonly upstreamMode?: UpstreamMode | undefined;
  /** MAX_UPSTREAM_SESSIONS by default. */
  readonly maxUpstreams?: number | undefined;
  /** The enforcement module's decision pipeline: guard, history, approval and audit. */
  readonly decisions: DecisionPoint;
  readonly logger: Logger;
  /** Overrides asking the downstream client (MCP elicitation) for approval of `ask` decisions. */
  readonly approver?: ApprovalCallback | undefined;
  /** Called with each decision, e.g. to log it; never affects the outcome. */
  readonly onDecision?: ((tool: string, verdict: Verdict) => void) | undefined;
  /** How long a client may take to answer a request forwarded from the upstream; CLIENT_REQUEST_TIMEOUT_MS by default. */
  readonly clientRequestTimeoutMs?: number | undefined;
  /** How long the approval question to the client may take; APPROVAL_TIMEOUT_MS by default. */
  readonly approvalTimeoutMs?: number | undefined;
}

/** Where a connection's session facts come from at each call. */
export type SessionSourceOf = () => SessionView | undefined;

/** The `params` of a JSON-RPC request or notification. */
export type Params = Record<string, unknown> | undefined;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export class ProxyCore {
  readonly #options: ProxyCoreOptions;
  readonly #log: Logger;
  readonly #connections = new Set<ProxyConnection>();
  readonly #reachable: (tool: string, context: Parameters<ReturnType<typeof defaultReachability>>[1]) => boolean;
  readonly #upstreams = new Set<UpstreamSession>();
  /** Per-session mode: requests of an upstream session waiting for its client to connect and initialize. */
  readonly #awaitingClient = new Map<UpstreamSession, Set<() => void>>();
  /** The upstream session opened at set-up: the shared one, or in per-session mode the first client's. */
  readonly #initial: UpstreamSession;
  /** Per-session mode: the initial session once start() has checked it, until a client takes it. */
  #spare: UpstreamSession | undefined;
  /** Shared mode: the one upstream session of the clients of the stateless revision, opened for the first of them. */
  #modern: UpstreamSession | undefined;
  /** Per-session mode: the one upstream session of sessionless requests (runtime/transport/http-sessionless.ts). */
  #sessionless: UpstreamSession | undefined;
  /** Until when (decision clock, ms) the sessionless upstream's refusal of the revision stands. */
  #sessionlessRefusedUntil = 0;
  #nextConnection = 0;
  #nextUpstream = 0;
  /** Change subscriptions open through the proxy (MAX_LISTEN_SUBSCRIPTIONS at most). */
  #listening = 0;
  /** Aborted when the proxy stops serving change subscriptions (it drains): they end, each with its closing result. */
  readonly #subscriptionsEnd = subscriptionsEnd();
  /** The number of the latest `subscriptions/listen` stream each modern upstream session opened. */
  readonly #upstreamListens = new WeakMap<UpstreamSession, number>();

  constructor(options: ProxyCoreOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: "proxy" });
    this.#reachable = defaultReachability(options.decisions.guard);
    this.results = new ResultGate(options.decisions, (error, text) => new Refusal(error, text));
    this.#initial = this.#open();
  }

  /** The result stage's part that is the proxy's own: the links a result hands out, and the reads of them. */
  readonly results: ResultGate;

  get mode(): UpstreamMode {
    return this.#options.upstreamMode ?? "per-session";
  }

  get options(): ProxyCoreOptions {
    return this.#options;
  }

  get logger(): Logger {
    return this.#log;
  }

  /** The upstream sessions open now. */
  get upstreams(): readonly UpstreamSession[] {
    return [...this.#upstreams];
  }

  /**
   * Starts the initial upstream session and pins its tool list, so that a server that cannot start, or a pin that
   * cannot be read, is found before any client depends on it. In per-session mode the first client is served by it.
   */
  async start(): Promise<void> {
    await this.#initial.start();
    // Handed to a client only once checked: a client that fails (a refused handshake) cannot take the check with it.
    if (this.mode === "per-session" && !this.#initial.closed && this.#connectionsOf(this.#initial).length === 0) this.#spare = this.#initial;
  }

  /** The upstream session opened at set-up: the shared one, or in per-session mode the first client's (maybe closed). */
  get initialUpstream(): UpstreamSession {
    return this.#initial;
  }

  #open(modern?: string): UpstreamSession {
    let session: UpstreamSession | undefined;
    const parts = this.#options.openUpstream({
      onReady: () => {
        session?.ready();
        if (session !== undefined && modern !== undefined) this.#listenUpstream(session);
      },
      onNotification: (notification) => {
        if (session !== undefined) this.#upstreamNotification(session, notification);
      },
      onRequest: (request, signal) =>
        session === undefined
          ? Promise.reject(notForwarded("the proxy is not serving clients yet", RPC_UPSTREAM_UNAVAILABLE))
          : this.#upstreamRequest(session, request.method, request.params, signal),
    }, modern);
    session = new UpstreamSession(++this.#nextUpstream, parts, this.#log);
    this.#upstreams.add(session);
    return session;
  }

  /**
   * A modern upstream session announces tool list changes only on a `subscriptions/listen` stream: the proxy opens one
   * after every (re)start, when the server offers `tools.listChanged`, so that it re-pins and tells its own listeners.
   * A stream the server ends (or refuses) while it stays up is opened again after UPSTREAM_RELISTEN_DELAY_MS; a
   * change announced in between is caught by the recheck timer, as a silent one is.
   */
  #listenUpstream(session: UpstreamSession): void {
    const tools = session.supervisor.discoverResult?.capabilities.tools as { listChanged?: unknown } | undefined;
    if (tools?.listChanged !== true) return;
    // The latest stream of the session: one ended by a restart is not reopened, since the restart opened its successor.
    const stream = (this.#upstreamListens.get(session) ?? 0) + 1;
    this.#upstreamListens.set(session, stream);
    const reopen = (): void => {
      const timer = setTimeout(() => {
        if (!session.closed && session.supervisor.ready && this.#upstreamListens.get(session) === stream) this.#listenUpstream(session);
      }, UPSTREAM_RELISTEN_DELAY_MS);
      timer.unref?.();
    };
    session.supervisor.request(LISTEN, { notifications: { toolsListChanged: true } }, UPSTREAM_LISTEN_TIMEOUT_MS).then(reopen, (error: unknown) => {
      this.#log.debug({ upstream: session.id, err: String(error) }, "the upstream's change subscription ended");
      reopen();
    });
  }

  /** The upstream session a new connection is served by; undefined when per-session mode is at its bound. */
  #upstreamForNewConnection(): UpstreamSession | undefined {
    if (this.mode === "shared") return this.#initial;
    const spare = this.#spare;
    if (spare !== undefined) {
      this.#spare = undefined;
      spare.start().catch((error: unknown) => this.#log.error({ upstream: spare.id, err: String(error) }, "upstream session did not start"));
      return spare;
    }
    const max = this.#options.maxUpstreams ?? MAX_UPSTREAM_SESSIONS;
    if (this.#upstreams.size >= max) {
      this.#log.warn({ max }, "refused a client: every upstream session is taken");
      return undefined;
    }
    const session = this.#open();
    session.start().catch((error: unknown) => this.#log.error({ upstream: session.id, err: String(error) }, "upstream session did not start"));
    return session;
  }

  async #closeUpstream(session: UpstreamSession): Promise<void> {
    for (const go of this.#awaitingClient.get(session) ?? []) go();
    this.#awaitingClient.delete(session);
    if (this.#spare === session) this.#spare = undefined;
    // Counted against the bound until it has stopped: a server may take its grace period to exit.
    try {
      await session.close();
    } finally {
      this.#upstreams.delete(session);
    }
  }

  #connectionsOf(session: UpstreamSession): ProxyConnection[] {
    return [...this.#connections].filter((connection) => connection.upstream === session);
  }

  /** The tools a session may see: those pinned for its upstream session that some rule could permit it to call. */
  async visibleTools(upstream: UpstreamSession, session: SessionView | undefined): Promise<Tool[]> {
    // Taken as the pin is current: a change announced while the history is read must not change what is shown.
    const pinned = await upstream.withPin((pin) => pin.visibleTools());
    if (session === undefined) return [];
    const decisions = this.#options.decisions;
    const now = decisions.now();
    const context = guardContextOf(session, await decisions.store.snapshot(historyKeyOf(session), now), now);
    return pinned.filter((tool) => {
      try {
        return this.#reachable(tool.name, context);
      } catch {
        return false; // a guard that cannot decide hides the tool, as it would refuse the call
      }
    });
  }

  /** Reads every open upstream session's tool list again (a silent change announces nothing); failures are logged. */
  recheckTools(): void {
    for (const session of this.#upstreams) {
      if (!session.supervisor.ready) continue;
      session.recheckTools().catch((error: unknown) => this.#log.warn({ upstream: session.id, err: String(error) }, "tool list could not be read again"));
    }
  }

  /**
   * An upstream session's notification goes to the client or clients it concerns: a tool list change is pinned
   * before they hear of it; progress goes to the call that asked for it; in per-session mode everything else goes to
   * the session's one client. In shared mode a log message goes to the one client with calls in flight (else nobody),
   * a resource update to the clients subscribed to it, and a list change of resources or prompts to every client.
   */
  #upstreamNotification(session: UpstreamSession, notification: JSONRPCNotification): void {
    const meta = notification.params?._meta;
    const subscribed = isObject(meta) && meta[SUBSCRIPTION_ID_META_KEY] !== undefined;
    // The proxy's own change subscription: its acknowledgement and anything but a tool list change are its own.
    if (subscribed && notification.method !== "notifications/tools/list_changed") return;
    const all = this.#connectionsOf(session);
    // A sessionless request hears only what concerns it: the progress of its own call.
    const connections = notification.method === "notifications/progress" ? all : all.filter((connection) => !connection.sessionless);
    if (notification.method === "notifications/tools/list_changed") {
      session.toolsChanged();
      void session.refreshTools().then(
        () => {
          for (const connection of this.#connectionsOf(session)) {
            // A client of the stateless revision hears of it on its own `subscriptions/listen` streams, if it opened any.
            if (session.supervisor.modern !== undefined) connection.toolsListChanged();
            else connection.forwardNotification(notification);
          }
        },
        (error: unknown) => this.#log.error({ upstream: session.id, err: String(error) }, "tool list could not be pinned"),
      );
      return;
    }
    if (notification.method === "notifications/progress") {
      for (const connection of connections) if (connection.deliverProgress(notification)) return;
      return;
    }
    for (const connection of this.#recipients(connections, notification)) connection.forwardNotification(notification);
  }

  #recipients(connections: ProxyConnection[], notification: JSONRPCNotification): ProxyConnection[] {
    if (this.mode === "per-session") return connections;
    switch (notification.method) {
      case "notifications/message":
        // A log line names no request: it is known to be a client's only while that client is the server's only one.
        return connections.length === 1 ? connections : [];
      case "notifications/resources/updated":
        return connections.filter((connection) => connection.subscribedTo(notification.params?.uri));
      case "notifications/resources/list_changed":
      case "notifications/prompts/list_changed":
        return connections;
      default:
        return [];
    }
  }

  /**
   * A request the upstream sent to its client (elicitation, sampling, roots): forwarded to the one downstream client
   * it can be for, when that client declared the capability it needs, and its answer relayed back. In per-session mode
   * that is the session's client; in shared mode the one with calls in flight upstream (the request is made while
   * serving one of them), else the only one connected; with several candidates the proxy refuses rather than ask the
   * wrong human.
   */
  async #upstreamRequest(session: UpstreamSession, method: string, params: Params, signal: AbortSignal): Promise<unknown> {
    const needed = neededCapability(method, params);
    if (needed === undefined) throw notForwarded(`method \`${method}\` is not offered by the proxy`, JSONRPC_METHOD_NOT_FOUND);
    // A server may ask as soon as it starts (roots, say), before its client connected or said what it can do: in
    // per-session mode that client is the one the request is for, so the request waits for it, within the timeout.
    if (this.mode === "per-session") await this.#clientInitialized(session, signal);
    // The sessionless revision has no requests from the server to its client (they ride in results instead).
    const open = this.#connectionsOf(session).filter((connection) => !connection.sessionless);
    const busy = open.filter((connection) => connection.busy);
    const candidates = busy.length > 0 ? busy : open;
    if (candidates.length === 0) throw notForwarded(`no client is connected to the proxy to answer \`${method}\``, RPC_UPSTREAM_UNAVAILABLE);
    if (candidates.length > 1) {
      const which = busy.length > 0 ? "have calls in flight" : "are connected";
      throw notForwarded(`${candidates.length} clients ${which}, so the proxy cannot tell which one \`${method}\` is for`, RPC_UPSTREAM_UNAVAILABLE);
    }
    const connection = candidates[0]!;
    if (!needed.declared(connection.capabilities)) {
      throw notForwarded(`the client did not declare the \`${needed.name}\` capability, so \`${method}\` cannot be forwarded to it`, JSONRPC_METHOD_NOT_FOUND);
    }
    this.#log.info({ connection: connection.id, upstream: session.id, method }, "forwarding a request from the upstream to its client");
    return connection.request(method, params, this.#options.clientRequestTimeoutMs ?? CLIENT_REQUEST_TIMEOUT_MS, signal);
  }

  /** Resolves once a client of `session` has initialized, or when `signal` aborts or the client request timeout passes. */
  async #clientInitialized(session: UpstreamSession, signal: AbortSignal): Promise<void> {
    const ready = this.#connectionsOf(session).find((connection) => connection.initialized);
    if (ready !== undefined) return;
    const timeoutMs = this.#options.clientRequestTimeoutMs ?? CLIENT_REQUEST_TIMEOUT_MS;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        this.#awaitingClient.get(session)?.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      signal.addEventListener("abort", done, { once: true });
      const waiting = this.#awaitingClient.get(session) ?? new Set<() => void>();
      waiting.add(done);
      this.#awaitingClient.set(session, waiting);
    });
  }

  /** Called by a connection once its client initialized: requests its upstream session made meanwhile go ahead. */
  clientInitialized(connection: ProxyConnection): void {
    const upstream = connection.upstream;
    if (upstream === undefined) return;
    const waiting = this.#awaitingClient.get(upstream);
    this.#awaitingClient.delete(upstream);
    for (const go of waiting ?? []) go();
  }

  /** Shared mode: the clients subscribed to `uri`. */
  subscribersOf(uri: string): ProxyConnection[] {
    return [...this.#connections].filter((connection) => connection.subscribedTo(uri));
  }

  /** Whether `connection` is the only client of its upstream session (a client notice then concerns nobody else). */
  soleClientOf(connection: ProxyConnection): boolean {
    const upstream = connection.upstream;
    return upstream !== undefined && this.#connectionsOf(upstream).length === 1;
  }

  /** Serves a post-quantum sealed connection: calls are decided on the session its handshake established. */
  attachSealed(transport: Transport): Promise<ProxyConnection> {
    const resolver = new SessionResolver(() => transportSessionInfo(transport), false, this.#options.decisions.now);
    return this.attach(transport, () => resolver.current());
  }

  /** Serves a plain connection: guards see an unauthenticated client on a classical transport. */
  attachPlain(transport: Transport): Promise<ProxyConnection> {
    const resolver = new SessionResolver(() => undefined, true, this.#options.decisions.now);
    return this.attach(transport, () => resolver.current());
  }

  /**
   * Serves one request of the sessionless revision (2026-07-28) that came with no session (a POST to the plain HTTP
   * listener), as a connection of its own that ends with its answer. Its upstream session is the one every such request
   * shares; the guard sees an unauthenticated client whose session is this request alone (`per client` and global
   * counts hold across requests; a policy reading session state refuses it, PQG7317).
   */
  attachSessionless(transport: Transport): Promise<ProxyConnection> {
    const resolver = new SessionResolver(() => undefined, true, this.#options.decisions.now, true);
    return this.attach(transport, () => resolver.current(), true);
  }

  /**
   * Serves one downstream connection until its transport closes. Its upstream session is bound at its first request
   * other than `ping` (in per-session mode one of its own), not here: a connection that never gets that far (a stalled handshake, a
   * stray POST) costs no server process.
   */
  async attach(transport: Transport, session: SessionSourceOf, sessionless = false): Promise<ProxyConnection> {
    const connection = new ProxyConnection(this, transport, session, ++this.#nextConnection, sessionless);
    this.#connections.add(connection);
    transport.onclose = () => {
      this.#connections.delete(connection);
      connection.closed();
      const upstream = connection.upstream;
      if (sessionless) return;
      if (upstream !== undefined && this.mode === "shared") this.#releaseSubscriptions(connection, upstream);
      if (upstream !== undefined && this.mode === "per-session") {
        this.#closeUpstream(upstream).catch((error: unknown) => this.#log.warn({ upstream: upstream.id, err: String(error) }, "upstream session did not close cleanly"));
      }
    };
    await transport.start();
    return connection;
  }

  /** A shared-mode client left: the resources nobody else subscribed to are unsubscribed on the server. */
  #releaseSubscriptions(connection: ProxyConnection, upstream: UpstreamSession): void {
    for (const uri of connection.subscriptions) {
      if (this.subscribersOf(uri).length > 0) continue;
      upstream.supervisor.request("resources/unsubscribe", { uri }).catch((error: unknown) => this.#log.debug({ uri, err: String(error) }, "unsubscribe on disconnect failed"));
    }
  }

  /**
   * The upstream session for a client of the stateless revision `revision`, started here (its start discovers whether
   * the upstream speaks it): in per-session mode one of its own, in shared mode the one such clients share; undefined
   * when per-session mode is at its bound.
   */
  modernUpstreamFor(method: string, revision: string): UpstreamSession | undefined {
    checkModernRevision(method, revision);
    if (this.mode === "shared" && this.#modern !== undefined) return this.#modern;
    if (this.mode === "per-session" && this.#upstreams.size >= (this.#options.maxUpstreams ?? MAX_UPSTREAM_SESSIONS)) return undefined;
    const session = this.#open(revision);
    session.start().catch((error: unknown) => this.#log.info({ upstream: session.id, err: String(error) }, "stateless upstream session did not start"));
    if (this.mode === "shared") this.#modern = session;
    return session;
  }

  /**
   * The upstream session every sessionless request shares (the revision keeps no state between requests, so one
   * serves them all): in shared mode the one clients of the revision share, in per-session mode one of its own. An
   * upstream that did not speak the revision is not asked again for SESSIONLESS_REFUSAL_KEPT_MS: its refusal stands.
   */
  sessionlessUpstreamFor(method: string, revision: string): UpstreamSession | undefined {
    if (this.mode === "shared") return this.modernUpstreamFor(method, revision);
    checkModernRevision(method, revision);
    const held = this.#sessionless;
    if (held !== undefined && (!held.closed || this.#options.decisions.now() < this.#sessionlessRefusedUntil)) return held;
    if (this.#upstreams.size >= (this.#options.maxUpstreams ?? MAX_UPSTREAM_SESSIONS)) return undefined;
    const session = this.#open(revision);
    session.start().catch((error: unknown) => this.#log.info({ upstream: session.id, err: String(error) }, "sessionless upstream session did not start"));
    this.#sessionless = session;
    return session;
  }

  /** The sessionless upstream session did not speak the revision: closed, and its refusal kept for a while. */
  #refusedSessionless(session: UpstreamSession): void {
    this.#sessionlessRefusedUntil = this.#options.decisions.now() + SESSIONLESS_REFUSAL_KEPT_MS;
    this.#closeUpstream(session).catch((error: unknown) => this.#log.warn({ upstream: session.id, err: String(error) }, "upstream session did not close cleanly"));
  }

  /** A connection gives up the stateless session it was refused on (it may `initialize` next): closed if its own. */
  releaseUpstream(session: UpstreamSession): void {
    if (this.mode === "shared") return;
    if (session === this.#sessionless) {
      if (!session.closed) this.#refusedSessionless(session);
      return;
    }
    this.#closeUpstream(session).catch((error: unknown) => this.#log.warn({ upstream: session.id, err: String(error) }, "upstream session did not close cleanly"));
  }

  /**
   * Ends every change subscription with its closing result (the revision's graceful end, after which a client may
   * listen again elsewhere), and answers new ones so at once: a draining proxy is not held open by them.
   */
  endSubscriptions(): void {
    this.#subscriptionsEnd.abort();
  }

  /** Aborted once `endSubscriptions` was called. */
  get subscriptionsEnd(): AbortSignal {
    return this.#subscriptionsEnd.signal;
  }

  /** Takes a change subscription's slot; false when all MAX_LISTEN_SUBSCRIPTIONS are taken. */
  openListen(): boolean {
    if (this.#listening >= MAX_LISTEN_SUBSCRIPTIONS) return false;
    this.#listening += 1;
    return true;
  }

  /** Gives a change subscription's slot back. */
  closeListen(): void {
    this.#listening -= 1;
  }

  /** The upstream session for a connection that is initializing; undefined when per-session mode is at its bound. */
  upstreamFor(connection: ProxyConnection): UpstreamSession | undefined {
    return connection.upstream ?? this.#upstreamForNewConnection();
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.#connections].map((c) => c.transport.close()));
    await Promise.allSettled([...this.#upstreams].map((session) => this.#closeUpstream(session)));
  }
}


export class ProxyConnection {
  readonly #core: ProxyCore;
  readonly transport: Transport;
  readonly #session: SessionSourceOf;
  readonly id: number;
  /** Downstream request id → upstream id, for cancellations. */
  readonly #inFlight = new Map<RequestId, number>();
  /** Requests being served, by downstream id: aborted when the client cancels, which also stops their reply. */
  readonly #serving = new Map<RequestId, Cancellation>();
  /** Progress token sent upstream (the client's own, or renamed in shared mode) → the client's token and its request. */
  readonly #progress = new Map<string, { readonly token: string | number; readonly request: RequestId }>();
  /** Tool calls forwarded and not yet answered, under result rules: their progress and the log lines sent meanwhile are inspected as their results. */
  readonly #returning = new ReturningCalls();
  /** Progress and log messages under result rules reach the client in the order the upstream sent them, and before the result they preceded. */
  readonly #inOrder = new InOrder();
  /** Resources this client subscribed to through the proxy: shared mode sends it their updates only. */
  readonly #subscriptions = new Set<string>();
  /** The upstream session serving this client, bound at its first request; undefined before (or when none was free). */
  #upstream: UpstreamSession | undefined;
  /** Requests the proxy sent to the client, by the id it gave them: called with the reply, or undefined on disconnect. */
  readonly #asked = new Map<string, (reply: Record<string, unknown> | undefined) => void>();
  /** The sessions this connection's calls were decided on: ended in the call history when its transport closes. */
  readonly #sessions = new Set<string>();
  /** Its open change subscriptions (`subscriptions/listen`), by the id of the request that opened each. */
  readonly #listens = new Set<RequestId>();
  #clientCapabilities: ClientCapabilities = {};
  #initialized = false;
  #nextOwnId = 0;
  #open = true;

  constructor(
    core: ProxyCore,
    transport: Transport,
    session: SessionSourceOf,
    id: number,
    /** One request of the sessionless revision (2026-07-28), on an upstream session every such request shares. */
    readonly sessionless = false,
  ) {
    this.#core = core;
    this.transport = transport;
    this.#session = session;
    this.id = id;
    transport.onmessage = (message: JSONRPCMessage) => this.#onMessage(message);
    transport.onerror = (error: Error) => core.logger.debug({ connection: id, err: error.message }, "downstream transport error");
  }

  closed(): void {
    this.#open = false;
    // A sessionless request's upstream session serves others: its call, which nobody waits for now, is cancelled there.
    if (this.sessionless) for (const upstreamId of this.#inFlight.values()) this.#upstream?.supervisor.cancel(upstreamId, "the client closed its request");
    for (const settle of [...this.#asked.values()]) settle(undefined);
    this.#asked.clear();
    // Nobody waits for these calls' results any more: one still being decided (an approval) is refused, not run.
    for (const cancellation of this.#serving.values()) cancellation.abort();
    // Without this every session stays in the store until idle past the retention period, and short sessions fill
    // its session bound. The decision point waits for decisions still in flight (an approval) before ending one.
    for (const id of this.#sessions) {
      this.#core.options.decisions.endSession(id);
      this.#core.results.endSession(id);
    }
    this.#sessions.clear();
  }

  get upstream(): UpstreamSession | undefined {
    return this.#upstream;
  }

  /** Whether the client said `initialized`: its capabilities are known and it takes requests. */
  get initialized(): boolean {
    return this.#initialized;
  }

  /** The capabilities the client declared in its `initialize`. */
  get capabilities(): ClientCapabilities {
    return this.#clientCapabilities;
  }

  /** Whether calls of this client are in flight upstream. */
  get busy(): boolean {
    return this.#inFlight.size > 0;
  }

  /**
   * Sends a request to this client and resolves with its result. Rejects with a ProxyError: PQG8009 carrying the
   * client's own error, or PQG8008 when it does not answer in time, disconnects, or `signal` aborts; the client is
   * told (`notifications/cancelled`) when the proxy stops waiting.
   */
  request(method: string, params: Params, timeoutMs: number, signal?: AbortSignal): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (!this.#open || signal?.aborted === true) {
        reject(notForwarded(`the client could not be asked \`${method}\`: it is gone or the request was withdrawn`, RPC_UPSTREAM_UNAVAILABLE));
        return;
      }
      const id = `pqguard-${++this.#nextOwnId}`;
      const stop = (reason: string, error: ProxyError): void => {
        finish();
        this.#send({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: id, reason } });
        reject(error);
      };
      const onAbort = (): void => stop("withdrawn by the server", notForwarded(`\`${method}\` was withdrawn before the client answered`, RPC_UPSTREAM_UNAVAILABLE));
      const timer = setTimeout(
        () => stop("timed out in the proxy", notForwarded(`the client did not answer \`${method}\` within ${timeoutMs} ms`, RPC_UPSTREAM_TIMEOUT)),
        timeoutMs,
      );
      const finish = (): void => {
        clearTimeout(timer);
        this.#asked.delete(id);
        signal?.removeEventListener("abort", onAbort);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#asked.set(id, (reply) => {
        finish();
        if (reply === undefined) reject(notForwarded(`the client disconnected before it answered \`${method}\``, RPC_UPSTREAM_UNAVAILABLE));
        else if (isObject(reply.error)) {
          const error = reply.error;
          reject(new ProxyError("PQG8009", String(error.message), typeof error.code === "number" ? error.code : JSONRPC_INTERNAL_ERROR, error.data));
        } else resolve(reply.result);
      });
      this.#send(params === undefined ? { jsonrpc: "2.0", id, method } : { jsonrpc: "2.0", id, method, params });
    });
  }

  #send(message: JSONRPCMessage | ReturnType<typeof errorReply>, options?: TransportSendOptions): void {
    if (!this.#open) return;
    // The SDK's message type has no `id: null`; a parse-error reply is still a valid JSON-RPC message.
    this.transport.send(message as JSONRPCMessage, options).catch((error: unknown) => {
      this.#core.logger.debug({ connection: this.id, err: String(error) }, "reply could not be sent");
    });
  }

  /**
   * Sends a notification from the upstream. In per-session mode one the server sends while exactly one request of
   * this client is in flight is sent as part of that request, so over Streamable HTTP it arrives on the request's own
   * stream, before its result, as it would without the proxy.
   */
  forwardNotification(notification: JSONRPCNotification): void {
    const serving = this.#core.mode === "per-session" && this.#inFlight.size === 1 ? [...this.#inFlight.keys()][0] : undefined;
    const options = serving === undefined ? undefined : { relatedRequestId: serving };
    if (notification.method !== LOG_MESSAGE || !this.#core.options.decisions.inspectsResults) {
      this.#send(notification, options);
      return;
    }
    void this.#inOrder.queue(this.#inspected(notification), (inspected) => {
      if (inspected !== undefined) this.#send(inspected, options);
    });
  }

  /** Delivers a progress notification if one of this connection's requests asked for it: its own token, its stream. */
  deliverProgress(notification: JSONRPCNotification): boolean {
    const owner = this.#progress.get(String(notification.params?.progressToken));
    if (owner === undefined) return false;
    void this.#inOrder.queue(this.#inspected(notification), (inspected) => {
      if (inspected !== undefined) this.#send({ ...inspected, params: { ...inspected.params, progressToken: owner.token } }, { relatedRequestId: owner.request });
    });
    return true;
  }

  /**
   * A progress or log notification as the result rules leave it (undefined: dropped), inspected as a result of the call
   * it reports on (by its upstream progress token) or of every tool call in flight; anything else as it is.
   */
  #inspected(notification: JSONRPCNotification): Promise<JSONRPCNotification | undefined> {
    const decisions = this.#core.options.decisions;
    if (!decisions.inspectsResults || (notification.method !== PROGRESS && notification.method !== LOG_MESSAGE)) return Promise.resolve(notification);
    return decisions.inspectNotification(notification, this.#returning.owners(notification), this.#session()) as Promise<JSONRPCNotification | undefined>;
  }

  /** Whether this client subscribed to updates of the resource `uri`. */
  subscribedTo(uri: unknown): boolean {
    return typeof uri === "string" && this.#subscriptions.has(uri);
  }

  #onMessage(message: JSONRPCMessage): void {
    try {
      this.#dispatch(message);
    } catch (error) {
      // A message shaped as no handler expects (a sealed record is only checked for `jsonrpc`): dropped, never a crash.
      this.#core.logger.warn({ connection: this.id, err: String(error) }, "dropped a malformed message from the client");
    }
  }

  #dispatch(message: JSONRPCMessage): void {
    const raw = message as Record<string, unknown>;
    if (!isObject(raw)) return;
    if (raw.params !== undefined && !isObject(raw.params)) {
      if ("id" in raw && typeof raw.method === "string") this.#send(errorReply(raw.id as RequestId, JSONRPC_INVALID_PARAMS, "invalid params: `params` must be an object"));
      return;
    }
    if (typeof raw.method === "string") {
      if ("id" in raw) void this.#onRequest(raw.id as RequestId, raw.method, raw.params as Params);
      else this.#onNotification(raw.method, raw.params as Params);
      return;
    }
    const resolve = this.#asked.get(String(raw.id));
    if (resolve !== undefined) {
      this.#asked.delete(String(raw.id));
      resolve(raw);
    }
  }

  #onNotification(method: string, params: Params): void {
    if (method === "notifications/cancelled" && isObject(params)) {
      this.#serving.get(params.requestId as RequestId)?.abort();
      const upstreamId = this.#inFlight.get(params.requestId as RequestId);
      if (upstreamId !== undefined) this.upstream?.supervisor.cancel(upstreamId, String(params.reason ?? "cancelled by the client"));
      return;
    }
    // The client is ready for requests (MCP: not before `initialized`): the server's waiting ones go ahead.
    if (method === "notifications/initialized" && !this.#initialized) {
      this.#initialized = true;
      this.#core.clientInitialized(this);
      return;
    }
    // A change of the client's roots is the upstream's to hear when the upstream session is this client's alone (in
    // shared mode, roots are asked of the one client a request concerns, so a change by one is not everyone's).
    // `initialized` concerns the client's session with the proxy, which the proxy holds itself.
    if (method === "notifications/roots/list_changed" && this.#core.soleClientOf(this)) this.upstream?.supervisor.notify(method, params);
  }

  async #onRequest(id: RequestId, method: string, params: Params): Promise<void> {
    if (this.#serving.size >= MAX_REQUESTS_IN_FLIGHT) {
      this.#send(errorReply(id, RPC_UPSTREAM_UNAVAILABLE, `more than ${MAX_REQUESTS_IN_FLIGHT} requests of this client are in flight; wait for some to be answered`, { code: "PQG8012" }));
      return;
    }
    // An id names one request in flight (MCP: never reused in a session). Taken over, the one in flight would lose its
    // cancellation: left running after the client is gone (an approval, a change subscription's slot) and uncounted.
    if (this.#serving.has(id)) {
      this.#send(errorReply(id, JSONRPC_INVALID_REQUEST, `invalid request: request id ${JSON.stringify(id)} is already in flight on this connection`, { code: "PQG8022" }));
      return;
    }
    // A plain listener list rather than an AbortController (an EventTarget) per request: most are never cancelled.
    const cancelled = new Cancellation();
    this.#serving.set(id, cancelled);
    let reply: JSONRPCMessage | ReturnType<typeof errorReply>;
    try {
      reply = { jsonrpc: "2.0", id, result: (await this.#handle(id, method, params, cancelled)) as Record<string, unknown> };
    } catch (error) {
      if (error instanceof ProxyError) reply = errorReply(id, error.rpcCode, error.message, error.data);
      else if (error instanceof Refusal) reply = errorReply(id, error.rpcCode, error.text, error.data);
      else {
        this.#core.logger.error({ err: String(error), method }, "request failed inside the proxy");
        reply = errorReply(id, JSONRPC_INTERNAL_ERROR, "internal error in the proxy");
      }
    } finally {
      if (this.#serving.get(id) === cancelled) this.#serving.delete(id);
    }
    // MCP: a cancelled request gets no response; the client has forgotten its id and would take one for another's.
    if (!cancelled.aborted) this.#send(reply);
  }

  async #handle(id: RequestId, method: string, params: Params, cancelled: CancelSignal): Promise<unknown> {
    if (method === "ping") return {};
    // Bound at the first request that needs the server (the handshake, if sealed, is complete by then); a request of
    // the stateless revision 2026-07-28 (no `initialize`) binds a session that speaks it (runtime/proxy/modern.ts).
    const revision = modernRevisionOf(method, params);
    if (this.#upstream === undefined && this.#open) {
      if (this.sessionless) {
        if (revision === undefined) throw new ProxyError("PQG8016", `invalid params: a request without a session must carry the \`_meta\` envelope of its revision`, JSONRPC_INVALID_PARAMS);
        this.#upstream = this.#core.sessionlessUpstreamFor(method, revision);
      } else this.#upstream = revision === undefined ? this.#core.upstreamFor(this) : this.#core.modernUpstreamFor(method, revision);
    }
    const upstream = this.#upstream;
    if (upstream === undefined) {
      const max = this.#core.options.maxUpstreams ?? MAX_UPSTREAM_SESSIONS;
      throw new ProxyError("PQG8011", `the proxy already serves its most upstream sessions (${max}); try again when a client has disconnected`, RPC_UPSTREAM_UNAVAILABLE);
    }
    if (revision !== undefined || upstream.supervisor.modern !== undefined) {
      const gate = await modernGate(upstream, method, params, revision);
      if (gate.refused !== undefined) {
        // Refused before the session started: the client may `initialize` next on this connection (`auto`).
        if (gate.release && this.#upstream === upstream) {
          this.#upstream = undefined;
          this.#core.releaseUpstream(upstream);
        }
        throw gate.refused;
      }
      if (gate.answer !== undefined) return gate.answer;
    }
    const tasks = method.startsWith("tasks/") || (method === "tools/call" && params?.task !== undefined);
    if (tasks && (this.#core.mode === "shared" || this.sessionless)) {
      // One server session for every client cannot tell whose task is whose: a task's results and requests would
      // reach whoever asks. Task-augmented calls need per-session mode, and a connection of their own.
      const where = this.sessionless ? "to a request without a session (its upstream session is every such request's)" : "in shared upstream mode; use per-session mode";
      throw new ProxyError("PQG8010", `\`${method}\` with tasks is not served ${where}`, JSONRPC_METHOD_NOT_FOUND);
    }
    // A change subscription exists only in the stateless revision (a 2025 client gets its notifications unasked).
    if (method === LISTEN && upstream.supervisor.modern !== undefined) return this.#listen(upstream, id, params, cancelled);
    switch (method) {
      case "initialize":
        // A client may connect while the upstream is still starting; its capabilities are what we answer with.
        await upstream.supervisor.whenStarted();
        return this.#initialize(upstream, params);
      case "tools/list":
        // Every listing reads the upstream's list again, so a silent change is caught before a client sees the tool;
        // when that read fails the pin stands, and calls still wait for or refuse a list as usual.
        await upstream.recheckTools().catch((error: unknown) => this.#core.logger.warn({ upstream: upstream.id, err: String(error) }, "tool list could not be read again"));
        return ownResult(upstream, { tools: await this.#core.visibleTools(upstream, this.#session()) });
      case "tools/call":
        return this.#callTool(upstream, id, params, cancelled);
      default:
        if (!isClientRequestMethod(method)) {
          this.#core.logger.warn({ connection: this.id, method: method.slice(0, 200) }, "refused a request for a method that is not an MCP client request");
          throw new ProxyError("PQG8010", `method \`${method.slice(0, 200)}\` is not an MCP client request the proxy forwards`, JSONRPC_METHOD_NOT_FOUND);
        }
        if (method === "resources/read" && this.#core.options.decisions.inspectsResults) {
          return this.#core.results.afterRead(params, this.#session(), await this.#forward(id, method, params, upstream));
        }
        return this.#forward(id, method, params, upstream);
    }
  }

  /**
   * A change subscription of the stateless revision: acknowledged with what the proxy relays (tool list changes, when
   * the upstream announces them), then open until the client cancels it or goes away; the changes go out on it as
   * `notifications/tools/list_changed` carrying its id. Nothing else is relayed: resources and prompts are the
   * upstream's, and the proxy holds no subscription to them for its clients.
   */
  async #listen(upstream: UpstreamSession, id: RequestId, params: Params, cancelled: CancelSignal): Promise<unknown> {
    const wanted = params?.notifications;
    if (!isObject(wanted)) throw new ProxyError("PQG8016", `invalid params: \`${LISTEN}\` needs a \`notifications\` filter object`, JSONRPC_INVALID_PARAMS);
    const tools = upstream.supervisor.discoverResult?.capabilities.tools as { listChanged?: unknown } | undefined;
    const ending = this.#core.subscriptionsEnd;
    const honored = wanted.toolsListChanged === true && tools?.listChanged === true && !ending.aborted ? { toolsListChanged: true } : {};
    const closing = { resultType: "complete", _meta: { [SUBSCRIPTION_ID_META_KEY]: id } };
    if (Object.keys(honored).length === 0) {
      this.#send(stampedNotification("notifications/subscriptions/acknowledged", { notifications: honored }, id), { relatedRequestId: id });
      return closing;
    }
    if (!this.#core.openListen()) throw new ProxyError("PQG8021", `more than ${MAX_LISTEN_SUBSCRIPTIONS} change subscriptions are open through the proxy; close one first`, RPC_UPSTREAM_UNAVAILABLE, { code: "PQG8021" });
    this.#listens.add(id);
    try {
      this.#send(stampedNotification("notifications/subscriptions/acknowledged", { notifications: honored }, id), { relatedRequestId: id });
      // Open until the client cancels it (or goes away, which cancels it too: then no answer is sent), or the proxy
      // ends its subscriptions (then the closing result is the answer).
      let stop!: () => void;
      const stopped = new Promise<void>((resolve) => (stop = resolve));
      cancelled.addEventListener("abort", stop, { once: true });
      ending.addEventListener("abort", stop, { once: true });
      if (cancelled.aborted || ending.aborted) stop();
      try {
        await stopped;
      } finally {
        cancelled.removeEventListener("abort", stop);
        ending.removeEventListener("abort", stop);
      }
      return closing;
    } finally {
      this.#listens.delete(id);
      this.#core.closeListen();
    }
  }

  /** The upstream's tool list changed and was pinned again: every change subscription of this client hears it. */
  toolsListChanged(): void {
    for (const id of this.#listens) this.#send(stampedNotification("notifications/tools/list_changed", {}, id), { relatedRequestId: id });
  }

  #initialize(session: UpstreamSession, params: Params): unknown {
    if (isObject(params?.capabilities)) this.#clientCapabilities = params.capabilities as ClientCapabilities;
    const upstream = session.supervisor.initializeResult;
    const asked = typeof params?.protocolVersion === "string" ? params.protocolVersion : LATEST_PROTOCOL_VERSION;
    return {
      protocolVersion: SUPPORTED_PROTOCOL_VERSIONS.includes(asked) ? asked : LATEST_PROTOCOL_VERSION,
      capabilities: { ...(upstream?.capabilities ?? {}), tools: { listChanged: true } },
      serverInfo: upstream?.serverInfo ?? { name: "pqguard-proxy", version: "0.1.0" },
      ...(upstream?.instructions === undefined ? {} : { instructions: upstream.instructions }),
    };
  }

  async #callTool(upstream: UpstreamSession, id: RequestId, params: Params, cancelled: CancelSignal): Promise<unknown> {
    if (typeof params?.name !== "string" || (params.arguments !== undefined && !isObject(params.arguments))) {
      throw new ProxyError("PQG8016", "invalid params: `tools/call` needs a tool `name` and an `arguments` object", JSONRPC_INVALID_PARAMS);
    }
    const tool = params.name;
    const approver = this.#core.options.approver ?? (neededCapability("elicitation/create", undefined)!.declared(this.#clientCapabilities) ? this.#elicit : undefined);
    // One budget for both checks of the pin (before the guard, after an approval): the call's reads stay bounded.
    const reads = readBudget();
    const session = this.#session();
    if (session !== undefined) {
      // A call that arrives after the close (none should) is decided on a session nobody would end: refused instead.
      if (!this.#open) throw new ProxyError("PQG8015", "the connection closed before the call could be decided", RPC_UPSTREAM_UNAVAILABLE);
      this.#sessions.add(session.sessionId);
    }
    const decisions = this.#core.options.decisions;
    const verdict = await decisions.decide({
      tool,
      args: params.arguments,
      session,
      pin: () => upstream.withPin((pin) => pin.verdict(tool), reads),
      approve: approver === undefined ? undefined : withdrawnOnCancel(approver, cancelled),
      signal: cancelled,
      // A task's result would come back later through `tasks/result`: under result rules the decision refuses it.
      task: params.task !== undefined,
    });
    this.#core.options.onDecision?.(tool, verdict);
    if (!verdict.allowed) throw new Refusal(verdict.error);
    // The client gave up while the call was decided: nobody waits for its result, so it must not run.
    if (cancelled.aborted) throw new ProxyError("PQG8013", "the request was cancelled", RPC_UPSTREAM_UNAVAILABLE);
    // What goes upstream is what was decided: the name, the plain copy of the arguments the guard read (its JSON text is
    // what the audit line records), and the protocol's own `_meta` and `task`, no other field a lenient server might read.
    const sent: Record<string, unknown> = { name: tool, arguments: verdict.args };
    if (params._meta !== undefined) sent._meta = params._meta;
    if (params.task !== undefined) sent.task = params.task;
    const result = await this.#forward(id, "tools/call", sent, upstream, decisions.inspectsResults ? { tool, args: verdict.args, session } : undefined);
    // The return path: what the tool sent back passes the result stages before the client sees it.
    if (decisions.inspectsResults && isObject(result)) {
      let passed: unknown;
      // After the progress and log messages the upstream sent before it: the client forgets a call's token once answered.
      await this.#inOrder.queue(this.#core.results.afterCall(tool, verdict.args, session, result), (inspected) => (passed = inspected));
      return passed;
    }
    return result;
  }

  /** `returning`: the tool call whose progress and concurrent log lines meet the result rules while it runs. */
  async #forward(id: RequestId, method: string, params: Params, upstream: UpstreamSession, returning?: ReturningCall): Promise<unknown> {
    let sent = params;
    let token: string | undefined;
    const meta = params?._meta;
    if (isObject(meta) && (typeof meta.progressToken === "string" || typeof meta.progressToken === "number")) {
      // An upstream session of its own sees the client's token as it is. A shared one is renamed: clients choose
      // tokens independently, and two must not collide upstream.
      const shared = this.#core.mode === "shared" || this.sessionless;
      token = shared ? `pqguard-${this.id}-${String(id)}` : String(meta.progressToken);
      this.#progress.set(token, { token: meta.progressToken, request: id });
      if (shared) sent = { ...params, _meta: { ...meta, progressToken: token } };
    }
    if (returning !== undefined) this.#returning.set(id, returning, sent?._meta);
    if (this.#core.mode === "shared" && (method === "resources/subscribe" || method === "resources/unsubscribe")) {
      return this.#sharedSubscription(method, params, upstream);
    }
    const call = upstream.supervisor.call(method, sent);
    this.#inFlight.set(id, call.id);
    try {
      const result = await call.result;
      this.#subscribed(method, params);
      return result;
    } finally {
      this.#inFlight.delete(id);
      if (returning !== undefined) this.#returning.take(id);
      if (token !== undefined) this.#progress.delete(token);
    }
  }

  /**
   * Shared mode: the server holds one subscription per resource for every client, so the first client's subscribe and
   * the last one's unsubscribe (or disconnect) are the ones it hears; the others are answered here.
   */
  async #sharedSubscription(method: "resources/subscribe" | "resources/unsubscribe", params: Params, upstream: UpstreamSession): Promise<unknown> {
    const uri = params?.uri;
    if (typeof uri !== "string") throw new ProxyError("PQG8016", `invalid params: \`${method}\` needs a resource \`uri\``, JSONRPC_INVALID_PARAMS);
    const others = this.#core.subscribersOf(uri).filter((connection) => connection !== this).length;
    if (method === "resources/subscribe") {
      if (others === 0 && !this.#subscriptions.has(uri)) await upstream.supervisor.request(method, params);
      this.#subscriptions.add(uri);
    } else {
      if (others === 0 && this.#subscriptions.has(uri)) await upstream.supervisor.request(method, params);
      this.#subscriptions.delete(uri);
    }
    return {};
  }

  /** The resources this client subscribed to (shared mode: given up on the server when the last subscriber leaves). */
  get subscriptions(): readonly string[] {
    return [...this.#subscriptions];
  }

  /** Keeps the resources this client subscribed to, once the upstream accepted the (un)subscription. */
  #subscribed(method: string, params: Params): void {
    const uri = params?.uri;
    if (typeof uri !== "string") return;
    if (method === "resources/subscribe") this.#subscriptions.add(uri);
    else if (method === "resources/unsubscribe") this.#subscriptions.delete(uri);
  }

  /** Asks the human behind the downstream client, through MCP elicitation, to approve one call. */
  readonly #elicit: ApprovalCallback = async (request) => {
    const params = {
      message: `Approve the call to \`${request.tool}\` with ${JSON.stringify(request.args)}? ${request.decision.reason}`,
      requestedSchema: {
        type: "object",
        properties: { approve: { type: "boolean", title: "Approve", description: request.decision.reason } },
        required: ["approve"],
      },
    };
    try {
      // The decision point owns the deadline and aborts `request.signal` when it passes (recorded as a timeout); this
      // request's own limit is only a backstop a little later, so the two never race.
      const backstop = (this.#core.options.approvalTimeoutMs ?? APPROVAL_TIMEOUT_MS) + APPROVAL_BACKSTOP_MS;
      const result = (await this.request("elicitation/create", params, backstop, request.signal)) as { action?: string; content?: { approve?: unknown } } | undefined;
      return result?.action === "accept" && result.content?.approve === true;
    } catch (error) {
      // Stopped waiting (the decision timed out) or no answer in time: not approved. An error reply is a refusal too,
      // which the decision point logs.
      if (request.signal.aborted || (error instanceof ProxyError && error.code === "PQG8008")) return false;
      throw error;
    }
  };
}

/** A notification of a change subscription: it carries the subscription's id (the id of the request that opened it). */
function stampedNotification(method: string, params: Record<string, unknown>, subscription: RequestId): JSONRPCNotification {
  return { jsonrpc: "2.0", method, params: { ...params, _meta: { [SUBSCRIPTION_ID_META_KEY]: subscription } } };
}

/**
 * An approver that stops asking, and answers "not approved", once the client cancels the call: an approval that
 * comes after the client gave up must not send the call upstream.
 */
function withdrawnOnCancel(approver: ApprovalCallback, cancelled: CancelSignal): ApprovalCallback {
  return (request) => {
    if (cancelled.aborted) return Promise.resolve(false);
    // The approver gets an AbortSignal that aborts with either; made here, on the approval's path only.
    const onCancel = new AbortController();
    cancelled.addEventListener("abort", () => onCancel.abort(), { once: true });
    const signal = AbortSignal.any([request.signal, onCancel.signal]);
    const withdrawn = new Promise<boolean>((resolve) => cancelled.addEventListener("abort", () => resolve(false), { once: true }));
    return Promise.race([approver({ ...request, signal }), withdrawn]);
  };
}

/** A refusal from the decision pipeline, sent downstream as its JSON-RPC error without the SDK's message prefix. */
class Refusal extends Error {
  readonly rpcCode: number;
  readonly data: unknown;
  constructor(
    error: McpError,
    readonly text = `call to \`${String((error.data as { tool?: unknown }).tool)}\` refused: ${String((error.data as { reason?: unknown }).reason)}`,
  ) {
    super(text);
    this.rpcCode = error.code;
    this.data = error.data;
  }
}
