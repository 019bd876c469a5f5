// Client-side enforcement: checks each tools/call against the guard before it leaves, and pins every tools/list
// result (re-read on notifications/tools/list_changed) to the signed manifest: a changed tool is withheld and every
// call to it refused; a tool the manifest does not list is hidden unless the options allow it. Attached to the client's
// transport through the SDK's public Transport interface (tap.ts).
import type { GuardModule } from "../guard/types.js";
import { compareToolList, type ToolStatus } from "../manifest/compare.js";
import type { VerifiedManifest } from "../manifest/signed.js";
import { SessionResolver, transportSessionInfo, type SessionSource, type SessionView } from "./context.js";
import { DecisionPoint, type ApprovalCallback, type DecisionOptions, type PinVerdict } from "./decide.js";
import { EnforceError, EnforceErrorCode } from "./errors.js";
import { pinAgainstPolicy } from "./pin.js";
import { MAX_STALE_READS } from "../manifest/listing.js";
import { InOrder, LOG_MESSAGE, PROGRESS, ReturningCalls } from "./notifications.js";
import { gatedResponse, ResultGate } from "./links.js";
import { DecidingCall, isRequest, isResponse, onEveryTransport, withEnvelope, OwnRequests, paramsOf, tapTransport, type Connectable, type Deliver, type Send, type SendOptions, type TransportTap, type WireMessage } from "./tap.js";
import { PinnedToolList, type ReadBudget } from "./tool-list.js";

export interface GuardClientOptions extends DecisionOptions {
  /** The verified signed manifest every listed tool is pinned to. */
  readonly manifest: VerifiedManifest;
  /** The session of each call; defaults to the `sessionInfo` of the client's connected transport. */
  readonly session?: SessionSource;
  /** Decide calls on a plain connection as an unauthenticated, classical session; off by default. */
  readonly allowUnsealed?: boolean;
  /** Show tools the manifest does not list (their calls still meet the guard); off by default. */
  readonly allowUnlisted?: boolean;
  /** Approver for `ask`; without one every `ask` is denied. */
  readonly approve?: ApprovalCallback;
}

export interface GuardedClient {
  readonly decisions: DecisionPoint;
  /** The pin status of each tool the server listed last, and of signed tools it no longer lists. */
  status(): ReadonlyMap<string, ToolStatus>;
  /** Re-reads the server's tool list now. */
  refresh(): Promise<void>;
}

/** An SDK client guardClient attaches to: a `Client` of SDK v1 or v2. */
export type GuardableClient = Connectable;

const CALL = "tools/call";
const LIST = "tools/list";
const READ = "resources/read";
const LIST_CHANGED = "notifications/tools/list_changed";
/**
 * How long the server may take to list its tools when a call needs the pin (the MCP SDK's default request timeout);
 * past it, the calls waiting are refused (PQG7313).
 */
export const CLIENT_TOOL_LIST_TIMEOUT_MS = 60_000;

/**
 * Guards `client`: each tools/call it sends meets the guard first, and each tools/list answer it receives is pinned to
 * the signed manifest. Attached to the transport the client is connected to now and to every one it connects to
 * later, through the SDK's public Transport interface (tap.ts). SDK v1 and v2 clients alike.
 */
export function guardClient(client: GuardableClient, guard: GuardModule, options: GuardClientOptions): GuardedClient {
  const manifest = options.manifest;
  const now = options.now ?? Date.now;
  const resolver = new SessionResolver(options.session ?? (() => transportSessionInfo(client.transport)), options.allowUnsealed === true, now);
  const decisions = new DecisionPoint(guard, "client", options, manifest.digest);
  let connection: ClientConnection | undefined;

  const statusOf = (tools: readonly Record<string, unknown>[]): Map<string, ToolStatus> => {
    const map = new Map<string, ToolStatus>();
    for (const entry of compareToolList(tools, manifest)) {
      // A name listed twice keeps its worst status.
      const before = map.get(entry.name);
      map.set(entry.name, before === "changed" || before === "new" ? before : entry.status);
    }
    return map;
  };
  const list = new PinnedToolList<Map<string, ToolStatus>>({
    readPage: (cursor) => {
      if (connection === undefined) return Promise.reject(new EnforceError(EnforceErrorCode.ToolListUnavailable, "the client is not connected, so the server's tools cannot be read"));
      return connection.askServer(LIST, cursor === undefined ? {} : { cursor });
    },
    keep: statusOf,
    unpinnable: () => new EnforceError(EnforceErrorCode.ToolListUnavailable, `the server's tool list changed during each of ${MAX_STALE_READS} reads in a row`),
    timeoutMs: CLIENT_TOOL_LIST_TIMEOUT_MS,
    timedOut: (ms) => new EnforceError(EnforceErrorCode.ToolListUnavailable, `the server did not list its tools within ${ms} ms, so no tool can be pinned`),
  });

  const listed = (name: string, state: ReadonlyMap<string, ToolStatus>): boolean => {
    const s = state.get(name);
    if (s === "ok") return pinAgainstPolicy(guard, manifest, name).ok;
    return s === "new" && options.allowUnlisted === true;
  };

  const verdictFor = (tool: string, state: ReadonlyMap<string, ToolStatus>): PinVerdict => {
    const s = state.get(tool);
    if (s === "changed") {
      return { ok: false, code: EnforceErrorCode.ToolChanged, reason: `the server's definition of \`${tool}\` differs from the signed manifest` };
    }
    if (s === "new" && options.allowUnlisted !== true) {
      return { ok: false, code: EnforceErrorCode.ToolUnknown, reason: `\`${tool}\` is not in the signed manifest` };
    }
    if (s === undefined || s === "missing") return { ok: false, code: EnforceErrorCode.ToolUnknown, reason: `the server does not list \`${tool}\`` };
    return s === "new" ? { ok: true } : pinAgainstPolicy(guard, manifest, tool);
  };

  const shared: ClientGuard = {
    options,
    resolver,
    decisions,
    results: new ResultGate(decisions, (error) => error),
    list,
    pin: (tool, budget) => list.use((state) => verdictFor(tool, state), budget),
    visible: (tools) => {
      const state = statusOf(tools);
      return tools.filter((t) => listed(String(t.name), state));
    },
    listChanged: async () => {
      list.changed();
      try {
        await list.refresh();
      } catch (error) {
        options.logger?.warn({ code: EnforceErrorCode.ToolListUnavailable }, `tool list could not be re-read after list_changed: ${String(error)}`);
      }
      const changed = [...(list.current ?? new Map<string, ToolStatus>())].filter(([, s]) => s === "changed").map(([n]) => n);
      if (changed.length > 0) options.logger?.warn({ tools: changed }, "server changed signed tool definitions; they are withheld");
    },
  };
  onEveryTransport(client, (transport) => {
    connection = new ClientConnection(shared, transport);
  });

  return {
    decisions,
    status: () => new Map(list.current ?? []),
    refresh: async () => {
      list.changed();
      await list.refresh();
    },
  };
}

/** What every connection of one guarded client shares. */
interface ClientGuard {
  readonly options: GuardClientOptions;
  readonly resolver: SessionResolver;
  readonly decisions: DecisionPoint;
  /** The result rules' gate: tools/call results, and reads of the resources they linked to. */
  readonly results: ResultGate;
  readonly list: PinnedToolList<Map<string, ToolStatus>>;
  readonly pin: (tool: string, budget: ReadBudget) => PinVerdict | Promise<PinVerdict>;
  /** The tools of a listing the application may see. */
  visible(tools: Record<string, unknown>[]): Record<string, unknown>[];
  /** Re-reads the pin after a list_changed, before the application hears of it. */
  listChanged(): Promise<void>;
}

/** One connection of a guarded client: the transport's tap and what is in flight on it. */
class ClientConnection {
  readonly #shared: ClientGuard;
  readonly #tap: TransportTap;
  /** Calls being decided, by request id: aborted when the caller cancels one or the connection closes. */
  readonly #deciding = new Map<unknown, DecidingCall>();
  /** The application's tools/list requests, by id, with the pin generation they were sent under. */
  readonly #listings = new Map<unknown, number>();
  /** Calls sent, by id: their results pass the result stages on the way back. */
  readonly #running = new ReturningCalls();
  /** The application's resources/read requests under result rules, by id: their answers pass the result gate. */
  readonly #reads = new Map<unknown, { readonly params: Record<string, unknown>; readonly session: SessionView | undefined }>();
  /** Results and notifications under result rules reach the application in the order the server sent them. */
  readonly #inOrder = new InOrder();
  /** The guard's own tools/list requests: answered only by the server. */
  readonly #asked = new OwnRequests((message) => new EnforceError(EnforceErrorCode.ToolListUnavailable, message));
  /** Sessions calls were decided for on this connection: ended in the call history when it closes. */
  readonly #sessions = new Set<string>();
  /** The `_meta` of the application's last request: under protocol 2026-07-28 the guard's own requests need its envelope. */
  #lastMeta: unknown;
  #closed = false;

  constructor(shared: ClientGuard, transport: object) {
    this.#shared = shared;
    this.#tap = tapTransport(transport, {
      incoming: (message, extra, deliver) => this.#incoming(message, extra, deliver),
      outgoing: (message, options, send) => this.#outgoing(message, options, send),
      closed: () => this.#close(),
    });
  }

  #outgoing(message: WireMessage, options: SendOptions | undefined, send: Send): Promise<void> {
    if (isRequest(message)) {
      const meta = (message.params as { _meta?: unknown } | undefined)?._meta;
      if (meta !== undefined) this.#lastMeta = meta;
      if (message.method === CALL) return this.#call(message, options, send);
      if (message.method === LIST) this.#listings.set(message.id, this.#shared.list.generation);
      // A resource a tool's result linked to is read as that tool's result would be (links.ts).
      else if (message.method === READ && this.#shared.decisions.inspectsResults && !this.#closed) this.#reads.set(message.id, { params: paramsOf(message), session: this.#shared.resolver.current() });
    } else if (message.method === "notifications/cancelled") {
      const controller = this.#deciding.get(paramsOf(message).requestId);
      // A call still being decided never reached the server: its cancellation concerns nobody there.
      if (controller !== undefined) {
        controller.abort();
        return Promise.resolve();
      }
    }
    return send(message, options);
  }

  /**
   * Decides a call and sends it with the arguments as decided (parsed back from the JSON text the decision read), so
   * that a caller's object that changes, or serialises differently later, cannot send other ones. A refusal is
   * answered to the application as the server's error would be.
   */
  async #call(message: WireMessage, options: SendOptions | undefined, send: Send): Promise<void> {
    const params = paramsOf(message);
    const tool = params.name;
    if (typeof tool !== "string") return send(message, options);
    const id = message.id;
    const call = new DecidingCall(this.#shared.pin);
    this.#deciding.set(id, call);
    const { decisions, resolver, options: guardOptions } = this.#shared;
    try {
      // After the close nothing is sent: a call then is refused (PQG7312) and opens no session.
      const session = this.#closed ? undefined : resolver.current();
      if (this.#closed) call.abort();
      if (session !== undefined) this.#sessions.add(session.sessionId);
      call.tool = tool;
      call.args = params.arguments;
      call.session = session;
      call.approve = guardOptions.approve;
      call.task = params.task !== undefined;
      const verdict = await decisions.decide(call);
      if (!verdict.allowed) {
        // The caller that cancelled has forgotten the id; after a close there is nobody to tell.
        if (!call.aborted) {
          const error = verdict.error;
          this.#tap.deliver({ jsonrpc: "2.0", id, error: { code: error.code, message: error.message, data: error.data } });
        }
        return;
      }
      if (call.aborted) return;
      if (decisions.inspectsResults) this.#running.set(id, { tool, args: verdict.args, session }, params._meta);
      const sent = params.arguments === undefined ? message : { ...message, params: { ...params, arguments: verdict.args } };
      return await send(sent, options);
    } finally {
      this.#deciding.delete(id);
    }
  }

  #incoming(message: WireMessage, extra: unknown, deliver: Deliver): void {
    if (isResponse(message)) {
      const id = message.id;
      if (this.#asked.settle(message)) return;
      const generation = this.#listings.get(id);
      if (generation !== undefined) {
        this.#listings.delete(id);
        deliver(this.#filtered(message, generation), extra);
        return;
      }
      const running = this.#running.size === 0 ? undefined : this.#running.take(id);
      if (running !== undefined) {
        const result = message.result;
        if (typeof result === "object" && result !== null) {
          const gated = this.#shared.results.afterCall(running.tool, running.args, running.session, result as Record<string, unknown>);
          void this.#inOrder.queue(gatedResponse(message, gated), (response) => deliver(response, extra));
          return;
        }
      }
      const read = this.#reads.size === 0 ? undefined : this.#reads.get(id);
      if (read !== undefined) {
        this.#reads.delete(id);
        if ("result" in message) {
          void this.#inOrder.queue(gatedResponse(message, this.#shared.results.afterRead(read.params, read.session, message.result)), (response) => deliver(response, extra));
          return;
        }
      }
    } else if (message.method === LIST_CHANGED) {
      // The pin is read again before the application hears of the change, so a changed tool is withheld by the time
      // it lists the tools again.
      void this.#shared.listChanged().then(() => deliver(message, extra));
      return;
    } else if ((message.method === PROGRESS || message.method === LOG_MESSAGE) && this.#shared.decisions.inspectsResults) {
      // What a tool reports while it runs reaches the application as surely as its result: the result rules read it too.
      const inspected = this.#shared.decisions.inspectNotification(message, this.#running.owners(message), this.#closed ? undefined : this.#shared.resolver.current());
      void this.#inOrder.queue(inspected, (passed) => {
        if (passed !== undefined) deliver(passed, extra);
      });
      return;
    }
    deliver(message, extra);
  }

  /** A listing: kept when whole and no change overtook it, and filtered to the tools the manifest pins. */
  #filtered(message: WireMessage, generation: number): WireMessage {
    const result = message.result as Record<string, unknown> | undefined;
    if (result === undefined || !Array.isArray(result.tools)) return message;
    const tools = result.tools as Record<string, unknown>[];
    // A listing that a change overtook is shown, filtered, but not kept: the next call reads the list again. The
    // application's own listing is no change: it is kept without making reads in flight stale.
    if (result.nextCursor === undefined) this.#shared.list.offer(generation, tools);
    return { ...message, result: { ...result, tools: this.#shared.visible(tools) } };
  }

  /** Asks the server for its tools past the guard; the answer comes back through `incoming` and goes no further. */
  askServer(method: string, params: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (this.#closed) return Promise.reject(new EnforceError(EnforceErrorCode.ToolListUnavailable, "the connection closed before the server listed its tools"));
    const { id, answer } = this.#asked.open();
    this.#tap.send({ jsonrpc: "2.0", id, method, params: withEnvelope(params, this.#lastMeta) }).catch((error: unknown) => this.#asked.settle({ id, error: { message: String(error) } }));
    return answer;
  }

  #close(): void {
    this.#closed = true;
    for (const controller of this.#deciding.values()) controller.abort();
    this.#asked.failAll("the connection closed before the server listed its tools");
    const { decisions, resolver, list } = this.#shared;
    for (const id of this.#sessions) {
      decisions.endSession(id);
      this.#shared.results.endSession(id);
    }
    this.#sessions.clear();
    resolver.reset();
    list.changed();
  }
}
