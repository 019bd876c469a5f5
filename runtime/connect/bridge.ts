// The client side of the post-quantum session for hosts that only launch local commands: relays plain MCP between
// the host (stdio) and a sealed session with a remote `pqguard proxy`, and opens a new sealed session when the
// connection is lost, re-initializing it with the host's own `initialize`, so the host notices no more than the
// calls that were in flight. Nothing is ever sent to the proxy outside a sealed session.
import type { Logger } from "pino";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage, RequestId } from "@modelcontextprotocol/sdk/types.js";
import { SessionError, SessionErrorCode } from "../session/errors.js";
import { DRAINING_NOTIFICATION } from "../session/constants.js";

/** First wait before connecting again; doubled per failed attempt up to RECONNECT_MAX_MS. */
export const RECONNECT_INITIAL_MS = 200;
/** Longest wait between attempts: a proxy back after a restart is found within this. */
export const RECONNECT_MAX_MS = 5_000;
/** How long an `initialize` on a new session may take before the attempt counts as failed. */
export const REINITIALIZE_TIMEOUT_MS = 15_000;
/**
 * Messages from the host kept while no session is up (connecting, reconnecting); past this the host's requests are
 * answered with an error at once rather than held without bound.
 */
export const MAX_QUEUED_MESSAGES = 1_000;

/**
 * After an error on the sealed transport (a stream dropped, a request failed), a `ping` must be answered within this
 * for the session to count as alive; otherwise it is replaced. Errors alone do not say whether the proxy is gone.
 */
export const PROBE_TIMEOUT_MS = 3_000;

/** The JSON-RPC error a host gets for a request the bridge cannot deliver or whose answer was lost. */
export const BRIDGE_ERROR_CODE = -32000;

export interface BridgeOptions {
  /** Plain MCP with the host: the bridge's own stdin and stdout. */
  readonly host: Transport;
  /**
   * Makes a new sealed transport to the proxy (PqcClientTransport around a fresh inner transport) for every attempt;
   * `start()` on it performs the handshake.
   */
  readonly connect: () => Transport;
  readonly logger: Logger;
  /**
   * Whether an error from connecting means trying again is pointless (an untrusted server key, a refused certificate):
   * the bridge then gives up and closes. By default, session errors from the handshake other than timeouts.
   */
  readonly fatal?: (error: unknown) => boolean;
  readonly reconnectInitialMs?: number;
  readonly reconnectMaxMs?: number;
}

type JsonRpc = Record<string, unknown>;

const isRequest = (m: JsonRpc): boolean => typeof m.method === "string" && "id" in m;
const isNotification = (m: JsonRpc): boolean => typeof m.method === "string" && !("id" in m);

/**
 * Handshake failures that another attempt would meet again: the proxy's key or certificate is not trusted, no suite
 * is shared, the client's own credentials are refused, the configuration is wrong. Timeouts, closed connections and
 * failed key confirmations (a connection cut or tampered with in transit) are worth another attempt.
 */
const FINAL_SESSION_ERRORS: ReadonlySet<string> = new Set([
  SessionErrorCode.NoCommonSuite,
  SessionErrorCode.Downgrade,
  SessionErrorCode.UntrustedServerKey,
  SessionErrorCode.CertificateExpired,
  SessionErrorCode.BadCertificate,
  SessionErrorCode.ClientAuthFailed,
  SessionErrorCode.InvalidConfiguration,
  SessionErrorCode.ClientAuthRequired,
  SessionErrorCode.CertificateSuiteMismatch,
]);

/** Whether an answer is a draining session's refusal (PQG6031): the request was not run. */
function refusedWhileDraining(message: JsonRpc): boolean {
  const error = message.error as { data?: { code?: unknown } } | undefined;
  return error?.data?.code === SessionErrorCode.Draining;
}

function defaultFatal(error: unknown): boolean {
  return error instanceof SessionError && FINAL_SESSION_ERRORS.has(error.code);
}

export class Bridge {
  readonly #options: BridgeOptions;
  readonly #log: Logger;
  #upstream: Transport | undefined;
  /** Counts sessions: messages of an old one (late answers, requests of its server) are not taken for the new one's. */
  #generation = 0;
  #ready = false;
  #closing = false;
  /** The host's `initialize` request, replayed on every new session once the first was answered. */
  #initialize: JsonRpc | undefined;
  /** Whether the proxy answered the host's own `initialize`: a new session must then be initialized by the bridge. */
  #initialized = false;
  /** The host's requests sent on the current session and not answered yet, by id. */
  readonly #pending = new Map<RequestId, JsonRpc>();
  /**
   * Requests the proxy made of the host on the current session, by the id the host saw (`s<generation>:<id>`, so
   * that a request of a new session can never be answered by a dialog still open from a lost one) → the proxy's id.
   */
  readonly #serverRequests = new Map<string, RequestId>();
  /** Whether a session was ever established: a handshake refusal is final only before that. */
  #everConnected = false;
  readonly #queue: JsonRpc[] = [];
  #attempts = 0;
  /** The generation whose session announced it drains: nothing new is sent on it, and it is replaced once idle. */
  #draining: number | undefined;
  #reconnects = 0;
  #timer: NodeJS.Timeout | undefined;
  /** The liveness probe in flight, by its request id: settled with true when answered. */
  #probe: { readonly id: string; readonly settle: (alive: boolean) => void } | undefined;
  #closed: () => void = () => undefined;
  #failure: unknown;
  /** Resolves when the bridge has closed: the host left, or connecting failed for good. */
  readonly done: Promise<void>;

  constructor(options: BridgeOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: "connect" });
    this.done = new Promise((resolve) => (this.#closed = resolve));
  }

  /** How many times a lost session was replaced by a new one. */
  get reconnects(): number {
    return this.#reconnects;
  }

  get connected(): boolean {
    return this.#ready;
  }

  /** Why the bridge gave up, when connecting failed for good; undefined when it closed because the host left. */
  get failure(): unknown {
    return this.#failure;
  }

  async start(): Promise<void> {
    const host = this.#options.host;
    host.onmessage = (message) => this.#fromHost(message as JsonRpc);
    host.onclose = () => void this.close();
    host.onerror = (error) => this.#log.debug({ err: error.message }, "host transport error");
    await host.start();
    await this.#open();
  }

  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    clearTimeout(this.#timer);
    this.#ready = false;
    const upstream = this.#upstream;
    this.#upstream = undefined;
    await Promise.allSettled([upstream?.close(), this.#options.host.close()]);
    this.#closed();
  }

  /** Opens one sealed session; on failure, tries again with back-off unless the failure is final. */
  async #open(): Promise<void> {
    if (this.#closing) return;
    const generation = ++this.#generation;
    let upstream: Transport;
    try {
      upstream = this.#options.connect();
      upstream.onmessage = (message) => {
        if (generation === this.#generation) this.#fromUpstream(message as JsonRpc);
      };
      upstream.onclose = () => this.#lost(generation, "the session closed");
      upstream.onerror = (error) => {
        this.#log.debug({ err: error.message }, "sealed transport error");
        if (generation === this.#generation && this.#ready) void this.#checkAlive(generation);
      };
      this.#upstream = upstream;
      await upstream.start();
      if (this.#initialized) await this.#reinitialize(upstream, generation);
    } catch (error) {
      if (generation !== this.#generation || this.#closing) return;
      const failed = this.#upstream;
      this.#upstream = undefined;
      failed?.close().catch(() => undefined);
      // Once a session has worked, a refusal while reconnecting may be an attacker on the path for a moment: keep
      // trying (loudly) rather than leave the host without its server until someone restarts it.
      if (!this.#everConnected && (this.#options.fatal ?? defaultFatal)(error)) {
        this.#failure = error;
        this.#log.error({ err: String(error) }, "cannot open the post-quantum session; giving up");
        this.#failQueued(`the post-quantum session with the proxy could not be opened: ${error instanceof Error ? error.message : String(error)}`);
        await this.close();
        return;
      }
      const level = this.#everConnected && (this.#options.fatal ?? defaultFatal)(error) ? "error" : "warn";
      this.#log[level]({ err: String(error) }, "the proxy could not be reached or was refused; trying again");
      this.#retryLater(generation);
      return;
    }
    if (generation !== this.#generation) return;
    if (this.#attempts > 0 || this.#reconnects > 0) this.#log.info({ generation }, "post-quantum session open again");
    this.#attempts = 0;
    this.#ready = true;
    const again = this.#everConnected;
    this.#everConnected = true;
    for (const message of this.#queue.splice(0)) this.#toUpstream(message);
    // The new session may show other tools (a changed policy, server or key): the host should list them again.
    if (again && this.#initialized) this.#toHost({ jsonrpc: "2.0", method: "notifications/tools/list_changed" });
  }

  /** Replays the host's `initialize` on a new session and says `initialized`; the answer is the host's already. */
  async #reinitialize(upstream: Transport, generation: number): Promise<void> {
    const id = `pqguard-connect-initialize-${generation}`;
    const answered = new Promise<JsonRpc>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the proxy did not answer initialize in time")), REINITIALIZE_TIMEOUT_MS);
      upstream.onclose = () => {
        clearTimeout(timer);
        reject(new Error("the session closed before the proxy answered initialize"));
      };
      upstream.onmessage = (message) => {
        const m = message as JsonRpc;
        if (m.id === id) {
          clearTimeout(timer);
          upstream.onclose = () => this.#lost(generation, "the session closed");
          upstream.onmessage = (next) => {
            if (generation === this.#generation) this.#fromUpstream(next as JsonRpc);
          };
          resolve(m);
        }
      };
    });
    await upstream.send({ ...this.#initialize!, id } as JSONRPCMessage);
    const reply = await answered;
    if (reply.error !== undefined) throw new Error(`the proxy refused initialize: ${JSON.stringify(reply.error)}`);
    await upstream.send({ jsonrpc: "2.0", method: "notifications/initialized" });
  }

  #retryLater(generation: number): void {
    const initial = this.#options.reconnectInitialMs ?? RECONNECT_INITIAL_MS;
    const max = this.#options.reconnectMaxMs ?? RECONNECT_MAX_MS;
    const delay = Math.min(max, initial * 2 ** this.#attempts++);
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      if (generation === this.#generation) void this.#open();
    }, delay);
  }

  /**
   * A draining session with no request in flight is closed by this end and replaced at once: the server answered
   * everything it took, and nothing new was sent on it, so no request crosses the close.
   */
  #handOverIfIdle(): void {
    const generation = this.#generation;
    if (this.#draining !== generation || this.#pending.size > 0 || !this.#ready || this.#closing) return;
    this.#ready = false;
    const gone = this.#upstream;
    this.#upstream = undefined;
    this.#generation++;
    gone?.close().catch(() => undefined);
    for (const hostId of this.#serverRequests.keys()) {
      this.#toHost({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: hostId, reason: "the session with the pqguard proxy was replaced" } });
    }
    this.#serverRequests.clear();
    this.#reconnects++;
    void this.#open();
  }

  /** The current session is gone: its calls in flight are answered with an error, and a new session is opened. */
  #lost(generation: number, why: string): void {
    // While a session is being opened its failure is #open's to handle (the handshake or initialize rejects).
    if (generation !== this.#generation || this.#closing || this.#upstream === undefined || !this.#ready) return;
    this.#ready = false;
    const gone = this.#upstream;
    this.#upstream = undefined;
    // A new generation at once: whatever the lost session still delivers is not taken for the next one's.
    this.#generation++;
    gone.close().catch(() => undefined);
    // The host's dialogs for requests of the lost session are withdrawn; their answers could not be delivered anyway.
    for (const hostId of this.#serverRequests.keys()) {
      this.#toHost({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: hostId, reason: "the connection to the pqguard proxy was lost" } });
    }
    this.#serverRequests.clear();
    for (const [id, request] of this.#pending) {
      this.#toHost({
        jsonrpc: "2.0",
        id,
        error: { code: BRIDGE_ERROR_CODE, message: `the connection to the pqguard proxy was lost (${why}) while \`${String(request.method)}\` was in flight; it may or may not have run` },
      });
    }
    this.#pending.clear();
    this.#reconnects++;
    this.#log.warn({ generation, why }, "post-quantum session lost; opening a new one");
    this.#retryLater(this.#generation);
  }

  #fromHost(message: JsonRpc): void {
    if (isRequest(message) && message.method === "initialize") this.#initialize = message;
    if (!this.#ready) {
      if (!isRequest(message) && !isNotification(message)) return; // an answer to a request of a session that is gone
      if (this.#queue.length >= MAX_QUEUED_MESSAGES) {
        if (isRequest(message)) this.#toHost({ jsonrpc: "2.0", id: message.id, error: { code: BRIDGE_ERROR_CODE, message: "the pqguard proxy is not reachable and too many requests are waiting for it" } });
        return;
      }
      this.#queue.push(message);
      return;
    }
    this.#toUpstream(message);
  }

  #toUpstream(message: JsonRpc): void {
    const upstream = this.#upstream;
    if (upstream === undefined || (this.#draining === this.#generation && isRequest(message))) {
      this.#queue.push(message);
      return;
    }
    if (isRequest(message)) this.#pending.set(message.id as RequestId, message);
    else if (!isNotification(message)) {
      // The host's answer to a request of the proxy: only for one made on this session, under the proxy's own id.
      const proxyId = this.#serverRequests.get(String(message.id));
      if (proxyId === undefined) return;
      this.#serverRequests.delete(String(message.id));
      message = { ...message, id: proxyId };
    }
    const generation = this.#generation;
    upstream.send(message as JSONRPCMessage).catch((error: unknown) => {
      this.#log.warn({ err: String(error) }, "a message could not be sent to the proxy");
      this.#lost(generation, "a message could not be sent");
    });
  }

  /** Asks the proxy for a `ping`; a session that does not answer in time is replaced. One probe at a time. */
  async #checkAlive(generation: number): Promise<void> {
    const upstream = this.#upstream;
    if (this.#probe !== undefined || upstream === undefined) return;
    const id = `pqguard-connect-ping-${generation}-${Date.now()}`;
    const alive = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), PROBE_TIMEOUT_MS);
      this.#probe = {
        id,
        settle: (answered) => {
          clearTimeout(timer);
          resolve(answered);
        },
      };
    });
    upstream.send({ jsonrpc: "2.0", id, method: "ping" }).catch(() => this.#probe?.settle(false));
    const answered = await alive;
    this.#probe = undefined;
    if (!answered) this.#lost(generation, "the proxy stopped answering");
  }

  #fromUpstream(message: JsonRpc): void {
    if (this.#probe !== undefined && message.id === this.#probe.id) {
      this.#probe.settle(true);
      return;
    }
    if (message.method === DRAINING_NOTIFICATION) {
      this.#log.info({ generation: this.#generation, reason: String((message.params as { reason?: unknown } | undefined)?.reason ?? "") }, "the session drains; moving to a new one");
      this.#draining = this.#generation;
      this.#handOverIfIdle();
      return;
    }
    if (isRequest(message)) {
      const hostId = `s${this.#generation}:${String(message.id)}`;
      this.#serverRequests.set(hostId, message.id as RequestId);
      this.#toHost({ ...message, id: hostId });
      return;
    }
    if (message.method === "notifications/cancelled" && typeof message.params === "object" && message.params !== null) {
      // The proxy withdrew one of its requests: the host knows it by the id it was given.
      const params = message.params as Record<string, unknown>;
      const hostId = `s${this.#generation}:${String(params.requestId)}`;
      if (this.#serverRequests.delete(hostId)) this.#toHost({ ...message, params: { ...params, requestId: hostId } });
      return;
    }
    else if (!isNotification(message)) {
      const request = this.#pending.get(message.id as RequestId);
      this.#pending.delete(message.id as RequestId);
      // Refused unrun by a session that drains (its key was revoked or retired): sent again on the next session, which
      // the drain's close brings about. The host sees the answer from there, not this refusal.
      if (request !== undefined && refusedWhileDraining(message)) {
        this.#log.info({ method: request.method }, "the session is draining; the request waits for the next session");
        this.#queue.push(request);
        this.#handOverIfIdle();
        return;
      }
      if (request?.method === "initialize" && message.result !== undefined) this.#initialized = true;
    }
    this.#toHost(message);
    if (this.#draining === this.#generation) this.#handOverIfIdle();
  }

  #toHost(message: JsonRpc): void {
    this.#options.host.send(message as JSONRPCMessage).catch((error: unknown) => this.#log.debug({ err: String(error) }, "host could not be written to"));
  }

  /** Answers every queued request with an error: the bridge is giving up. */
  #failQueued(reason: string): void {
    for (const message of this.#queue.splice(0)) {
      if (isRequest(message)) this.#toHost({ jsonrpc: "2.0", id: message.id, error: { code: BRIDGE_ERROR_CODE, message: reason } });
    }
  }
}
