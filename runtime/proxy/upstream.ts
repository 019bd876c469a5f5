// The upstream supervisor: runs an unmodified MCP server as a child process over stdio, owns its MCP session,
// forwards requests with its own ids, times calls out, and restarts the server with back-off when it dies or hangs.
import { spawn, type ChildProcess } from "node:child_process";
import type { Logger } from "pino";
import {
  LATEST_PROTOCOL_VERSION,
  type InitializeResult,
  type JSONRPCMessage,
  type JSONRPCNotification,
} from "@modelcontextprotocol/sdk/types.js";
import { classifyLine, errorReply, JSONRPC_METHOD_NOT_FOUND, LineSplitter, serializeLine, JSONRPC_INVALID_REQUEST } from "./framing.js";
import type { JsonRpcErrorReply } from "./framing.js";
import { ProxyError, RPC_UPSTREAM_TIMEOUT, RPC_UPSTREAM_UNAVAILABLE, UpstreamRpcError } from "./errors.js";

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
/** Between SIGTERM and SIGKILL when shutting a server down: time to flush, not to linger. */
export const KILL_GRACE_MS = 1_000;

export interface UpstreamCommand {
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd?: string | undefined;
  readonly env?: NodeJS.ProcessEnv | undefined;
  /** Where the server's stderr goes: inherited by default. */
  readonly stderr?: "inherit" | "ignore" | undefined;
}

export interface UpstreamOptions {
  readonly logger: Logger;
  readonly callTimeoutMs?: number | undefined;
  readonly healthPingTimeoutMs?: number | undefined;
  /** Called after every successful (re)start, once the server is initialized. */
  readonly onReady?: ((generation: number) => void) | undefined;
  /** Notifications the server sends (progress, logging, `list_changed`, ...). */
  readonly onNotification?: ((notification: JSONRPCNotification) => void) | undefined;
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
  /** Generation of the process it was written to; undefined while queued for a restarting server. */
  sentTo: number | undefined;
}

type State = "idle" | "starting" | "ready" | "down" | "closed";

export class UpstreamSupervisor {
  readonly #command: UpstreamCommand;
  readonly #options: UpstreamOptions;
  readonly #log: Logger;
  readonly #pending = new Map<number, PendingCall>();
  #child: ChildProcess | undefined;
  #state: State = "idle";
  #generation = 0;
  #nextId = 0;
  #backoffMs = RESTART_BACKOFF_INITIAL_MS;
  #readySince = 0;
  #restarts = 0;
  #checkingHealth = false;
  #restartTimer: NodeJS.Timeout | undefined;
  #initializeResult: InitializeResult | undefined;
  #firstStart: { resolve: () => void; reject: (error: ProxyError) => void } | undefined;
  #exited: Promise<void> = Promise.resolve();
  readonly #started: Promise<void>;
  #startedSettle: { resolve: () => void; reject: (error: ProxyError) => void } | undefined;

  constructor(command: UpstreamCommand, options: UpstreamOptions) {
    this.#command = command;
    this.#options = options;
    this.#log = options.logger.child({ component: "upstream" });
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

  get restarts(): number {
    return this.#restarts;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get ready(): boolean {
    return this.#state === "ready";
  }

  /** Starts the server and resolves once it is initialized; rejects (PQG8001) if the first start fails. */
  start(): Promise<void> {
    if (this.#state !== "idle") return Promise.reject(new ProxyError("PQG8006", "the upstream was already started", RPC_UPSTREAM_UNAVAILABLE));
    return new Promise((resolve, reject) => {
      this.#firstStart = { resolve, reject };
      this.#launch();
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
    this.#write(params === undefined ? { jsonrpc: "2.0", method } : { jsonrpc: "2.0", method, params });
  }

  /** Cancels a request made through `request` (by the id it was given upstream), as the downstream asked. */
  cancel(upstreamId: number, reason: string): void {
    const call = this.#pending.get(upstreamId);
    if (call === undefined) return;
    this.#settle(call);
    if (call.sentTo !== undefined) this.notify("notifications/cancelled", { requestId: upstreamId, reason });
    call.reject(new ProxyError("PQG8005", "the request was cancelled", RPC_UPSTREAM_UNAVAILABLE));
  }

  /** Stops the server (SIGTERM, then SIGKILL after a grace period) and fails every pending call. */
  async close(): Promise<void> {
    if (this.#state === "closed") return;
    this.#state = "closed";
    clearTimeout(this.#restartTimer);
    for (const call of [...this.#pending.values()]) {
      this.#settle(call);
      call.reject(new ProxyError("PQG8004", "the proxy is shutting down", RPC_UPSTREAM_UNAVAILABLE));
    }
    const child = this.#child;
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      child.stdin?.end();
      child.kill("SIGTERM");
      const force = setTimeout(() => child.kill("SIGKILL"), KILL_GRACE_MS);
      await this.#exited;
      clearTimeout(force);
    }
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
    const message: JSONRPCMessage =
      call.params === undefined
        ? { jsonrpc: "2.0", id: call.id, method: call.method }
        : { jsonrpc: "2.0", id: call.id, method: call.method, params: call.params };
    this.#write(message);
  }

  #write(message: JSONRPCMessage | JsonRpcErrorReply): void {
    const stdin = this.#child?.stdin;
    if (stdin === undefined || stdin === null || stdin.destroyed) return;
    stdin.write(serializeLine(message));
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
    if (call.sentTo === this.#generation && call.method !== "ping") {
      this.notify("notifications/cancelled", { requestId: id, reason: "timed out in the proxy" });
    }
    call.reject(new ProxyError("PQG8003", `the upstream server did not answer \`${call.method}\` in time`, RPC_UPSTREAM_TIMEOUT));
    if (!call.early) void this.#checkHealth();
  }

  /** A timed-out call may be a slow tool or a wedged server; a quick ping tells them apart. */
  async #checkHealth(): Promise<void> {
    if (this.#checkingHealth || this.#state !== "ready") return;
    this.#checkingHealth = true;
    const generation = this.#generation;
    try {
      await this.#enqueue("ping", undefined, this.#options.healthPingTimeoutMs ?? HEALTH_PING_TIMEOUT_MS, true);
      this.#checkingHealth = false;
      this.#flushQueued();
    } catch (error) {
      if (error instanceof ProxyError && error.code === "PQG8003" && generation === this.#generation) {
        this.#log.error({ pid: this.#child?.pid }, "upstream server is not answering; killing it for a restart");
        this.#state = "down"; // nothing more is written to it; its exit starts the restart
        this.#child?.kill("SIGKILL");
      }
    } finally {
      this.#checkingHealth = false;
    }
  }

  #flushQueued(): void {
    if (this.#state !== "ready" || this.#checkingHealth) return;
    for (const call of [...this.#pending.values()]) if (call.sentTo === undefined) this.#send(call);
  }

  #launch(): void {
    if (this.#state === "closed") return;
    const generation = ++this.#generation;
    this.#state = "starting";
    const command = this.#command;
    let child: ChildProcess;
    let exited!: () => void;
    this.#exited = new Promise((resolve) => (exited = resolve));
    try {
      child = spawn(command.command, [...command.args], {
        cwd: command.cwd,
        env: command.env ?? process.env,
        stdio: ["pipe", "pipe", command.stderr ?? "inherit"],
        windowsHide: true,
      });
    } catch (error) {
      exited();
      this.#onExit(generation, null, null, error instanceof Error ? error.message : String(error));
      return;
    }
    this.#child = child;
    const splitter = new LineSplitter();
    child.stdout!.on("data", (chunk: Buffer) =>
      splitter.push(
        chunk,
        (line) => this.#onLine(generation, line),
        () => {
          this.#log.warn("upstream sent an oversized message; dropped");
          this.#write(errorReply(null, JSONRPC_INVALID_REQUEST, "invalid request: message too large"));
        },
      ),
    );
    // EPIPE when the server dies mid-write is reported through `exit`; nothing more to do here.
    child.stdin!.on("error", (error) => this.#log.debug({ err: error.message }, "upstream stdin error"));
    let spawnError: string | undefined;
    child.on("error", (error) => {
      spawnError = error.message;
      if (child.pid === undefined) {
        exited();
        this.#onExit(generation, null, null, spawnError);
      }
    });
    child.on("exit", (code, signal) => {
      exited();
      this.#onExit(generation, code, signal, spawnError);
    });
    this.#log.info({ pid: child.pid, generation, command: command.command }, "upstream server started");

    this.#enqueue(
      "initialize",
      { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: "pqguard-proxy", version: "0.1.0" } },
      INITIALIZE_TIMEOUT_MS,
      true,
    ).then(
      (result) => {
        if (generation !== this.#generation || this.#state !== "starting") return;
        this.#initializeResult = result as InitializeResult;
        this.#write({ jsonrpc: "2.0", method: "notifications/initialized" });
        this.#state = "ready";
        this.#readySince = Date.now();
        this.#flushQueued();
        this.#firstStart?.resolve();
        this.#firstStart = undefined;
        this.#startedSettle?.resolve();
        this.#options.onReady?.(generation);
      },
      (error: unknown) => {
        if (generation !== this.#generation) return;
        this.#log.error({ err: error instanceof Error ? error.message : String(error) }, "upstream server failed to initialize");
        child.kill("SIGKILL");
      },
    );
  }

  #onLine(generation: number, line: string): void {
    if (generation !== this.#generation) return;
    const framed = classifyLine(line);
    if (framed.kind === "malformed") {
      this.#log.warn({ detail: framed.detail }, "malformed message from upstream");
      this.#write(framed.reply);
      return;
    }
    const message = framed.message as Record<string, unknown>;
    if ("method" in message) {
      if ("id" in message) {
        const id = message.id as string | number;
        // The proxy owns the upstream session and offers no client features, so only `ping` is answered.
        if (message.method === "ping") this.#write({ jsonrpc: "2.0", id, result: {} });
        else this.#write(errorReply(id, JSONRPC_METHOD_NOT_FOUND, `method \`${String(message.method)}\` is not offered by the proxy`));
        return;
      }
      this.#options.onNotification?.(framed.message as JSONRPCNotification);
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

  #onExit(generation: number, code: number | null, signal: NodeJS.Signals | null, spawnError: string | undefined): void {
    if (generation !== this.#generation) return;
    this.#child = undefined;
    const wasReady = this.#state === "ready";
    if (this.#state !== "closed") this.#state = "down";
    for (const call of [...this.#pending.values()]) {
      if (call.sentTo !== generation) continue;
      this.#settle(call);
      call.reject(new ProxyError("PQG8002", "the upstream server exited while the call was in flight", RPC_UPSTREAM_UNAVAILABLE));
    }
    if (this.#state === "closed") return;
    const how = spawnError ?? (signal !== null ? `signal ${signal}` : `exit code ${String(code)}`);
    if (this.#firstStart !== undefined) {
      const error = new ProxyError("PQG8001", `the upstream server \`${this.#command.command}\` did not start: ${how}`, RPC_UPSTREAM_UNAVAILABLE);
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
    this.#log.warn({ how, delayMs, restarts: this.#restarts }, "upstream server went away; restarting");
    this.#restartTimer = setTimeout(() => this.#launch(), delayMs);
  }
}
