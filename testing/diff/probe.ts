// One request as the diff builds it: a call and the facts of its session, its time and the calls before, each part
// settable on its own. Earlier calls are kept as ages (how long before the decision), so that moving the clock moves
// them along. A probe becomes the GeneratedRequest a guard decides on and `pqguard eval --request` reads.
import type { CallHistory, ClientFacts, GuardContext, PeerFacts, TransportFacts } from "../../runtime/guard/types.js";
import { GeneratedHistory, type CallScope } from "../context.js";
import type { GeneratedRequest } from "../types.js";
import { queryKey, type Query } from "./reads.js";

export interface EarlierCallAgo {
  readonly tool: string;
  /** Milliseconds before the decision; 0 is the same instant, which a count still includes. */
  readonly ago: number;
  readonly scope: CallScope;
  /** The call's arguments, where an aggregate (`sum(T.amount, 1d)`) reads them. */
  readonly args?: Readonly<Record<string, unknown>> | undefined;
}

/**
 * Earlier calls as a list, or, when every class of history is enumerated, only the counts the policies read
 * (by query key): a history that answers exactly those, whether or not one list of calls could give all of them.
 */
export type HistoryValue =
  | { readonly kind: "calls"; readonly calls: readonly EarlierCallAgo[] }
  | { readonly kind: "counts"; readonly counts: Readonly<Record<string, number>> };

export interface Probe {
  readonly tool: string;
  readonly args: Readonly<Record<string, unknown>>;
  readonly client: ClientFacts;
  readonly peer: PeerFacts;
  readonly transport: TransportFacts;
  readonly sessionId: string;
  readonly ageMs: number;
  readonly now: number;
  readonly history: HistoryValue;
}

export const NO_CALLS: HistoryValue = { kind: "calls", calls: [] };

/** The probe of a request drawn by pqguard/testing's `request()`. */
export function probeOf(request: GeneratedRequest): Probe {
  const { context } = request;
  const calls = (context.history as Partial<GeneratedHistory>).calls ?? [];
  return {
    tool: request.tool,
    args: request.args,
    client: context.client,
    peer: context.peer,
    transport: context.transport,
    sessionId: context.session.id ?? "session",
    ageMs: context.session.ageMs,
    now: context.now,
    history: { kind: "calls", calls: calls.map((c) => ({ tool: c.tool, ago: context.now - c.at, scope: c.scope, ...(c.args === undefined ? {} : { args: c.args }) })) },
  };
}

/** Whether the probe is a context enforcement could build: the checks `session()` and `request()` guarantee. */
export function coherent(p: Probe): boolean {
  const sealed = p.transport.kem !== undefined;
  const { client } = p;
  if (!sealed && (client.authenticated === true || p.peer.fingerprint !== undefined || p.peer.label !== undefined)) return false;
  if (sealed && p.peer.fingerprint === undefined) return false;
  if (client.authenticated === true) {
    if (client.fingerprint === undefined) return false;
    const claims = client.claims ?? {};
    if (claims["role"] !== client.role && !(claims["role"] === undefined && client.role === undefined)) return false;
    if (claims["id"] !== client.id && !(claims["id"] === undefined && client.id === undefined)) return false;
  } else if (client.role !== undefined || client.id !== undefined || client.fingerprint !== undefined || client.claims !== undefined) {
    return false;
  }
  if (!(p.ageMs >= 0 && Number.isFinite(p.ageMs))) return false;
  if (p.history.kind === "calls") {
    for (const call of p.history.calls) {
      if (call.ago < 0 || (call.scope === "session" && call.ago > p.ageMs)) return false;
    }
  }
  return true;
}

/** A CallHistory that answers the counts it was given, and 0 for any other. */
class CountsHistory implements CallHistory {
  constructor(
    private readonly counts: Readonly<Record<string, number>>,
    private readonly now: number,
  ) {}

  count(tools: readonly string[] | "*", since: number, scope: "global" | "client" | "session"): number {
    return this.counts[queryKey({ tools, windowMs: this.now - since, scope, called: false })] ?? 0;
  }

  called(tool: string): boolean {
    return (this.counts[queryKey({ tools: tool === "*" ? "*" : [tool], windowMs: Number.POSITIVE_INFINITY, scope: "session", called: true })] ?? 0) > 0;
  }
}

/** The earlier calls that `query` counts, as the state store counts them (GeneratedHistory.count). */
export function countOf(calls: readonly EarlierCallAgo[], query: Query): number {
  let n = 0;
  for (const call of calls) {
    if (call.ago > query.windowMs) continue;
    if (query.tools !== "*" && !query.tools.includes(call.tool)) continue;
    if (query.scope === "session" && call.scope !== "session") continue;
    if (query.scope === "client" && call.scope === "other") continue;
    n++;
  }
  return query.called ? Math.min(n, 1) : n;
}

function sessionCallsOf(p: Probe): number {
  if (p.history.kind === "counts") return p.history.counts[queryKey({ tools: "*", windowMs: Number.POSITIVE_INFINITY, scope: "session", called: false })] ?? 0;
  return p.history.calls.filter((c) => c.scope === "session").length;
}

/** The request a guard decides on; `requestJson` prints it as `pqguard eval --request` reads it when its history is a list. */
export function requestOf(p: Probe): GeneratedRequest {
  const history: CallHistory =
    p.history.kind === "counts"
      ? new CountsHistory(p.history.counts, p.now)
      : new GeneratedHistory(
          [...p.history.calls].sort((a, b) => b.ago - a.ago).map((c) => ({ tool: c.tool, at: p.now - c.ago, scope: c.scope, args: c.args })),
          p.now,
        );
  const context: GuardContext = {
    client: p.client,
    peer: p.peer,
    transport: p.transport,
    session: { id: p.sessionId, ageMs: p.ageMs, calls: sessionCallsOf(p) },
    now: p.now,
    history,
  };
  return { tool: p.tool, args: p.args, context };
}

/** A count a list of calls must give one query: any count `accepts` takes, `count` being one of them. */
export interface CountTarget {
  readonly query: Query;
  readonly count: number;
  readonly accepts: (n: number) => boolean;
}

/**
 * Earlier calls that give each query a count it accepts: queries are filled from the shortest window and the narrowest
 * scope up, each missing call placed as old as the query's window allows (so shorter windows do not count it) and in
 * the query's own scope (so narrower scopes do not). Undefined when no list found this way satisfies them all.
 */
export function callsFor(targets: readonly CountTarget[], tool: string, ageMs: number): EarlierCallAgo[] | undefined {
  const rank = { session: 0, client: 1, global: 2 } as const;
  const ordered = [...targets].sort((a, b) => a.query.windowMs - b.query.windowMs || rank[a.query.scope] - rank[b.query.scope]);
  const calls: EarlierCallAgo[] = [];
  for (const { query, count, accepts } of ordered) {
    const have = countOf(calls, query);
    if (accepts(have)) continue;
    if (have > count) return undefined;
    const scope: CallScope = query.scope === "session" ? "session" : query.scope === "client" ? "client" : "other";
    const window = Number.isFinite(query.windowMs) ? query.windowMs : ageMs;
    const ago = scope === "session" ? Math.min(window, ageMs) : window;
    const callTool = query.tools === "*" || query.tools.includes(tool) ? tool : query.tools[0]!;
    for (let i = have; i < count; i++) calls.push({ tool: callTool, ago, scope });
  }
  return ordered.every(({ query, accepts }) => accepts(countOf(calls, query))) ? calls : undefined;
}
