// The upstream supervisor: reaches an unmodified MCP server (a child process over stdio, or a Streamable HTTP URL),
// owns its MCP session, forwards requests with its own ids, times calls out, and restarts or reconnects with back-off
// when the server dies, hangs or cannot be reached.
import type { Logger } from "pino";
import {
  LATEST_PROTOCOL_VERSION,
  type InitializeResult,
  type JSONRPCMessage,
  type ClientCapabilities,
  type JSONRPCNotification,
  type RequestId,
} from "@modelcontextprotocol/sdk/types.js";
import { errorReply, JSONRPC_INTERNAL_ERROR, JSONRPC_METHOD_NOT_FOUND, type JsonRpcErrorReply } from "./framing.js";
import { ProxyError, RPC_UPSTREAM_TIMEOUT, RPC_UPSTREAM_UNAVAILABLE, UpstreamRpcError } from "./errors.js";
import { DISCOVER, modernRefused, proxyEnvelope, withEnvelope, type DiscoverResult } from "./modern.js";
import { displayUrl, isUpstreamUrl, loadModernHttp, openLink, upstreamUrlOf, type UpstreamLink, type UpstreamTarget } from "./upstream-link.js";
import { checkPins } from "../transport/tls.js";

export { isUpstreamUrl, KILL_GRACE_MS, upstreamUrlOf, type UpstreamCommand, type UpstreamTarget, type UpstreamUrl } from "./upstream-link.js";

/** A tool call that takes longer than this is treated as hung; generous because tools do real work. */
export const DEFAULT_CALL_TIMEOUT_MS = 30_000;
/** A server that cannot finish `initialize` in this time is not going to. */
export const INITIALIZE_TIMEOUT_MS = 10_000;
/** After a call times out, a `ping` this fast tells a slow tool from a wedged server. */
export const HEALTH_PING_TIMEOUT_MS = 2_000;
/** First restart delay: quick enough that a one-off crash costs little, slow enough not to spin. */
export const RESTART_BACKOFF_INITIAL_MS = 100;
/** Doubling per consecutive failure, capped so a recovered dependency is picked up within seconds. */
export const RESTART_BACKOFF_FACTOR = 2;
export const RESTART_BACKOFF_MAX_MS = 10_000;
/** A server that stayed up this long counts as healthy again: the next crash restarts at the initial delay. */
export const STABLE_UPTIME_MS = 30_000;
export interface UpstreamOptions {
  readonly logger: Logger;
  readonly callTimeoutMs?: number | undefined;
  readonly healthPingTimeoutMs?: number | undefined;
  /** Called after every successful (re)start or reconnection, once the server is initialized. */
  readonly onReady?: ((generation: number) => void) | undefined;
  /** Notifications the server sends (progress, logging, `list_changed`, ...), except cancellations of its requests. */
  readonly onNotification?: ((notification: JSONRPCNotification) => void) | undefined;
  /**
   * Answers the server's own requests (elicitation, sampling, roots) other than `ping`: resolves with the result, or
   * rejects with a ProxyError whose code and message go back as the JSON-RPC error. `signal` aborts when the server
   * cancels the request or goes away. Without it, such requests are answered "method not found".
   */
  readonly onRequest?: ((request: UpstreamRequest, signal: AbortSignal) => Promise<unknown>) | undefined;
  /** The client capabilities the proxy declares in its `initialize`; none by default. */
  readonly capabilities?: ClientCapabilities | undefined;
  /**
   * A stateless revision (2026-07-28) to speak instead of `initialize`: the link opens with `server/discover`, every
   * request carries an envelope (the client's own, or the proxy's), and health is probed with `server/discover`, as
   * the revision has no `ping`. A server that does not offer the revision fails the start with PQG8020.
   */
  readonly modern?: string | undefined;
}

/** A request the upstream server sent to the proxy, as its client. */
export interface UpstreamRequest {
  readonly method: string;
  readonly params: Record<string, unknown> | undefined;
}

export interface UpstreamCall {
  /** The id the request carries on the upstream side. */
  readonly id: number;
  readonly result: Promise<unknown>;
}

interface PendingCall {
  readonly id: number;
  readonly method: string;
  readonly params: Record<string, unknown> | undefined;
  readonly resolve: (result: unknown) => void;
  readonly reject: (error: ProxyError) => void;
  readonly timer: NodeJS.Timeout;
  /** Sent before the server finished initializing (only `initialize` and health pings are). */
  readonly early: boolean;
  /** Generation of the link (process or HTTP session) it was written to; undefined while queued for a restart. */
  sentTo: number | undefined;
}

type State = "idle" | "starting" | "ready" | "down" | "closed";

export class UpstreamSupervisor {
  readonly #target: UpstreamTarget;
  readonly #options: UpstreamOptions;
  readonly #log: Logger;
  readonly #pending = new Map<number, PendingCall>();
  /** The server's requests being answered, by their id as JSON (so `1` and `"1"` stay apart). */
  readonly #incoming = new Map<string, AbortController>();
  #link: UpstreamLink | undefined;
  #state: State = "idle";
  #generation = 0;
  #nextId = 0;
  #backoffMs = RESTART_BACKOFF_INITIAL_MS;
  #readySince = 0;
  #restarts = 0;
  #checkingHealth = false;
  #restartTimer: NodeJS.Timeout | undefined;
  #initializeResult: InitializeResult | undefined;
  #discoverResult: DiscoverResult | undefined;
  /** The envelope of the proxy's own requests on a modern link. */
  readonly #envelope: Record<string, unknown> | undefined;
  #firstStart: { resolve: () => void; reject: (error: ProxyError) => void } | undefined;
  readonly #started: Promise<void>;
  #startedSettle: { resolve: () => void; reject: (error: ProxyError) => void } | undefined;

  /** Throws PQG8006 when `target` is a URL that is not http(s). */
  constructor(target: UpstreamTarget, options: UpstreamOptions) {
    if (isUpstreamUrl(target)) {
      upstreamUrlOf(target.url);
      checkPins(target.tls?.pins ?? []);
    }
    this.#target = target;
    this.#options = options;
    this.#log = options.logger.child({ component: "upstream" });
    this.#envelope = options.modern === undefined ? undefined : proxyEnvelope(options.modern, options.capabilities ?? {});
    this.#started = new Promise((resolve, reject) => (this.#startedSettle = { resolve, reject }));
    this.#started.catch(() => undefined); // observed through `whenStarted`; unobserved otherwise
  }

  /** Resolves once the server first finished initializing; rejects when its first start failed. */
  whenStarted(): Promise<void> {
    return this.#started;
  }

  /** The server's `initialize` result from its latest start. */
  get initializeResult(): InitializeResult | undefined {
    return this.#initializeResult;
  }

  /** The server's `server/discover` result from its latest start, on a modern link. */
  get discoverResult(): DiscoverResult | undefined {
    return this.#discoverResult;
  }

  /** The stateless revision this link speaks; undefined for a link opened with `initialize`. */
  get modern(): string | undefined {
    return this.#options.modern;
  }

  get restarts(): number {
    return this.#restarts;
  }

  /** The server process's id; undefined for an HTTP upstream. */
  get pid(): number | undefined {
    return this.#link?.pid;
  }

  get ready(): boolean {
    return this.#state === "ready";
  }

  /** Starts (or connects to) the server and resolves once it is initialized; rejects (PQG8001) if that fails. */
  start(): Promise<void> {
    if (this.#state !== "idle") return Promise.reject(new ProxyError("PQG8006", "the upstream was already started", RPC_UPSTREAM_UNAVAILABLE));
    return new Promise((resolve, reject) => {
      this.#firstStart = { resolve, reject };
      if (this.#options.modern === undefined || !isUpstreamUrl(this.#target)) return this.#launch();
      this.#state = "starting";
      loadModernHttp().then(
        () => this.#launch(),
        (error: unknown) => this.#failStart(error as ProxyError),
      );
    });
  }

  /**
   * Sends a request and resolves with its result. A request made while the server restarts waits for it, within
   * the same timeout. Rejects with a ProxyError carrying the JSON-RPC code to answer downstream with.
   */
  request(method: string, params?: Record<string, unknown>, timeoutMs?: number): Promise<unknown> {
    return this.call(method, params, timeoutMs).result;
  }

  /** As `request`, and also gives the id the request carries upstream, so a cancellation can name it. */
  call(method: string, params?: Record<string, unknown>, timeoutMs = this.#options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS): UpstreamCall {
    const id = this.#nextId + 1;
    return { id, result: this.#enqueue(method, params, timeoutMs, false) };
  }

  /** Sends a notification; dropped (and logged) while the server is not ready, as nobody could receive it. */
  notify(method: string, params?: Record<string, unknown>): void {
    if (this.#state !== "ready") {
      this.#log.debug({ method }, "notification dropped: upstream not ready");
      return;
    }
    const sent = this.#envelope === undefined ? params : withEnvelope(params, this.#envelope);
    this.#write(sent === undefined ? { jsonrpc: "2.0", method } : { jsonrpc: "2.0", method, params: sent });
  }

  /** The first start failed for good: whoever waits for it hears `error`, and the link is stopped. */
  #failStart(error: ProxyError): void {
    this.#firstStart?.reject(error);
    this.#startedSettle?.reject(error);
    this.#firstStart = undefined;
    this.#state = "closed";
    void this.#link?.stop();
  }

  /** Cancels a request made through `request` (by the id it was given upstream), as the downstream asked. */
  cancel(upstreamId: number, reason: string): void {
    const call = this.#pending.get(upstreamId);
    if (call === undefined) return;
    this.#settle(call);
    if (call.sentTo !== undefined) this.notify("notifications/cancelled", { requestId: upstreamId, reason });
    call.reject(new ProxyError("PQG8013", "the request was cancelled", RPC_UPSTREAM_UNAVAILABLE));
  }

  /** Stops the server (SIGTERM, then SIGKILL after a grace period; or ends the HTTP session) and fails every pending call. */
  async close(): Promise<void> {
    if (this.#state === "closed") return;
    this.#state = "closed";
    clearTimeout(this.#restartTimer);
    // Closed while still starting: whoever waits for the start hears that it will not happen.
    if (this.#firstStart !== undefined) {
      const error = new ProxyError("PQG8004", "the upstream was closed before it finished starting", RPC_UPSTREAM_UNAVAILABLE);
      this.#firstStart.reject(error);
      this.#startedSettle?.reject(error);
      this.#firstStart = undefined;
    }
    for (const call of [...this.#pending.values()]) {
      this.#settle(call);
      call.reject(new ProxyError("PQG8004", "the proxy is shutting down", RPC_UPSTREAM_UNAVAILABLE));
    }
    this.#abandonIncoming("the proxy is shutting down");
    await this.#link?.stop();
  }

  #enqueue(method: string, params: Record<string, unknown> | undefined, timeoutMs: number, early: boolean): Promise<unknown> {
    if (this.#state === "closed") {
      this.#nextId += 1; // keeps the id `call` announced unique
      return Promise.reject(new ProxyError("PQG8004", "the proxy is shutting down", RPC_UPSTREAM_UNAVAILABLE));
    }
    return new Promise((resolve, reject) => {
      const id = ++this.#nextId;
      const timer = setTimeout(() => this.#timedOut(id), timeoutMs);
      const call: PendingCall = { id, method, params, resolve, reject, timer, early, sentTo: undefined };
      this.#pending.set(id, call);
      // While a health check runs, new calls wait: a wedged server would only swallow them.
      if (early || (this.#state === "ready" && !this.#checkingHealth)) this.#send(call);
    });
  }

  #send(call: PendingCall): void {
    call.sentTo = this.#generation;
    const params = this.#envelope === undefined ? call.params : withEnvelope(call.params, this.#envelope);
    const message: JSONRPCMessage =
      params === undefined
        ? { jsonrpc: "2.0", id: call.id, method: call.method }
        : { jsonrpc: "2.0", id: call.id, method: call.method, params };
    this.#write(message);
  }

  #write(message: JSONRPCMessage | JsonRpcErrorReply): void {
    this.#link?.write(message);
  }

  #settle(call: PendingCall): void {
    clearTimeout(call.timer);
    this.#pending.delete(call.id);
  }

  #timedOut(id: number): void {
    const call = this.#pending.get(id);
    if (call === undefined) return;
    this.#settle(call);
    if (call.sentTo === undefined) {
      call.reject(new ProxyError("PQG8002", "the upstream server is restarting and did not come back in time", RPC_UPSTREAM_UNAVAILABLE));
      return;
    }
    this.#log.warn({ method: call.method, id }, "upstream call timed out");
    if (call.sentTo === this.#generation && call.method !== this.#probe) {
      this.notify("notifications/cancelled", { requestId: id, reason: "timed out in the proxy" });
    }
    call.reject(new ProxyError("PQG8003", `the upstream server did not answer \`${call.method}\` in time`, RPC_UPSTREAM_TIMEOUT));
    if (!call.early) void this.#checkHealth();
  }

  /**
   * A timed-out call may be a slow tool or a wedged server, a failed HTTP request a blip or a server that went away;
   * a quick ping tells them apart. A server that does not answer it is dropped: killed, or its session abandoned.
   */
  async #checkHealth(): Promise<void> {
    if (this.#checkingHealth || this.#state !== "ready") return;
    this.#checkingHealth = true;
    const generation = this.#generation;
    try {
      await this.#enqueue(this.#probe, undefined, this.#options.healthPingTimeoutMs ?? HEALTH_PING_TIMEOUT_MS, true);
    } catch (error) {
      // PQG8003: no answer in time; PQG8002: the ping could not be delivered. An error reply means it is alive.
      const unhealthy = error instanceof ProxyError && (error.code === "PQG8003" || error.code === "PQG8002");
      if (unhealthy && generation === this.#generation && this.#state === "ready") {
        const link = this.#link;
        this.#log.error({ pid: link?.pid, reason: error.message }, link?.kind === "http" ? "upstream server is not answering; reconnecting" : "upstream server is not answering; killing it for a restart");
        this.#state = "down"; // nothing more is written to it; the link's end starts the restart
        link?.kill();
      }
    } finally {
      this.#checkingHealth = false;
      // Calls held back during the check go out now, unless the server was dropped (they then wait for the restart).
      this.#flushQueued();
    }
  }

  /** The request that asks only whether the server is alive: `ping`, or `server/discover` on a modern link. */
  get #probe(): string {
    return this.#options.modern === undefined ? "ping" : DISCOVER;
  }

  #flushQueued(): void {
    if (this.#state !== "ready" || this.#checkingHealth) return;
    for (const call of [...this.#pending.values()]) if (call.sentTo === undefined) this.#send(call);
  }

  #launch(): void {
    if (this.#state === "closed") return;
    const generation = ++this.#generation;
    this.#state = "starting";
    const current = (): boolean => generation === this.#generation;
    const link = openLink(this.#target, this.#log, {
      message: (message) => {
        if (current()) this.#onMessage(message as Record<string, unknown>);
      },
      malformedReply: (id, detail) => {
        if (current()) this.#malformedReply(id, detail);
      },
      undelivered: (id, detail) => {
        if (current()) this.#undelivered(id, detail);
      },
      trouble: () => {
        if (current()) void this.#checkHealth();
      },
      gone: (how) => this.#onGone(generation, how),
    }, this.#options.modern !== undefined);
    this.#link = link;
    if (link.kind === "http") this.#log.info({ generation, url: link.name }, "connecting to the upstream server");
    else this.#log.info({ pid: link.pid, generation, command: link.name }, "upstream server started");

    const modern = this.#options.modern;
    const opening =
      modern === undefined
        ? this.#enqueue("initialize", { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: this.#options.capabilities ?? {}, clientInfo: { name: "pqguard-proxy", version: "0.1.0" } }, INITIALIZE_TIMEOUT_MS, true)
        : this.#enqueue(DISCOVER, undefined, INITIALIZE_TIMEOUT_MS, true).then((result) => this.#discovered(result, modern));
    const ready = (): void => {
      if (generation !== this.#generation || this.#state !== "starting") return;
      this.#state = "ready";
      this.#readySince = Date.now();
      this.#flushQueued();
      this.#firstStart?.resolve();
      this.#firstStart = undefined;
      this.#startedSettle?.resolve();
      this.#options.onReady?.(generation);
    };
    opening.then(
      (result) => {
        if (generation !== this.#generation || this.#state !== "starting") return;
        if (modern === undefined) {
          this.#initializeResult = result as InitializeResult;
          link.initialized(this.#initializeResult);
          this.#write({ jsonrpc: "2.0", method: "notifications/initialized" });
          // Calls wait for the server's own channel, so that what it sends during the first of them reaches the proxy.
          if (link.serverStreamOpen !== undefined) return void link.serverStreamOpen().then(ready);
        } else this.#discoverResult = result as DiscoverResult;
        ready();
      },
      (error: unknown) => {
        if (generation !== this.#generation) return;
        // A server that answers, but not with the revision, does not speak it: no restart will change that.
        if (modern !== undefined && this.#firstStart !== undefined && (error instanceof UpstreamRpcError || (error instanceof ProxyError && error.code === "PQG8020"))) {
          this.#log.warn({ err: error.message }, "upstream server does not speak the stateless revision");
          this.#failStart(error instanceof UpstreamRpcError ? modernRefused(DISCOVER, modern, `the upstream server does not speak it (it answered \`${DISCOVER}\` with ${error.rpcError.code}: ${error.message.slice(0, 200)})`) : error);
          return;
        }
        this.#log.error({ err: error instanceof Error ? error.message : String(error) }, "upstream server failed to initialize");
        link.kill();
      },
    );
  }

  /** A `server/discover` result that offers `revision`; PQG8020 when the server does not offer it. */
  #discovered(result: unknown, revision: string): DiscoverResult {
    const offered = (result as { supportedVersions?: unknown } | undefined)?.supportedVersions;
    if (!Array.isArray(offered) || !offered.includes(revision)) {
      const named = Array.isArray(offered) ? offered.filter((v) => typeof v === "string").slice(0, 8).join(", ") : "none";
      throw modernRefused(DISCOVER, revision, `the upstream server does not offer it (it offers ${named === "" ? "none" : named})`);
    }
    const capabilities = (result as { capabilities?: unknown }).capabilities;
    return { ...(result as object), supportedVersions: offered as string[], capabilities: typeof capabilities === "object" && capabilities !== null ? (capabilities as Record<string, unknown>) : {} };
  }

  /** A call the server answered with a malformed response fails now: no other answer to it will come. */
  #malformedReply(id: RequestId, detail: string): void {
    const call = typeof id === "number" ? this.#pending.get(id) : undefined;
    if (call === undefined) return;
    this.#settle(call);
    call.reject(new ProxyError("PQG8014", `the upstream server answered \`${call.method}\` with a malformed response: ${detail}`, JSONRPC_INTERNAL_ERROR));
  }

  /** A request the link could not deliver fails now; the server may have gone away, so its health is checked. */
  #undelivered(id: RequestId, detail: string): void {
    const call = typeof id === "number" ? this.#pending.get(id) : undefined;
    if (call === undefined) return;
    this.#settle(call);
    call.reject(new ProxyError("PQG8002", `the upstream server could not be reached: ${detail}`, RPC_UPSTREAM_UNAVAILABLE));
    if (!call.early) void this.#checkHealth();
  }

  #onMessage(message: Record<string, unknown>): void {
    if ("method" in message) {
      if ("id" in message) {
        const id = message.id as RequestId;
        const method = String(message.method);
        const handler = this.#options.onRequest;
        if (method === "ping") this.#write({ jsonrpc: "2.0", id, result: {} });
        else if (handler === undefined) this.#write(errorReply(id, JSONRPC_METHOD_NOT_FOUND, `method \`${method}\` is not offered by the proxy`));
        else this.#answer(id, { method, params: message.params as Record<string, unknown> | undefined }, handler);
        return;
      }
      if (message.method === "notifications/cancelled") {
        // The server withdraws one of its own requests; its ids mean nothing to the downstream clients.
        const requestId = (message.params as { requestId?: unknown } | undefined)?.requestId;
        const key = JSON.stringify(requestId ?? null);
        this.#incoming.get(key)?.abort();
        this.#incoming.delete(key);
        return;
      }
      this.#options.onNotification?.(message as JSONRPCNotification);
      return;
    }
    const id = message.id;
    const call = typeof id === "number" ? this.#pending.get(id) : undefined;
    if (call === undefined) {
      this.#log.debug({ id }, "response for no pending call (late or unknown); dropped");
      return;
    }
    this.#settle(call);
    if ("error" in message) call.reject(new UpstreamRpcError(message.error as { code: number; message: string; data?: unknown }));
    else call.resolve(message.result);
  }

  /** Answers one of the server's requests through `onRequest`, unless it was cancelled or its server is gone by then. */
  #answer(id: RequestId, request: UpstreamRequest, handler: NonNullable<UpstreamOptions["onRequest"]>): void {
    const generation = this.#generation;
    const key = JSON.stringify(id);
    const controller = new AbortController();
    this.#incoming.get(key)?.abort(); // a reused id: the server no longer waits for the earlier answer
    this.#incoming.set(key, controller);
    Promise.resolve()
      .then(() => handler(request, controller.signal))
      .then(
        (result) => ({ jsonrpc: "2.0" as const, id, result: result as Record<string, unknown> }),
        (error: unknown) => {
          if (error instanceof ProxyError) return errorReply(id, error.rpcCode, error.message, error.data);
          this.#log.error({ method: request.method, err: String(error) }, "a request from the upstream failed inside the proxy");
          return errorReply(id, JSONRPC_INTERNAL_ERROR, "internal error in the proxy");
        },
      )
      .then((reply) => {
        if (this.#incoming.get(key) === controller) this.#incoming.delete(key);
        if (controller.signal.aborted || generation !== this.#generation || this.#state === "closed") return;
        this.#write(reply);
      })
      .catch((error: unknown) => this.#log.debug({ err: String(error) }, "an answer to the upstream could not be written"));
  }

  #abandonIncoming(reason: string): void {
    for (const controller of this.#incoming.values()) controller.abort(new Error(reason));
    this.#incoming.clear();
  }

  #onGone(generation: number, how: string): void {
    if (generation !== this.#generation) return;
    this.#link = undefined;
    this.#abandonIncoming("the upstream server went away");
    const wasReady = this.#state === "ready";
    if (this.#state !== "closed") this.#state = "down";
    for (const call of [...this.#pending.values()]) {
      if (call.sentTo !== generation) continue;
      this.#settle(call);
      call.reject(new ProxyError("PQG8002", "the upstream server went away while the call was in flight", RPC_UPSTREAM_UNAVAILABLE));
    }
    if (this.#state === "closed") return;
    const http = isUpstreamUrl(this.#target);
    if (this.#firstStart !== undefined) {
      const error = http
        ? new ProxyError("PQG8001", `the upstream server at ${displayUrl(upstreamUrlOf(this.#target.url))} could not be reached: ${how}`, RPC_UPSTREAM_UNAVAILABLE)
        : new ProxyError("PQG8001", `the upstream server \`${(this.#target as { command: string }).command}\` did not start: ${how}`, RPC_UPSTREAM_UNAVAILABLE);
      this.#firstStart.reject(error);
      this.#startedSettle?.reject(error);
      this.#firstStart = undefined;
      this.#state = "closed";
      return;
    }
    if (wasReady && Date.now() - this.#readySince >= STABLE_UPTIME_MS) this.#backoffMs = RESTART_BACKOFF_INITIAL_MS;
    const delayMs = this.#backoffMs;
    this.#backoffMs = Math.min(this.#backoffMs * RESTART_BACKOFF_FACTOR, RESTART_BACKOFF_MAX_MS);
    this.#restarts += 1;
    this.#log.warn({ how, delayMs, restarts: this.#restarts }, http ? "upstream server went away; reconnecting" : "upstream server went away; restarting");
    this.#restartTimer = setTimeout(() => this.#launch(), delayMs);
  }
}
