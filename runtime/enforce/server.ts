// Server-side enforcement: attaches to the transport an SDK server (v1 or v2, Server or McpServer) is connected to, so
// that every tools/call meets the guard before the server sees it and a tools/list answer shows only tools the session
// could be allowed to call. The seam is the SDK's public Transport interface (tap.ts); see docs/architecture.md.
import type { GuardContext, GuardModule } from "../guard/types.js";
import { toolDigest } from "../manifest/digest.js";
import type { VerifiedManifest } from "../manifest/signed.js";
import { guardContextOf, historyKeyOf, SessionResolver, transportSessionInfo, type SessionSource, type SessionView } from "./context.js";
import { DecisionPoint, type ApprovalCallback, type CallToDecide, type DecisionOptions, type PinVerdict } from "./decide.js";
import { EnforceError, EnforceErrorCode } from "./errors.js";
import { guardTableDigest, pinAgainstPolicy } from "./pin.js";
import { MAX_STALE_READS } from "../manifest/listing.js";
import { InOrder, LOG_MESSAGE, PROGRESS, ReturningCalls } from "./notifications.js";
import { gatedResponse, ResultGate } from "./links.js";
import { CLIENT_CAPABILITIES_META_KEY, DecidingCall, isResponse, onEveryTransport, withEnvelope, OwnRequests, paramsOf, tapTransport, type Connectable, type Deliver, type Send, type SendOptions, type TransportTap, type WireMessage } from "./tap.js";
import { PinnedToolList, type ReadBudget } from "./tool-list.js";

export { MAX_STALE_READS, MAX_TOOL_LIST_PAGES } from "../manifest/listing.js";

export interface EnforceOptions extends DecisionOptions {
  /** The session of each call; defaults to the `sessionInfo` of the server's connected transport. */
  readonly session?: SessionSource;
  /**
   * Serve plain (unsealed) connections as one unauthenticated, classical session each, so that identity and
   * transport requirements deny them; off by default: without a session every call is refused.
   */
  readonly allowUnsealed?: boolean;
  /**
   * How long the server's own tools/list handler may take to give the definitions calls are pinned to (default
   * LIVE_TOOLS_TIMEOUT_MS, 10 s); past it, calls waiting for them are refused (PQG7313).
   */
  readonly toolListTimeoutMs?: number;
  /** The signed manifest the live tools must also match. */
  readonly manifest?: VerifiedManifest;
  /** Approver for `ask`; defaults to MCP elicitation when the client declared it, else every `ask` is denied. */
  readonly approve?: ApprovalCallback;
  /** Which tools a session could be allowed to call; defaults to the guard's `reachableTools`, else a probe. */
  readonly reachable?: (tool: string, context: GuardContext) => boolean;
}

export interface Enforcement {
  readonly decisions: DecisionPoint;
  /** Forget the pinned live tool definitions (they are re-read at the next call); `sendToolListChanged` does this too. */
  invalidateTools(): void;
}

/** An SDK server enforcement attaches to: a low-level `Server` or an `McpServer` (its `server`), of SDK v1 or v2. */
export type EnforceableServer = Connectable | { readonly server: Connectable };

const CALL = "tools/call";
const LIST = "tools/list";
const READ = "resources/read";
const LIST_CHANGED = "notifications/tools/list_changed";
/** The JSON-RPC code of a request whose params are unusable. */
const INVALID_PARAMS = -32602;

/**
 * Enforces `guard` on `server`: attached to the transport it is connected to now and to every one it connects to
 * later (call it before `connect`, or after: both work). SDK v1 and v2 servers alike, over any transport.
 */
export function enforce(server: EnforceableServer, guard: GuardModule, options: EnforceOptions = {}): Enforcement {
  const endpoint: Connectable = "server" in server && typeof server.server?.connect === "function" ? server.server : (server as Connectable);
  const now = options.now ?? Date.now;
  const resolver = new SessionResolver(options.session ?? (() => transportSessionInfo(endpoint.transport)), options.allowUnsealed === true, now);
  const decisions = new DecisionPoint(guard, "server", options, options.manifest?.digest ?? guardTableDigest(guard));
  const reachable = options.reachable ?? defaultReachability(guard);
  let connection: ServerConnection | undefined;
  const live = new PinnedToolList<LiveDigests>({
    readPage: (cursor) => {
      if (connection === undefined) return Promise.reject(new EnforceError(EnforceErrorCode.ToolListUnavailable, "the server is not connected, so its tools cannot be read"));
      return connection.askServer(LIST, cursor === undefined ? {} : { cursor });
    },
    keep: digestsOf,
    unpinnable: () => new EnforceError(EnforceErrorCode.ToolListUnavailable, `the server's tool list changed during each of ${MAX_STALE_READS} reads in a row`),
    timeoutMs: options.toolListTimeoutMs ?? LIVE_TOOLS_TIMEOUT_MS,
    timedOut: (ms) => new EnforceError(EnforceErrorCode.ToolListUnavailable, `the server's own tools/list handler did not answer within ${ms} ms, so no tool can be pinned`),
  });
  // An McpServer validates a tool's arguments against its schema before the handler runs: the guard decides on that view.
  const mcpServer = endpoint === server ? undefined : server;
  const handlerView = (tool: string): CallToDecide["handlerView"] => (mcpServer === undefined ? undefined : schemaView(mcpServer, tool));
  const results = new ResultGate(decisions, (error) => error);
  const shared: ServerGuard = { guard, options, resolver, decisions, results, reachable, live, now, handlerView };
  onEveryTransport(endpoint, (transport) => {
    connection = new ServerConnection(shared, transport, () => {
      if (connection !== undefined && connection.transport === transport) connection = undefined;
    });
  });
  return { decisions, invalidateTools: () => live.changed() };
}

/** What every connection of one enforced server shares. */
interface ServerGuard {
  readonly guard: GuardModule;
  readonly options: EnforceOptions;
  readonly resolver: SessionResolver;
  readonly decisions: DecisionPoint;
  /** The result rules' gate: tools/call results, and reads of the resources they linked to. */
  readonly results: ResultGate;
  readonly reachable: (tool: string, context: GuardContext) => boolean;
  readonly live: PinnedToolList<LiveDigests>;
  readonly now: () => number;
  readonly handlerView: (tool: string) => CallToDecide["handlerView"];
}

/** One connection of an enforced server: the transport's tap and what is in flight on it. */
class ServerConnection {
  readonly #shared: ServerGuard;
  readonly #tap: TransportTap;
  /** Calls being decided, by request id: aborted when the client cancels one or the connection closes. */
  readonly #deciding = new Map<unknown, DecidingCall>();
  /** Pins a call's tool; one function for the connection, not one per call. */
  readonly #pinning = (tool: string, budget: ReadBudget): PinVerdict | Promise<PinVerdict> => this.#pin(tool, budget);
  /** The client's tools/list requests, by id, with the pin generation they were asked under: their answers are filtered. */
  readonly #listings = new Map<unknown, number>();
  /** Allowed calls whose results are on their way back, by id: they pass the result stages. */
  readonly #running = new ReturningCalls();
  /** The client's resources/read requests under result rules, by id: their answers pass the result gate. */
  readonly #reads = new Map<unknown, { readonly params: Record<string, unknown>; readonly session: SessionView | undefined }>();
  /** Results and notifications under result rules leave in the order the server sent them. */
  readonly #inOrder = new InOrder();
  /** The guard's own requests to the server (tools/list): answered only by the server. */
  readonly #askedServer = new OwnRequests((message) => new EnforceError(EnforceErrorCode.ToolListUnavailable, message));
  /** The guard's own requests to the client (elicitation): answered only by the client. */
  readonly #askedClient = new OwnRequests((message) => new EnforceError(EnforceErrorCode.ApprovalRefused, message));
  /** Sessions calls were decided for on this connection: ended in the call history when it closes. */
  readonly #sessions = new Set<string>();
  #capabilities: Record<string, unknown> | undefined;
  /**
   * Protocol 2026-07-28 has no `initialize`: each request carries the protocol revision and the client's capabilities
   * in `_meta`. The guard's own requests to the server carry the envelope of the client's last request (kept as the
   * `_meta` it came in, read only when the guard asks).
   */
  #lastMeta: unknown;
  #closed = false;

  constructor(
    shared: ServerGuard,
    readonly transport: object,
    private readonly onClosed: () => void,
  ) {
    this.#shared = shared;
    this.#tap = tapTransport(transport, {
      incoming: (message, extra, deliver) => this.#incoming(message, extra, deliver),
      outgoing: (message, options, send) => this.#outgoing(message, options, send),
      closed: () => this.#close(),
    });
  }

  #incoming(message: WireMessage, extra: unknown, deliver: Deliver): void {
    const method = message.method;
    if (typeof method !== "string") {
      if (this.#askedClient.settle(message)) return;
    } else if ("id" in message) {
      const meta = (message.params as { _meta?: unknown } | undefined)?._meta;
      if (meta !== undefined) this.#lastMeta = meta;
      if (method === CALL) {
        const call = new DecidingCall(this.#pinning);
        this.#deciding.set(message.id, call);
        // Decided from the next microtask on, as the SDK runs a handler: a call that arrives in the turn of the close
        // finds its signal aborted and is refused on no session, not decided on one opened after the close.
        queueMicrotask(() => void this.#call(message, extra, deliver, call));
        return;
      }
      if (method === LIST) this.#listings.set(message.id, this.#shared.live.generation);
      // A resource a tool's result linked to is read as that tool's result would be (links.ts).
      else if (method === READ && this.#shared.decisions.inspectsResults) this.#reads.set(message.id, { params: paramsOf(message), session: this.#shared.resolver.current() });
      else if (method === "initialize") this.#capabilities = capabilitiesOf(paramsOf(message).capabilities);
    } else if (method === "notifications/cancelled") {
      this.#deciding.get(paramsOf(message).requestId)?.abort();
    }
    deliver(message, extra);
  }

  async #call(message: WireMessage, extra: unknown, deliver: Deliver, call: DecidingCall): Promise<void> {
    const { decisions, resolver, options } = this.#shared;
    const id = message.id;
    const params = paramsOf(message);
    const tool = params.name;
    try {
      if (typeof tool !== "string") {
        await this.#tap.send({ jsonrpc: "2.0", id, error: { code: INVALID_PARAMS, message: "tools/call needs a `name` string" } }, { relatedRequestId: id as string | number });
        return;
      }
      // The SDK aborts a request's signal at the close: such a call is refused and must not open a session (after the
      // close, the resolver would hand out a fresh unsealed one).
      const session = call.aborted ? undefined : resolver.current();
      if (session !== undefined) this.#sessions.add(session.sessionId);
      call.tool = tool;
      call.args = params.arguments;
      call.session = session;
      call.approve = options.approve ?? this.#elicitation(id, params);
      call.handlerView = this.#shared.handlerView(tool);
      call.task = params.task !== undefined;
      const verdict = await decisions.decide(call);
      // Cancelled, or closed: nobody waits for an answer, and the call does not run.
      if (call.aborted) return;
      if (!verdict.allowed) {
        const error = verdict.error;
        await this.#tap.send({ jsonrpc: "2.0", id, error: { code: error.code, message: error.message, data: error.data } }, { relatedRequestId: id as string | number });
        return;
      }
      if (decisions.inspectsResults) this.#running.set(id, { tool, args: verdict.args, session }, params._meta);
      // The server gets the plain copy the guard decided on, not the object parsed from the wire (see argumentsText).
      deliver({ ...message, params: { ...params, arguments: verdict.args } }, extra);
    } finally {
      this.#deciding.delete(id);
    }
  }

  #pin(tool: string, budget: ReadBudget): PinVerdict | Promise<PinVerdict> {
    const { guard, options, live } = this.#shared;
    const policy = pinAgainstPolicy(guard, options.manifest, tool);
    if (!policy.ok) return policy;
    return live.use((digests) => pinLive(guard, tool, digests), budget);
  }

  /** Not `async`: a message that only passes through costs no extra promise. */
  #outgoing(message: WireMessage, options: SendOptions | undefined, send: Send): Promise<void> {
    if (isResponse(message)) {
      const id = message.id;
      if (typeof id === "string" && this.#askedServer.settle(message)) return Promise.resolve();
      const listed = this.#listings.size === 0 ? undefined : this.#listings.get(id);
      if (listed !== undefined) {
        this.#listings.delete(id);
        return this.#filtered(message, listed).then((filtered) => send(filtered, options));
      }
      const running = this.#running.size === 0 ? undefined : this.#running.take(id);
      if (running !== undefined) {
        const result = message.result;
        if (typeof result === "object" && result !== null) {
          const gated = this.#shared.results.afterCall(running.tool, running.args, running.session, result as Record<string, unknown>);
          return this.#inOrder.queue(gatedResponse(message, gated), (response) => send(response, options));
        }
      }
      const read = this.#reads.size === 0 ? undefined : this.#reads.get(id);
      if (read !== undefined) {
        this.#reads.delete(id);
        if ("result" in message) {
          const gated = this.#shared.results.afterRead(read.params, read.session, message.result);
          return this.#inOrder.queue(gatedResponse(message, gated), (response) => send(response, options));
        }
      }
    } else if (message.method === LIST_CHANGED) {
      this.#shared.live.changed();
    } else if ((message.method === PROGRESS || message.method === LOG_MESSAGE) && this.#shared.decisions.inspectsResults) {
      // What a tool reports while it runs reaches the client as surely as its result: the result rules read it too.
      const inspected = this.#shared.decisions.inspectNotification(message, this.#running.owners(message), this.#shared.resolver.current());
      return this.#inOrder.queue(inspected, (passed) => (passed === undefined ? undefined : send(passed, options)));
    }
    return send(message, options);
  }

  /** A tools/list answer: pinned when whole and no change overtook it, and filtered to what the session could call. */
  async #filtered(message: WireMessage, generation: number): Promise<WireMessage> {
    const result = message.result as Record<string, unknown> | undefined;
    if (result === undefined || !Array.isArray(result.tools)) return message;
    const tools = result.tools as Record<string, unknown>[];
    // A list_changed while the handler answered makes this answer stale: it is shown, filtered, but not pinned.
    if (result.nextCursor === undefined) this.#shared.live.offer(generation, tools);
    const session = this.#shared.resolver.current();
    const visible = session === undefined ? [] : await this.#visible(tools, session);
    return { ...message, result: { ...result, tools: visible } };
  }

  async #visible(tools: Record<string, unknown>[], session: SessionView): Promise<Record<string, unknown>[]> {
    const { decisions, now, guard, options, reachable } = this.#shared;
    let context: GuardContext;
    try {
      const snapshot = await decisions.store.snapshot(historyKeyOf(session), now());
      context = guardContextOf(session, snapshot, now());
    } catch (error) {
      options.logger?.warn({ code: EnforceErrorCode.StateFailed }, `tools/list shows no tools: the call history is unavailable: ${String(error)}`);
      return [];
    }
    return tools.filter((tool) => {
      const name = typeof tool.name === "string" ? tool.name : "";
      if (!pinAgainstPolicy(guard, options.manifest, name).ok || liveDigestOf(tool) !== guard.toolDigests[name]) return false;
      try {
        return reachable(name, context);
      } catch {
        return false;
      }
    });
  }

  /** Asks the server itself, as if a client did: its unfiltered answer comes back through `send`, and goes no further. */
  askServer(method: string, params: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (this.#closed) return Promise.reject(new EnforceError(EnforceErrorCode.ToolListUnavailable, "the connection closed before the server listed its tools"));
    const { id, answer } = this.#askedServer.open();
    this.#tap.deliver({ jsonrpc: "2.0", id, method, params: withEnvelope(params, this.#lastMeta) });
    return answer;
  }

  /**
   * The default approver: MCP elicitation (form mode) of the client, when it declared it (at `initialize`, or on the
   * request itself under protocol 2026-07-28); sent as part of the call's request, so it reaches the call's stream.
   */
  #elicitation(callId: unknown, params: Record<string, unknown>): ApprovalCallback | undefined {
    const meta = params._meta as Record<string, unknown> | undefined;
    const capabilities = capabilitiesOf(meta?.[CLIENT_CAPABILITIES_META_KEY]) ?? this.#capabilities;
    const elicitation = capabilities?.elicitation as Record<string, unknown> | undefined;
    if (elicitation === undefined || (elicitation.form === undefined && Object.keys(elicitation).length > 0)) return undefined;
    return async (request) => {
      const { id, answer } = this.#askedClient.open();
      const withdraw = (): void => {
        if (!this.#askedClient.withdraw(id, { action: "cancel" })) return;
        this.#tap.send({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: id, reason: "the approval was withdrawn" } }).catch(() => undefined);
      };
      request.signal.addEventListener("abort", withdraw, { once: true });
      try {
        await this.#tap.send(
          {
            jsonrpc: "2.0",
            id,
            method: "elicitation/create",
            params: {
              mode: "form",
              message: `Allow the call to \`${request.tool}\`? ${request.decision.reason} (${request.decision.determining.join(", ")})`,
              requestedSchema: { type: "object", properties: { approve: { type: "boolean", title: "Approve this call" } }, required: ["approve"] },
            },
          },
          { relatedRequestId: callId as string | number },
        );
        const result = await answer;
        const content = result.content as Record<string, unknown> | undefined;
        return result.action === "accept" && content?.approve === true;
      } finally {
        request.signal.removeEventListener("abort", withdraw);
      }
    };
  }

  #close(): void {
    this.#closed = true;
    // Nobody waits for these calls' answers any more: one still being decided (an approval) is refused, not run.
    for (const controller of this.#deciding.values()) controller.abort();
    this.#askedServer.failAll("the connection closed before the server answered");
    this.#askedClient.failAll("the connection closed before the client answered");
    const { decisions, resolver, live } = this.#shared;
    // Each session this connection decided for ends once its decisions in flight (an approval pending) have finished.
    for (const id of this.#sessions) {
      decisions.endSession(id);
      this.#shared.results.endSession(id);
    }
    this.#sessions.clear();
    // The next connection is a new session: it must not continue the ended one's id (and history); and the server's
    // tools may change while nobody is connected to hear it, so they are read again.
    resolver.reset();
    live.changed();
    this.onClosed();
  }
}

/**
 * The parts of an McpServer that validate a tool's arguments before its handler runs. Not public API: the one private
 * member enforcement reads (docs/architecture.md says why); absent in an SDK that lacks them, when the guard decides
 * on the JSON arguments alone.
 */
interface McpServerInternals {
  readonly _registeredTools?: Record<string, { inputSchema?: unknown } | undefined>;
  readonly validateToolInput?: (tool: unknown, args: unknown, name: string) => Promise<unknown>;
}

/**
 * What an McpServer's handler for `tool` will receive: the arguments as its input schema parses them (defaults
 * applied, unknown keys stripped, values coerced or transformed), so the guard decides on that. Undefined when the
 * tool has no input schema (its handler is not given the arguments) or is not registered (the pin refuses it). The
 * handler parses the same arguments again; a schema whose parse is not a function of its input (a transform reading
 * the clock, say) can still give the handler something else, which docs/enforcement.md says.
 */
function schemaView(server: object, tool: string): CallToDecide["handlerView"] {
  const internals = server as McpServerInternals;
  const registered = internals._registeredTools?.[tool];
  if (registered?.inputSchema === undefined || typeof internals.validateToolInput !== "function") return undefined;
  const validate = internals.validateToolInput.bind(server);
  return async (args) => (await validate(registered, args, tool)) as Readonly<Record<string, unknown>>;
}

function capabilitiesOf(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/** A live tool's digest, or why it can never be pinned (listed twice, or a definition without a canonical form). */
type LiveDigest = string | { readonly unpinnable: string };

/** Live tool name → digest. */
type LiveDigests = ReadonlyMap<string, LiveDigest>;

/** The digest of a live definition; a definition that has none (say, a lone surrogate in its text) is unpinnable. */
function liveDigestOf(tool: Record<string, unknown>): LiveDigest {
  try {
    return toolDigest(tool);
  } catch (error) {
    return { unpinnable: `the definition of \`${String(tool.name)}\` has no canonical form (${error instanceof Error ? error.message : String(error)})` };
  }
}

function digestsOf(tools: readonly Record<string, unknown>[]): LiveDigests {
  const digests = new Map<string, LiveDigest>();
  for (const tool of tools) {
    if (typeof tool.name !== "string") continue;
    digests.set(tool.name, digests.has(tool.name) ? { unpinnable: `the server lists \`${tool.name}\` more than once` } : liveDigestOf(tool));
  }
  return digests;
}

/** How long the server's own list handler may take to give the tool definitions calls are pinned to. */
export const LIVE_TOOLS_TIMEOUT_MS = 10_000;

function pinLive(guard: GuardModule, tool: string, digests: LiveDigests): PinVerdict {
  if (!digests.has(tool)) return { ok: false, code: EnforceErrorCode.ToolUnknown, reason: `the server does not list \`${tool}\`` };
  const live = digests.get(tool)!;
  if (typeof live !== "string") return { ok: false, code: EnforceErrorCode.ToolChanged, reason: live.unpinnable };
  if (live !== guard.toolDigests[tool]) {
    return { ok: false, code: EnforceErrorCode.ToolChanged, reason: `the definition of \`${tool}\` changed after the policy was compiled against it` };
  }
  return { ok: true };
}

/**
 * Whether some rule could permit `tool` in this session, without the arguments. Compiled guards and the interpreter
 * answer exactly with `reachableTools(context)`. A hand-written guard without it is probed with empty arguments, and
 * only a failed session requirement hides its tools: reading conditions from a probe would hide tools that a real
 * call can reach (a forbid on a missing argument fails closed for the probe), and listing a tool decides nothing.
 */
export function defaultReachability(guard: GuardModule): (tool: string, context: GuardContext) => boolean {
  if (typeof guard.reachableTools === "function") {
    const reachableTools = guard.reachableTools.bind(guard);
    return (tool, context) => reachableTools(context).includes(tool);
  }
  return (tool, context) => {
    const decision = guard.guard({ tool, args: {} }, context);
    return !decision.explain.some((e) => e.effect === "require" && e.matched);
  };
}
