// The proxy core: serves any number of downstream MCP connections from one supervised upstream server, answering
// `initialize` and `tools/list` itself (from the pinned tool list), gating every `tools/call`, forwarding the rest,
// and routing the upstream's own requests (elicitation, sampling, roots) to the client they are for.
import type { Logger } from "pino";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
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
import { ProxyError, RPC_UPSTREAM_TIMEOUT, RPC_UPSTREAM_UNAVAILABLE } from "./errors.js";
import { errorReply, JSONRPC_INTERNAL_ERROR, JSONRPC_INVALID_PARAMS, JSONRPC_METHOD_NOT_FOUND } from "./framing.js";
import type { PinReport, ToolPin } from "./pin.js";
import { MAX_STALE_READS, readToolList, readUnchanged, type ToolListPage } from "../manifest/listing.js";
import type { UpstreamSupervisor } from "./upstream.js";
import { isClientRequestMethod } from "./methods.js";

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

/** The tool list could not be read without a change overtaking the read, within the reads a refresh or a call may make. */
function unpinnable(): ProxyError {
  return new ProxyError("PQG8002", `the upstream's tool list kept changing while it was read, so it could not be pinned within ${MAX_STALE_READS} reads`, RPC_UPSTREAM_UNAVAILABLE);
}

/**
 * The tool-list reads one call may still wait through, over every check of the pin it makes (before the guard, and
 * again after an approval) and whichever refreshes they belong to: MAX_STALE_READS in all.
 */
export interface ReadBudget {
  reads: number;
}

function readBudget(): ReadBudget {
  return { reads: MAX_STALE_READS };
}

/** A call waiting for the refresh in flight to pin a list. */
interface PinWaiter {
  readonly budget: ReadBudget;
  /** Called in the same step as a list is pinned, before anything else can run (a change announced, say). */
  pinned(): void;
  failed(error: unknown): void;
}

function notForwarded(message: string, rpcCode: number): ProxyError {
  return new ProxyError("PQG8008", message, rpcCode, { code: "PQG8008" });
}

export interface ProxyCoreOptions {
  readonly upstream: UpstreamSupervisor;
  /** The enforcement module's decision pipeline: guard, history, approval and audit. */
  readonly decisions: DecisionPoint;
  readonly pin: ToolPin;
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
  #refreshing: Promise<PinReport> | undefined;
  /** Calls waiting for the refresh in flight: served as it pins a list, refused when it fails or they run out of reads. */
  #waiting: PinWaiter[] = [];
  /** Counts the changes announced to the tool list (restarts, `list_changed`): a list read across one is stale. */
  #toolsEpoch = 0;
  #nextConnection = 0;

  constructor(options: ProxyCoreOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: "proxy" });
    this.#reachable = defaultReachability(options.decisions.guard);
  }

  /** The tools a session may see: pinned ones that some rule could permit it to call. */
  async visibleTools(session: SessionView | undefined): Promise<Tool[]> {
    // Taken as the pin is current: a change announced while the history is read must not change what is shown.
    const pinned = await this.withPin((pin) => pin.visibleTools());
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

  get options(): ProxyCoreOptions {
    return this.#options;
  }

  get logger(): Logger {
    return this.#log;
  }

  /** Called by the upstream supervisor after every (re)start: a restarted server must be pinned again. */
  upstreamReady(): void {
    this.#toolsChanged();
    void this.refreshTools().catch((error: unknown) => this.#log.error({ err: String(error) }, "tool list could not be pinned"));
  }

  /** Upstream notifications: a tool list change is pinned before clients hear of it; the rest is broadcast. */
  upstreamNotification(notification: JSONRPCNotification): void {
    if (notification.method === "notifications/tools/list_changed") {
      this.#toolsChanged();
      void this.refreshTools().then(
        () => this.#broadcast(notification),
        (error: unknown) => this.#log.error({ err: String(error) }, "tool list could not be pinned"),
      );
      return;
    }
    if (notification.method === "notifications/progress") {
      for (const connection of this.#connections) if (connection.ownsProgress(notification)) return;
      return;
    }
    this.#broadcast(notification);
  }

  /**
   * A request the upstream sent to its client (elicitation, sampling, roots): forwarded to the one downstream client
   * it can be for, when that client declared the capability it needs, and its answer relayed back. The client is the
   * one with calls in flight upstream (the request is made while serving one of them), else the only one connected;
   * with several candidates the proxy refuses rather than ask the wrong human.
   */
  async upstreamRequest(method: string, params: Params, signal: AbortSignal): Promise<unknown> {
    const needed = neededCapability(method, params);
    if (needed === undefined) throw notForwarded(`method \`${method}\` is not offered by the proxy`, JSONRPC_METHOD_NOT_FOUND);
    const open = [...this.#connections];
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
    this.#log.info({ connection: connection.id, method }, "forwarding a request from the upstream to its client");
    return connection.request(method, params, this.#options.clientRequestTimeoutMs ?? CLIENT_REQUEST_TIMEOUT_MS, signal);
  }

  #broadcast(notification: JSONRPCNotification): void {
    for (const connection of this.#connections) connection.forwardNotification(notification);
  }

  #toolsChanged(): void {
    this.#toolsEpoch += 1;
    this.#options.pin.invalidate();
  }

  /**
   * Fetches the full tool list from the upstream and compares it with the reviewed digests. A list that a change
   * overtook while it was read (the server may have answered just before changing a tool) is read again, never pinned,
   * at most MAX_STALE_READS reads in all; calls and changes that come meanwhile share this refresh.
   */
  refreshTools(): Promise<PinReport> {
    this.#refreshing ??= this.#pinCurrentList();
    return this.#refreshing;
  }

  async #pinCurrentList(): Promise<PinReport> {
    try {
      const report = await readUnchanged(
        () => this.#toolsEpoch,
        () => {
          this.#chargeWaiting();
          return readToolList((cursor) => this.#options.upstream.request("tools/list", cursor === undefined ? undefined : { cursor }) as Promise<ToolListPage>);
        },
        (tools) => this.#pin(tools as Tool[]),
      );
      if (report === undefined) throw unpinnable();
      return report;
    } catch (error) {
      this.#refreshing = undefined;
      for (const waiter of this.#waiting.splice(0)) waiter.failed(error);
      throw error;
    }
  }

  /**
   * Pins a list no change overtook and serves the calls waiting for it, in one step: a change announced after it
   * finds the pin invalidated and starts a new refresh, instead of joining this finished one.
   */
  #pin(tools: Tool[]): PinReport {
    const report = this.#options.pin.update(tools);
    this.#refreshing = undefined;
    for (const waiter of this.#waiting.splice(0)) waiter.pinned();
    const level = report.changed.length + report.unreviewed.length > 0 ? "warn" : "info";
    this.#log[level]({ ...report }, "upstream tool list pinned");
    return report;
  }

  /** A read starts: each waiting call spends one of its reads, and one with none left is refused rather than wait. */
  #chargeWaiting(): void {
    this.#waiting = this.#waiting.filter((waiter) => {
      if (waiter.budget.reads > 0) {
        waiter.budget.reads -= 1;
        return true;
      }
      waiter.failed(unpinnable());
      return false;
    });
  }

  /**
   * Reads the upstream's tool list again although no change was announced: a server may change a tool without
   * `tools/list_changed`. Calls go on against the current pin while it is read; a tool whose definition changed is
   * refused from the moment the new list is pinned. Shares a refresh already in flight.
   */
  recheckTools(): Promise<PinReport> {
    return this.refreshTools();
  }

  /**
   * Runs `use` on the pin at a moment when no change has been announced since its list was read: at once when the pin
   * is current, else in the same step as a refresh pins a list (the one in flight, or one this starts), so that nothing
   * can come in between. Calls waiting at once share that refresh; each waits through at most the reads left in its
   * `budget` (MAX_STALE_READS for a new one) and is refused past them with PQG8002, as when the refresh fails (then
   * with its error). Throws or rejects with what `use` throws.
   */
  withPin<T>(use: (pin: ToolPin) => T, budget: ReadBudget = readBudget()): T | Promise<T> {
    const pin = this.#options.pin;
    if (pin.verified) return use(pin);
    // With no reads left, only a read already in flight may still serve the call; none is started for it.
    if (budget.reads === 0 && this.#refreshing === undefined) return Promise.reject(unpinnable());
    return new Promise<T>((resolve, reject) => {
      const pinned = (): void => {
        try {
          resolve(use(pin));
        } catch (error) {
          reject(error);
        }
      };
      this.#waiting.push({ budget, pinned, failed: reject });
      // The refresh's failure reaches this call through `failed`.
      this.refreshTools().catch(() => undefined);
    });
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

  /** Serves one downstream connection until its transport closes. */
  async attach(transport: Transport, session: SessionSourceOf): Promise<ProxyConnection> {
    const connection = new ProxyConnection(this, transport, session, ++this.#nextConnection);
    this.#connections.add(connection);
    transport.onclose = () => {
      this.#connections.delete(connection);
      connection.closed();
    };
    await transport.start();
    return connection;
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.#connections].map((c) => c.transport.close()));
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
  readonly #serving = new Map<RequestId, AbortController>();
  /** Proxy-assigned progress token → the client's own token. */
  readonly #progress = new Map<string, string | number>();
  /** Requests the proxy sent to the client, by the id it gave them: called with the reply, or undefined on disconnect. */
  readonly #asked = new Map<string, (reply: Record<string, unknown> | undefined) => void>();
  /** The sessions this connection's calls were decided on: ended in the call history when its transport closes. */
  readonly #sessions = new Set<string>();
  #clientCapabilities: ClientCapabilities = {};
  #nextOwnId = 0;
  #open = true;

  constructor(core: ProxyCore, transport: Transport, session: SessionSourceOf, id: number) {
    this.#core = core;
    this.transport = transport;
    this.#session = session;
    this.id = id;
    transport.onmessage = (message: JSONRPCMessage) => this.#onMessage(message);
    transport.onerror = (error: Error) => core.logger.debug({ connection: id, err: error.message }, "downstream transport error");
  }

  closed(): void {
    this.#open = false;
    for (const settle of [...this.#asked.values()]) settle(undefined);
    this.#asked.clear();
    // Nobody waits for these calls' results any more: one still being decided (an approval) is refused, not run.
    for (const controller of this.#serving.values()) controller.abort();
    // Without this every session stays in the store until idle past the retention period, and short sessions fill
    // its session bound. The decision point waits for decisions still in flight (an approval) before ending one.
    for (const id of this.#sessions) this.#core.options.decisions.endSession(id);
    this.#sessions.clear();
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

  #send(message: JSONRPCMessage | ReturnType<typeof errorReply>): void {
    if (!this.#open) return;
    // The SDK's message type has no `id: null`; a parse-error reply is still a valid JSON-RPC message.
    this.transport.send(message as JSONRPCMessage).catch((error: unknown) => {
      this.#core.logger.debug({ connection: this.id, err: String(error) }, "reply could not be sent");
    });
  }

  forwardNotification(notification: JSONRPCNotification): void {
    this.#send(notification);
  }

  /** Delivers a progress notification if this connection owns its token. */
  ownsProgress(notification: JSONRPCNotification): boolean {
    const token = String(notification.params?.progressToken);
    const original = this.#progress.get(token);
    if (original === undefined) return false;
    this.#send({ ...notification, params: { ...notification.params, progressToken: original } });
    return true;
  }

  #onMessage(message: JSONRPCMessage): void {
    const raw = message as Record<string, unknown>;
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
    if (method === "notifications/cancelled" && params !== undefined) {
      this.#serving.get(params.requestId as RequestId)?.abort();
      const upstreamId = this.#inFlight.get(params.requestId as RequestId);
      if (upstreamId !== undefined) this.#core.options.upstream.cancel(upstreamId, String(params.reason ?? "cancelled by the client"));
    }
    // Other client notifications (initialized, roots changed) concern the client's session with the proxy, which
    // the proxy holds itself; relaying them would mix clients up on the one shared upstream session.
  }

  async #onRequest(id: RequestId, method: string, params: Params): Promise<void> {
    const cancelled = new AbortController();
    this.#serving.set(id, cancelled);
    let reply: JSONRPCMessage | ReturnType<typeof errorReply>;
    try {
      reply = { jsonrpc: "2.0", id, result: (await this.#handle(id, method, params, cancelled.signal)) as Record<string, unknown> };
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
    if (!cancelled.signal.aborted) this.#send(reply);
  }

  async #handle(id: RequestId, method: string, params: Params, cancelled: AbortSignal): Promise<unknown> {
    const upstream = this.#core.options.upstream;
    switch (method) {
      case "initialize":
        // A client may connect while the upstream is still starting; its capabilities are what we answer with.
        await upstream.whenStarted();
        return this.#initialize(params);
      case "ping":
        return {};
      case "tools/list":
        // Every listing reads the upstream's list again, so a silent change is caught before a client sees the tool;
        // when that read fails the pin stands, and calls still wait for or refuse a list as usual.
        await this.#core.recheckTools().catch((error: unknown) => this.#core.logger.warn({ err: String(error) }, "tool list could not be read again"));
        return { tools: await this.#core.visibleTools(this.#session()) };
      case "tools/call":
        return this.#callTool(id, params, cancelled);
      default:
        if (!isClientRequestMethod(method)) {
          this.#core.logger.warn({ connection: this.id, method: method.slice(0, 200) }, "refused a request for a method that is not an MCP client request");
          throw new ProxyError("PQG8010", `method \`${method.slice(0, 200)}\` is not an MCP client request the proxy forwards`, JSONRPC_METHOD_NOT_FOUND);
        }
        return this.#forward(id, method, params, upstream);
    }
  }

  #initialize(params: Params): unknown {
    if (isObject(params?.capabilities)) this.#clientCapabilities = params.capabilities as ClientCapabilities;
    const upstream = this.#core.options.upstream.initializeResult;
    const asked = typeof params?.protocolVersion === "string" ? params.protocolVersion : LATEST_PROTOCOL_VERSION;
    return {
      protocolVersion: SUPPORTED_PROTOCOL_VERSIONS.includes(asked) ? asked : LATEST_PROTOCOL_VERSION,
      capabilities: { ...(upstream?.capabilities ?? {}), tools: { listChanged: true } },
      serverInfo: upstream?.serverInfo ?? { name: "pqguard-proxy", version: "0.1.0" },
      ...(upstream?.instructions === undefined ? {} : { instructions: upstream.instructions }),
    };
  }

  async #callTool(id: RequestId, params: Params, cancelled: AbortSignal): Promise<unknown> {
    if (typeof params?.name !== "string" || (params.arguments !== undefined && !isObject(params.arguments))) {
      throw new ProxyError("PQG8006", "invalid params: `tools/call` needs a tool `name` and an `arguments` object", JSONRPC_INVALID_PARAMS);
    }
    const tool = params.name;
    const approver = this.#core.options.approver ?? (neededCapability("elicitation/create", undefined)!.declared(this.#clientCapabilities) ? this.#elicit : undefined);
    // One budget for both checks of the pin (before the guard, after an approval): the call's reads stay bounded.
    const reads = readBudget();
    const session = this.#session();
    if (session !== undefined) {
      // A call that arrives after the close (none should) is decided on a session nobody would end: refused instead.
      if (!this.#open) throw new ProxyError("PQG8005", "the connection closed before the call could be decided", RPC_UPSTREAM_UNAVAILABLE);
      this.#sessions.add(session.sessionId);
    }
    const verdict = await this.#core.options.decisions.decide({
      tool,
      args: params.arguments,
      session,
      pin: () => this.#core.withPin((pin) => pin.verdict(tool), reads),
      approve: approver === undefined ? undefined : withdrawnOnCancel(approver, cancelled),
      signal: cancelled,
    });
    this.#core.options.onDecision?.(tool, verdict);
    if (!verdict.allowed) throw new Refusal(verdict.error);
    // The client gave up while the call was decided: nobody waits for its result, so it must not run.
    if (cancelled.aborted) throw new ProxyError("PQG8005", "the request was cancelled", RPC_UPSTREAM_UNAVAILABLE);
    return this.#forward(id, "tools/call", params, this.#core.options.upstream);
  }

  async #forward(id: RequestId, method: string, params: Params, upstream: UpstreamSupervisor): Promise<unknown> {
    let sent = params;
    let token: string | undefined;
    const meta = params?._meta;
    if (isObject(meta) && (typeof meta.progressToken === "string" || typeof meta.progressToken === "number")) {
      // Clients choose progress tokens independently; the proxy renames them so two clients cannot collide upstream.
      token = `pqguard-${this.id}-${String(id)}`;
      this.#progress.set(token, meta.progressToken);
      sent = { ...params, _meta: { ...meta, progressToken: token } };
    }
    const call = upstream.call(method, sent);
    this.#inFlight.set(id, call.id);
    try {
      return await call.result;
    } finally {
      this.#inFlight.delete(id);
      if (token !== undefined) this.#progress.delete(token);
    }
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

/**
 * An approver that stops asking, and answers "not approved", once the client cancels the call: an approval that
 * comes after the client gave up must not send the call upstream.
 */
function withdrawnOnCancel(approver: ApprovalCallback, cancelled: AbortSignal): ApprovalCallback {
  return (request) => {
    if (cancelled.aborted) return Promise.resolve(false);
    const signal = AbortSignal.any([request.signal, cancelled]);
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
