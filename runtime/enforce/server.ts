// Server-side enforcement: wraps the `tools/call` and `tools/list` request handlers of an SDK Server (or the Server
// inside an McpServer) so that every call meets the guard before its handler runs and a listing shows only tools the
// session could be allowed to call. The seam is the Server's handler table; see docs/enforcement.md for why.
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { McpError, ErrorCode } from "@modelcontextprotocol/sdk/types.js";
import type { GuardContext, GuardModule } from "../guard/types.js";
import { toolDigest } from "../manifest/digest.js";
import type { VerifiedManifest } from "../manifest/signed.js";
import { guardContextOf, historyKeyOf, SessionResolver, transportSessionInfo, type SessionSource, type SessionView } from "./context.js";
import { DecisionPoint, type ApprovalCallback, type DecisionOptions, type PinVerdict } from "./decide.js";
import { EnforceError, EnforceErrorCode } from "./errors.js";
import { onClose } from "./closing.js";
import { guardTableDigest, pinAgainstPolicy } from "./pin.js";
import { ResultStage } from "./results.js";
import { MAX_STALE_READS, readToolList, readUnchanged } from "../manifest/listing.js";

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
   * LIVE_TOOLS_TIMEOUT_MS, 10 s); past it, calls waiting for them are refused (PQG7304).
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

type RawHandler = (request: { method: string; params?: Record<string, unknown> }, extra: unknown) => Promise<Record<string, unknown>>;
type HandlerTable = Map<string, RawHandler>;

const CALL = "tools/call";
const LIST = "tools/list";

export function enforce(server: McpServer | Server, guard: GuardModule, options: EnforceOptions = {}): Enforcement {
  const inner: Server = server instanceof Server ? server : server.server;
  const table = handlerTable(inner);
  const now = options.now ?? Date.now;
  const resolver = new SessionResolver(options.session ?? (() => transportSessionInfo(inner.transport)), options.allowUnsealed === true, now);
  const decisions = new DecisionPoint(guard, "server", options, options.manifest?.digest ?? guardTableDigest(guard));
  const results = new ResultStage(guard, "server", { store: decisions.store, now, audit: options.audit, logger: options.logger, policyDigest: guard.policyDigest });
  const live = new LiveTools(options.toolListTimeoutMs ?? LIVE_TOOLS_TIMEOUT_MS);
  const seenSessions = new Set<string>();
  const reachable = options.reachable ?? defaultReachability(guard);

  const approverFor = (): ApprovalCallback | undefined => {
    if (options.approve !== undefined) return options.approve;
    if (inner.getClientCapabilities()?.elicitation?.form === undefined) return undefined;
    return async (request) => {
      const result = await inner.elicitInput(
        {
          mode: "form",
          message: `Allow the call to \`${request.tool}\`? ${request.decision.reason} (${request.decision.determining.join(", ")})`,
          requestedSchema: { type: "object", properties: { approve: { type: "boolean", title: "Approve this call" } }, required: ["approve"] },
        },
        { signal: request.signal, timeout: options.approvalTimeoutMs },
      );
      return result.action === "accept" && result.content?.approve === true;
    };
  };

  // Built per call by a factory, not as a named local: the tsx loader would name each new closure (defineProperty).
  const pinning = (tool: string, extra: unknown): (() => PinVerdict | Promise<PinVerdict>) => () => {
    const policy = pinAgainstPolicy(guard, options.manifest, tool);
    if (!policy.ok) return policy;
    const cached = live.peek();
    if (cached !== undefined) return pinLive(guard, tool, cached);
    return live.get((page) => listPage(originalList, page, extra)).then((digests) => pinLive(guard, tool, digests));
  };

  const wrapCall = (original: RawHandler): RawHandler => async (request, extra) => {
    const params = request.params ?? {};
    const tool = params.name;
    if (typeof tool !== "string") throw new McpError(ErrorCode.InvalidParams, "tools/call needs a `name` string");
    // The SDK still runs a handler for a request that arrived with the close (it aborts its signal first): such a call
    // is refused, and must not open a session (after the close, the resolver would hand out a fresh unsealed one).
    const signal = signalOf(extra);
    const session = signal?.aborted === true ? undefined : resolver.current();
    if (session !== undefined) seenSessions.add(session.sessionId);
    const pin = pinning(tool, extra);
    const handlerView = server instanceof Server ? undefined : schemaView(server, tool);
    const verdict = await decisions.decide({ tool, args: params.arguments, session, pin, approve: approverFor(), signal, handlerView });
    if (!verdict.allowed) throw verdict.error;
    // Closed or cancelled in the turn between the decision and here: nobody waits for the result, so it does not run.
    if (signal?.aborted === true) throw new McpError(ErrorCode.ConnectionClosed, "the request was cancelled or its connection closed");
    // The handler gets the plain copy the guard decided on, not the object parsed from the wire (see argumentsText).
    const result = await original({ ...request, params: { ...params, arguments: verdict.args } }, extra);
    // The result stage: the policy's result rules see what the tool sent back before it leaves the server.
    return results.pass(tool, verdict.args, session, result, guard.outputSchemas?.[tool]);
  };

  // The unfiltered list handler: live definitions are pinned from what the server really offers.
  let originalList: RawHandler | undefined;
  const wrapList = (original: RawHandler): RawHandler => {
    originalList = original;
    return (request, extra) => filteredList(original, request, extra);
  };
  const filteredList: (original: RawHandler, ...call: Parameters<RawHandler>) => ReturnType<RawHandler> = async (original, request, extra) => {
    // A list_changed while the handler answers makes this answer stale: it is shown, filtered, but not pinned.
    const generation = live.generation;
    const result = await original(request, extra);
    const tools = Array.isArray(result.tools) ? (result.tools as Record<string, unknown>[]) : [];
    if (request.params?.cursor === undefined && result.nextCursor === undefined) live.offer(generation, digestsOf(tools));
    const session = resolver.current();
    const visible = session === undefined ? [] : await visibleTools(tools, session);
    return { ...result, tools: visible };
  };

  const visibleTools = async (tools: Record<string, unknown>[], session: SessionView): Promise<Record<string, unknown>[]> => {
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
  };

  install(inner, table, CALL, wrapCall);
  install(inner, table, LIST, wrapList);

  const sendToolListChanged = inner.sendToolListChanged.bind(inner);
  inner.sendToolListChanged = () => {
    live.invalidate();
    return sendToolListChanged();
  };
  onClose(inner, () => {
    // Each session this connection decided for ends once its decisions in flight (an approval pending) have finished.
    for (const id of seenSessions) decisions.endSession(id);
    seenSessions.clear();
    // The next connection of this Server is a new session: it must not continue the ended one's id (and history).
    resolver.reset();
  });
  return { decisions, invalidateTools: () => live.invalidate() };
}

/** The parts of an McpServer that validate a tool's arguments before its handler runs. Not public API (see handlerTable). */
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
function schemaView(server: McpServer, tool: string): ((args: Readonly<Record<string, unknown>>) => Promise<Readonly<Record<string, unknown>>>) | undefined {
  const internals = server as unknown as McpServerInternals;
  const registered = internals._registeredTools?.[tool];
  if (registered?.inputSchema === undefined || typeof internals.validateToolInput !== "function") return undefined;
  const validate = internals.validateToolInput.bind(server);
  return async (args) => (await validate(registered, args, tool)) as Readonly<Record<string, unknown>>;
}

/** The AbortSignal the SDK passes a request handler in `extra` (aborted on cancellation and on close), if any. */
function signalOf(extra: unknown): AbortSignal | undefined {
  const signal = (extra as { signal?: unknown } | undefined)?.signal;
  return signal instanceof AbortSignal ? signal : undefined;
}

/** The Server's handler table. It is not public API, so its shape is checked here and at every SDK upgrade by the tests. */
function handlerTable(inner: Server): HandlerTable {
  const table = (inner as unknown as { _requestHandlers?: unknown })._requestHandlers;
  if (!(table instanceof Map)) {
    throw new EnforceError(EnforceErrorCode.UnsupportedSdk, "this MCP SDK version keeps no request handler table that enforcement can wrap");
  }
  return table as HandlerTable;
}

/**
 * Wraps the handler for `method` now, if one is installed, and every handler installed later: McpServer installs
 * its tool handlers only when the first tool is registered, possibly after `enforce` ran.
 */
function install(inner: Server, table: HandlerTable, method: string, wrap: (original: RawHandler) => RawHandler): void {
  const wrapped = new WeakSet<RawHandler>();
  const rewrap = (): void => {
    const current = table.get(method);
    if (current === undefined || wrapped.has(current)) return;
    const guarded = wrap(current);
    wrapped.add(guarded);
    table.set(method, guarded);
  };
  rewrap();
  const setRequestHandler = inner.setRequestHandler.bind(inner) as (...args: unknown[]) => void;
  (inner as unknown as { setRequestHandler: (...args: unknown[]) => void }).setRequestHandler = (...args: unknown[]) => {
    setRequestHandler(...args);
    rewrap();
  };
}

async function listPage(handler: RawHandler | undefined, cursor: string | undefined, extra: unknown): Promise<Record<string, unknown>> {
  if (handler === undefined) return { tools: [] };
  return handler({ method: LIST, params: cursor === undefined ? {} : { cursor } }, extra);
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

/** `promise`, or a ToolListUnavailable EnforceError saying `why` once `ms` have passed; the timer never keeps the process alive. */
function withinMs<T>(promise: Promise<T>, ms: number, why: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new EnforceError(EnforceErrorCode.ToolListUnavailable, why)), ms);
    timer.unref?.();
  });
  return Promise.race([promise, expiry]).finally(() => clearTimeout(timer));
}

/** The server's own tool definitions, read through its (unfiltered) list handler and kept until they change. */
class LiveTools {
  constructor(private readonly timeoutMs: number) {}

  private digests: LiveDigests | undefined;
  private loading: Promise<LiveDigests> | undefined;
  /** Moves on every change: definitions read under an earlier generation may be stale. */
  private changes = 0;

  get generation(): number {
    return this.changes;
  }

  /** Keeps definitions read in full under `generation`, unless they changed since the read began. */
  offer(generation: number, digests: LiveDigests): void {
    if (generation === this.changes) this.digests = digests;
  }

  invalidate(): void {
    this.changes++;
    this.digests = undefined;
    this.loading = undefined;
  }

  peek(): LiveDigests | undefined {
    return this.digests;
  }

  /**
   * The definitions, read through `fetchPage` when none are kept. A read that a change overtook is stale: it is read
   * again, and after MAX_STALE_READS such reads in a row the definitions count as unreadable (calls are refused).
   */
  get(fetchPage: (cursor: string | undefined) => Promise<Record<string, unknown>>): Promise<LiveDigests> {
    if (this.digests !== undefined) return Promise.resolve(this.digests);
    if (this.loading !== undefined) return this.loading;
    const loading = (async () => {
      // Kept in the step that found the read unchanged: a change landing before this function resumes must not be
      // followed by keeping what it made stale.
      const digests = await readUnchanged(
        () => this.changes,
        async () => digestsOf(await readToolList(fetchPage)),
        (read) => (this.digests = read),
      );
      if (digests === undefined) {
        throw new EnforceError(EnforceErrorCode.ToolListUnavailable, `the server's tool list changed during each of ${MAX_STALE_READS} reads in a row`);
      }
      return digests;
    })();
    // A list handler that never answers would hold every call waiting for the pin, and its decision, forever.
    const ms = this.timeoutMs;
    const bounded = withinMs(loading, ms, `the server's own tools/list handler did not answer within ${ms} ms, so no tool can be pinned`);
    this.loading = bounded;
    bounded.catch(() => undefined).finally(() => {
      if (this.loading === bounded) this.loading = undefined;
    });
    return bounded;
  }
}


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
