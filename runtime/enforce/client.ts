// Client-side enforcement: checks each tools/call against the guard before it leaves, and pins every tools/list
// result (re-read on notifications/tools/list_changed) to the signed manifest: a changed tool is withheld and every
// call to it refused; a tool the manifest does not list is hidden unless the options allow it.
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { ListToolsResultSchema } from "@modelcontextprotocol/sdk/types.js";
import type { GuardModule } from "../guard/types.js";
import { compareToolList, type ToolStatus } from "../manifest/compare.js";
import type { VerifiedManifest } from "../manifest/signed.js";
import { SessionResolver, transportSessionInfo, type SessionSource } from "./context.js";
import { ResultStage } from "./results.js";
import { DecisionPoint, type ApprovalCallback, type DecisionOptions, type PinVerdict } from "./decide.js";
import { EnforceError, EnforceErrorCode } from "./errors.js";
import { onClose } from "./closing.js";
import { pinAgainstPolicy } from "./pin.js";
import { MAX_STALE_READS, readToolList, readUnchanged } from "../manifest/listing.js";

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

type RequestFn = Client["request"];
type Notification = { method: string; params?: unknown };
type NotificationHandler = (notification: Notification) => Promise<void>;

const CALL = "tools/call";
const LIST = "tools/list";
const LIST_CHANGED = "notifications/tools/list_changed";

export function guardClient(client: Client, guard: GuardModule, options: GuardClientOptions): GuardedClient {
  const manifest = options.manifest;
  const now = options.now ?? Date.now;
  const resolver = new SessionResolver(options.session ?? (() => transportSessionInfo(client.transport)), options.allowUnsealed === true, now);
  const decisions = new DecisionPoint(guard, "client", options, manifest.digest);
  const results = new ResultStage(guard, "client", { store: decisions.store, now, audit: options.audit, logger: options.logger, policyDigest: guard.policyDigest });
  /** The result stage: the policy's result rules see what the tool sent back before the application does. */
  const inspect = <T>(req: { params?: unknown }, result: T): Promise<T> => {
    const params = req.params as { name?: unknown; arguments?: unknown } | undefined;
    const tool = String(params?.name);
    const args = (params?.arguments ?? {}) as Readonly<Record<string, unknown>>;
    return results.pass(tool, args, resolver.current(), result, guard.outputSchemas?.[tool]);
  };
  const request: RequestFn = client.request.bind(client);
  let status: Map<string, ToolStatus> | undefined;
  let refreshing: Promise<Map<string, ToolStatus>> | undefined;
  /** Moves on every change (list_changed, a refresh, a whole listing kept): a list read under an earlier one may be stale. */
  let generation = 0;
  /** Sessions calls were decided for on the current connection: ended in the store when it closes. */
  const decided = new Set<string>();
  /** Aborted when the current connection closes: decisions still running for it are refused. */
  let connection = new AbortController();

  const statusOf = (tools: readonly Record<string, unknown>[]): Map<string, ToolStatus> => {
    const map = new Map<string, ToolStatus>();
    for (const entry of compareToolList(tools, manifest)) {
      // A name listed twice keeps its worst status.
      const before = map.get(entry.name);
      map.set(entry.name, before === "changed" || before === "new" ? before : entry.status);
    }
    return map;
  };

  /** The whole live list, every page, read without this wrapper. */
  const readAll = (): Promise<Record<string, unknown>[]> =>
    readToolList((cursor) => request({ method: LIST, params: cursor === undefined ? {} : { cursor } }, ListToolsResultSchema));

  /**
   * The pin status of the live list. A read that a change overtook is stale and decides nothing: it is read again,
   * and after MAX_STALE_READS such reads in a row the list counts as unreadable, so calls waiting for it are refused.
   */
  const fetchStatus = (): Promise<Map<string, ToolStatus>> => {
    if (refreshing !== undefined) return refreshing;
    const run = (async () => {
      // Kept, and the refresh ended, in the step that found the read unchanged: a change landing before this function
      // resumes must neither be followed by keeping what it made stale nor join this refresh instead of starting one.
      const fresh = await readUnchanged(
        () => generation,
        async () => statusOf(await readAll()),
        (read) => {
          status = read;
          if (refreshing === run) refreshing = undefined;
          return read;
        },
      );
      if (fresh === undefined) throw new EnforceError(EnforceErrorCode.ToolListUnavailable, `the server's tool list changed during each of ${MAX_STALE_READS} reads in a row`);
      return fresh;
    })();
    refreshing = run;
    const clear = (): void => {
      if (refreshing === run) refreshing = undefined;
    };
    run.then(clear, clear);
    return run;
  };

  const listed = (name: string, state: ReadonlyMap<string, ToolStatus>): boolean => {
    const s = state.get(name);
    if (s === "ok") return pinAgainstPolicy(guard, manifest, name).ok;
    return s === "new" && options.allowUnlisted === true;
  };

  const pinFor = (tool: string) => (): PinVerdict | Promise<PinVerdict> =>
    status !== undefined ? verdictFor(tool, status) : fetchStatus().then((fresh) => verdictFor(tool, fresh));

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

  /**
   * Decides a call and returns the request to send: with the arguments as decided (parsed back from the JSON text the
   * decision read), so that a caller's object that changes, or serialises differently later, cannot send other ones.
   */
  const check = async <R extends { params?: unknown }>(req: R, callerSignal?: AbortSignal): Promise<R> => {
    const params = req.params as { name?: unknown; arguments?: unknown } | undefined;
    const tool = params?.name;
    if (typeof tool !== "string") return req;
    // After the connection closed nothing is sent: such a call is refused (PQG7312) and opens no session; one still
    // being decided when it closes (an approval), or when the caller cancels it through its own signal, is refused too.
    const closed = client.transport === undefined ? AbortSignal.abort() : connection.signal;
    const cancel = callerSignal === undefined ? undefined : new AbortController();
    const signal = cancel === undefined ? closed : cancel.signal;
    if (cancel !== undefined) followAborts(cancel, [closed, callerSignal!]);
    try {
      const session = signal.aborted ? undefined : resolver.current();
      if (session !== undefined) decided.add(session.sessionId);
      const verdict = await decisions.decide({ tool, args: params?.arguments, session, pin: pinFor(tool), approve: options.approve, signal });
      if (!verdict.allowed) throw verdict.error;
      if (params?.arguments === undefined) return req;
      // The plain copy the guard decided on (the decision point parses a client's arguments from their JSON text).
      return { ...req, params: { ...params, arguments: verdict.args } };
    } finally {
      cancel?.abort(); // detaches it from the connection's long-lived signal (see followAborts)
    }
  };

  const guardedRequest = (async (req: Parameters<RequestFn>[0], schema: Parameters<RequestFn>[1], opts?: Parameters<RequestFn>[2]) => {
    if (req.method === CALL) {
      const checked = await check(req, opts?.signal);
      return inspect(checked, await request(checked, schema, opts));
    }
    if (req.method === LIST) {
      const before = generation;
      const result = await request(req, schema, opts);
      const tools = (result as { tools?: unknown }).tools;
      if (!Array.isArray(tools)) return result;
      const page = statusOf(tools as Record<string, unknown>[]);
      const whole = (req.params as { cursor?: unknown } | undefined)?.cursor === undefined && (result as { nextCursor?: unknown }).nextCursor === undefined;
      // A listing that a change overtook is shown, filtered, but not kept: the next call reads the list again.
      // The application's own listing is no change: it is kept without making reads in flight stale.
      if (whole && before === generation) status = page;
      return { ...result, tools: (tools as Record<string, unknown>[]).filter((t) => listed(String(t.name), page)) };
    }
    return request(req, schema, opts);
  }) as RequestFn;
  client.request = guardedRequest;

  // Streamed calls (tasks) take another path out; they meet the same check.
  // `requestStream` is protected in the SDK's types but is what `experimental.tasks.callToolStream` sends through.
  const streaming = client as unknown as { requestStream: (...args: unknown[]) => AsyncGenerator<unknown> };
  const requestStream = streaming.requestStream.bind(client);
  streaming.requestStream = async function* (...args: unknown[]) {
    const req = args[0] as { method: string; params?: { name?: unknown; arguments?: unknown } };
    if (req.method === CALL) {
      try {
        args[0] = await check(req, (args[2] as { signal?: AbortSignal } | undefined)?.signal);
      } catch (error) {
        yield { type: "error", error };
        return;
      }
    }
    if (req.method !== CALL) {
      yield* requestStream(...args);
      return;
    }
    for await (const message of requestStream(...args)) {
      const m = message as { type?: unknown; result?: unknown };
      if (m.type !== "result") {
        yield message;
        continue;
      }
      try {
        yield { ...m, result: await inspect(args[0] as { params?: unknown }, m.result) };
      } catch (error) {
        yield { type: "error", error };
      }
    }
  };

  /** A change: what was kept is stale; a refresh under way reads again (its read is checked against `generation`). */
  const invalidate = (): void => {
    generation++;
    status = undefined;
  };

  onClose(client, () => {
    connection.abort();
    connection = new AbortController();
    for (const id of decided) decisions.endSession(id);
    decided.clear();
    resolver.reset();
  });

  installListChanged(client, async () => {
    invalidate();
    try {
      await fetchStatus();
    } catch (error) {
      options.logger?.warn({ code: EnforceErrorCode.ToolUnknown }, `tool list could not be re-read after list_changed: ${String(error)}`);
    }
    const changed = [...(status ?? new Map<string, ToolStatus>())].filter(([, s]) => s === "changed").map(([n]) => n);
    if (changed.length > 0) options.logger?.warn({ tools: changed }, "server changed signed tool definitions; they are withheld");
  });

  return {
    decisions,
    status: () => new Map(status ?? []),
    refresh: async () => {
      invalidate();
      await fetchStatus();
    },
  };
}

/**
 * Runs `refresh` on every tools/list_changed before the application's own handler (set before or after this),
 * so a changed tool is withheld by the time the application re-lists.
 */
/**
 * Aborts `controller` when any of `sources` aborts. Its listeners go when `controller` aborts, for whatever reason,
 * so aborting it when done leaves nothing on a long-lived source.
 */
function followAborts(controller: AbortController, sources: readonly AbortSignal[]): void {
  const abort = (): void => controller.abort();
  controller.signal.addEventListener("abort", () => {
    for (const source of sources) source.removeEventListener("abort", abort);
  }, { once: true });
  for (const source of sources) {
    if (source.aborted) return controller.abort();
    source.addEventListener("abort", abort, { once: true });
  }
}

function installListChanged(client: Client, refresh: () => Promise<void>): void {
  const table = (client as unknown as { _notificationHandlers?: unknown })._notificationHandlers;
  if (!(table instanceof Map)) {
    throw new EnforceError(EnforceErrorCode.UnsupportedSdk, "this MCP SDK version keeps no notification handler table that enforcement can wrap");
  }
  const handlers = table as Map<string, NotificationHandler>;
  const wrapped = new WeakSet<NotificationHandler>();
  const rewrap = (): void => {
    const app = handlers.get(LIST_CHANGED);
    if (app !== undefined && wrapped.has(app)) return;
    const ours: NotificationHandler = async (notification) => {
      await refresh();
      if (app !== undefined) await app(notification);
    };
    wrapped.add(ours);
    handlers.set(LIST_CHANGED, ours);
  };
  rewrap();
  const setNotificationHandler = client.setNotificationHandler.bind(client) as (...args: unknown[]) => void;
  (client as unknown as { setNotificationHandler: (...args: unknown[]) => void }).setNotificationHandler = (...args: unknown[]) => {
    setNotificationHandler(...args);
    rewrap();
  };
}
