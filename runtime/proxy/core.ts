// The proxy core: serves any number of downstream MCP connections from one supervised upstream server, answering
// `initialize` and `tools/list` itself (from the pinned tool list), gating every `tools/call`, and forwarding the rest.
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
import { ProxyError } from "./errors.js";
import { errorReply } from "./framing.js";
import type { PinReport, ToolPin } from "./pin.js";
import type { UpstreamSupervisor } from "./upstream.js";

const JSONRPC_INVALID_PARAMS = -32602;
/** Upper bound on tool-list pages fetched from the upstream: a server paging forever must not stall the proxy. */
const MAX_TOOL_LIST_PAGES = 100;
/** How long an approval question to the downstream client may take before the call is denied. */
export const ELICITATION_TIMEOUT_MS = 55_000;

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
}

/** Where a connection's session facts come from at each call. */
export type SessionSourceOf = () => SessionView | undefined;

type Params = Record<string, unknown> | undefined;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export class ProxyCore {
  readonly #options: ProxyCoreOptions;
  readonly #log: Logger;
  readonly #connections = new Set<ProxyConnection>();
  readonly #reachable: (tool: string, context: Parameters<ReturnType<typeof defaultReachability>>[1]) => boolean;
  #refreshing: Promise<PinReport> | undefined;
  #nextConnection = 0;

  constructor(options: ProxyCoreOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: "proxy" });
    this.#reachable = defaultReachability(options.decisions.guard);
  }

  /** The tools a session may see: pinned ones that some rule could permit it to call. */
  async visibleTools(session: SessionView | undefined): Promise<Tool[]> {
    const pin = await this.verifiedPin();
    if (session === undefined) return [];
    const decisions = this.#options.decisions;
    const now = decisions.now();
    const context = guardContextOf(session, await decisions.store.snapshot(historyKeyOf(session), now), now);
    return pin.visibleTools().filter((tool) => {
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
    this.#options.pin.invalidate();
    void this.refreshTools().catch((error: unknown) => this.#log.error({ err: String(error) }, "tool list could not be pinned"));
  }

  /** Upstream notifications: a tool list change is pinned before clients hear of it; the rest is broadcast. */
  upstreamNotification(notification: JSONRPCNotification): void {
    if (notification.method === "notifications/tools/list_changed") {
      this.#options.pin.invalidate();
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

  #broadcast(notification: JSONRPCNotification): void {
    for (const connection of this.#connections) connection.forwardNotification(notification);
  }

  /** Fetches the full tool list from the upstream and compares it with the reviewed digests. */
  refreshTools(): Promise<PinReport> {
    this.#refreshing ??= this.#fetchTools().finally(() => (this.#refreshing = undefined));
    return this.#refreshing;
  }

  async #fetchTools(): Promise<PinReport> {
    const tools: Tool[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < MAX_TOOL_LIST_PAGES; page++) {
      const result = (await this.#options.upstream.request("tools/list", cursor === undefined ? undefined : { cursor })) as {
        tools?: Tool[];
        nextCursor?: string;
      };
      tools.push(...(result.tools ?? []));
      cursor = result.nextCursor;
      if (cursor === undefined) break;
    }
    const report = this.#options.pin.update(tools);
    const level = report.changed.length + report.unreviewed.length > 0 ? "warn" : "info";
    this.#log[level]({ ...report }, "upstream tool list pinned");
    return report;
  }

  /** A pinned view of the tool list, refreshed if a restart or `list_changed` made it stale. */
  async verifiedPin(): Promise<ToolPin> {
    if (!this.#options.pin.verified) await this.refreshTools();
    return this.#options.pin;
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
  /** Proxy-assigned progress token → the client's own token. */
  readonly #progress = new Map<string, string | number>();
  /** Requests the proxy sent to the client (elicitation), by the id it gave them. */
  readonly #asked = new Map<string, (message: Record<string, unknown>) => void>();
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
    for (const resolve of this.#asked.values()) resolve({ error: { code: -32000, message: "connection closed" } });
    this.#asked.clear();
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
      const upstreamId = this.#inFlight.get(params.requestId as RequestId);
      if (upstreamId !== undefined) this.#core.options.upstream.cancel(upstreamId, String(params.reason ?? "cancelled by the client"));
    }
    // Other client notifications (initialized, roots changed) concern the client's session with the proxy, which
    // the proxy holds itself; relaying them would mix clients up on the one shared upstream session.
  }

  async #onRequest(id: RequestId, method: string, params: Params): Promise<void> {
    try {
      const result = await this.#handle(id, method, params);
      this.#send({ jsonrpc: "2.0", id, result: result as Record<string, unknown> });
    } catch (error) {
      if (error instanceof ProxyError) this.#send(errorReply(id, error.rpcCode, error.message, error.data));
      else if (error instanceof Refusal) this.#send(errorReply(id, error.rpcCode, error.text, error.data));
      else {
        this.#core.logger.error({ err: String(error), method }, "request failed inside the proxy");
        this.#send(errorReply(id, -32603, "internal error in the proxy"));
      }
    }
  }

  async #handle(id: RequestId, method: string, params: Params): Promise<unknown> {
    const upstream = this.#core.options.upstream;
    switch (method) {
      case "initialize":
        // A client may connect while the upstream is still starting; its capabilities are what we answer with.
        await upstream.whenStarted();
        return this.#initialize(params);
      case "ping":
        return {};
      case "tools/list":
        return { tools: await this.#core.visibleTools(this.#session()) };
      case "tools/call":
        return this.#callTool(id, params);
      default:
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

  async #callTool(id: RequestId, params: Params): Promise<unknown> {
    if (typeof params?.name !== "string" || (params.arguments !== undefined && !isObject(params.arguments))) {
      throw new ProxyError("PQG8006", "invalid params: `tools/call` needs a tool `name` and an `arguments` object", JSONRPC_INVALID_PARAMS);
    }
    const tool = params.name;
    const verdict = await this.#core.options.decisions.decide({
      tool,
      args: params.arguments,
      session: this.#session(),
      pin: async () => (await this.#core.verifiedPin()).verdict(tool),
      approve: this.#core.options.approver ?? (this.#clientCapabilities.elicitation !== undefined ? this.#elicit : undefined),
    });
    this.#core.options.onDecision?.(tool, verdict);
    if (!verdict.allowed) throw new Refusal(verdict.error);
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
  readonly #elicit: ApprovalCallback = (request) =>
    new Promise<boolean>((resolve, reject) => {
      const id = `pqguard-approval-${++this.#nextOwnId}`;
      const timer = setTimeout(() => {
        this.#asked.delete(id);
        resolve(false);
      }, ELICITATION_TIMEOUT_MS);
      request.signal.addEventListener("abort", () => {
        clearTimeout(timer);
        this.#asked.delete(id);
        resolve(false);
      });
      this.#asked.set(id, (reply) => {
        clearTimeout(timer);
        if (isObject(reply.error)) {
          reject(new Error(String(reply.error.message)));
          return;
        }
        const result = reply.result as { action?: string; content?: { approve?: unknown } } | undefined;
        resolve(result?.action === "accept" && result.content?.approve === true);
      });
      this.#send({
        jsonrpc: "2.0",
        id,
        method: "elicitation/create",
        params: {
          message: `Approve the call to \`${request.tool}\` with ${JSON.stringify(request.args)}? ${request.decision.reason}`,
          requestedSchema: {
            type: "object",
            properties: { approve: { type: "boolean", title: "Approve", description: request.decision.reason } },
            required: ["approve"],
          },
        },
      });
    });
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
