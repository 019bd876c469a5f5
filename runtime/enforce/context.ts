// Builds the guard's view of a call from the live session: identity and suite from the post-quantum handshake
// (SessionInfo), or an explicitly allowed unsealed session that guards see as unauthenticated and classical.
import { randomUUID } from "node:crypto";
import type { AuditSuite } from "../audit/record.js";
import type { GuardContext } from "../guard/types.js";
import type { SessionInfo } from "../session/facts.js";
import type { CallRecord, HistoryKey, HistorySnapshot } from "../state/store.js";
import { recordedValues } from "../state/values.js";

/** The facts one call is decided on, whether they come from a sealed session or an allowed plain one. */
export interface SessionView {
  readonly sessionId: string;
  readonly establishedAt: number;
  readonly sealed: boolean;
  readonly info: SessionInfo | undefined;
  /**
   * A request of a sessionless protocol revision (2026-07-28) that reached enforcement with nothing to key a session
   * on (no sealed session, no handle): its `sessionId` is its own, so a guard that reads session state (`session.calls`,
   * `session.age`, a `per session` count, `calls()`, `seen()`) cannot decide it (PQG7317) rather than see a session of one call.
   */
  readonly sessionless?: boolean | undefined;
}

/** Where an enforcement point reads the session from, at each call. */
export type SessionSource = () => SessionInfo | undefined;

/** All unauthenticated callers share one `per client` bucket: they cannot be told apart. */
export const UNAUTHENTICATED_CLIENT_ID = "unauthenticated";

/** Reads `sessionInfo` from a transport that has one (the PQC transports); undefined for any other transport. */
export function transportSessionInfo(transport: unknown): SessionInfo | undefined {
  if (typeof transport !== "object" || transport === null || !("sessionInfo" in transport)) return undefined;
  const info = (transport as { sessionInfo: unknown }).sessionInfo;
  return isSessionInfo(info) ? info : undefined;
}

function isSessionInfo(value: unknown): value is SessionInfo {
  if (typeof value !== "object" || value === null) return false;
  const info = value as Partial<SessionInfo>;
  return typeof info.sessionId === "string" && typeof info.establishedAt === "number" && typeof info.suite === "object" && info.suite !== null;
}

/**
 * Resolves the session for a call: the sealed one when established; else, only when the operator allowed plain
 * connections, one unsealed session per connection (until `reset`); else undefined (the call is then refused).
 */
export class SessionResolver {
  private unsealed: SessionView | undefined;

  constructor(
    private readonly source: SessionSource,
    private readonly allowUnsealed: boolean,
    private readonly now: () => number,
    /** The unsealed session is one sessionless request (see SessionView.sessionless), not a connection. */
    private readonly sessionless = false,
  ) {}

  current(): SessionView | undefined {
    const info = this.source();
    if (info !== undefined) return { sessionId: info.sessionId, establishedAt: info.establishedAt, sealed: true, info };
    if (!this.allowUnsealed) return undefined;
    this.unsealed ??= {
      sessionId: `${this.sessionless ? "sessionless" : "unsealed"}-${randomUUID()}`,
      establishedAt: this.now(),
      sealed: false,
      info: undefined,
      ...(this.sessionless ? { sessionless: true } : {}),
    };
    return this.unsealed;
  }

  /** The connection closed: the next one gets a new unsealed session, not the ended one's id. */
  reset(): void {
    this.unsealed = undefined;
  }
}

export function clientIdOf(session: SessionView): string {
  return session.info?.client?.fingerprint ?? UNAUTHENTICATED_CLIENT_ID;
}

export function historyKeyOf(session: SessionView): HistoryKey {
  return { sessionId: session.sessionId, clientId: clientIdOf(session) };
}

/**
 * The record of a call let through: what the state store keeps of it. Of its arguments only the numbers at `aggregated`
 * (`GuardModule.aggregatedValues`: tool → the JSON Pointers the policy aggregates), never the rest.
 */
export function callRecordOf(tool: string, at: number, session: SessionView, args?: unknown, aggregated?: Readonly<Record<string, readonly string[]>>): CallRecord {
  // The tool name comes from the client: `__proto__` must not find a pointer list on Object.prototype.
  const values = aggregated !== undefined && Object.hasOwn(aggregated, tool) ? recordedValues(args, aggregated[tool]) : undefined;
  return values === undefined ? { tool, at, ...historyKeyOf(session) } : { tool, at, ...historyKeyOf(session), values };
}

/**
 * Thrown when a guard reads session state on a sessionless request: the decision point refuses the call with PQG7317.
 * A count of one request's session would be 0 (or its age 0), which makes every per-session bound pass: fail closed.
 */
export class SessionlessStateError extends Error {
  constructor(fact: string) {
    super(`the policy reads ${fact}, and a request of a sessionless protocol revision (2026-07-28) without a sealed session carries no session to read it from`);
    this.name = "SessionlessStateError";
  }
}

function sessionlessFact(fact: string): never {
  throw new SessionlessStateError(fact);
}

/** The session facts and history of a sessionless request: its id and the client's counts, and no session's state. */
function sessionlessView(context: GuardContext): GuardContext {
  const history = context.history;
  return {
    ...context,
    session: {
      id: context.session.id,
      get ageMs(): number {
        return sessionlessFact("`session.age`");
      },
      get calls(): number {
        return sessionlessFact("`session.calls`");
      },
    },
    history: {
      count: (tools, since, scope) => (scope === "session" ? sessionlessFact("a count of calls per session") : history.count(tools, since, scope)),
      called: () => sessionlessFact("`calls()` of the session"),
      ...(history.seen === undefined ? {} : { seen: () => sessionlessFact("`seen()` of the session") }),
    },
  };
}

export function guardContextOf(session: SessionView, snapshot: HistorySnapshot, now: number): GuardContext {
  const context = sessionContextOf(session, snapshot, now);
  return session.sessionless === true ? sessionlessView(context) : context;
}

function sessionContextOf(session: SessionView, snapshot: HistorySnapshot, now: number): GuardContext {
  const info = session.info;
  const claims = info?.client?.claims;
  const id = claims?.id;
  const role = claims?.role;
  return {
    client: {
      id: typeof id === "string" ? id : undefined,
      role: typeof role === "string" ? role : undefined,
      authenticated: info?.client !== undefined,
      fingerprint: info?.client?.fingerprint,
      claims,
    },
    peer: { fingerprint: info?.peerFingerprint, label: info?.peerLabel },
    transport:
      info === undefined
        ? { hybrid: false, level: 0 }
        : { kem: info.suite.kem, signature: info.suite.signature, aead: info.suite.aead, hybrid: info.suite.hybrid, level: info.suite.level },
    session: { id: session.sessionId, ageMs: Math.max(0, now - session.establishedAt), calls: snapshot.sessionCalls },
    now,
    history: snapshot.history,
  };
}

export function auditSuiteOf(session: SessionView | undefined): AuditSuite | undefined {
  const suite = session?.info?.suite;
  if (suite === undefined) return session === undefined ? undefined : { kem: null, signature: null, aead: null, hybrid: false, level: 0 };
  return { kem: suite.kem, signature: suite.signature, aead: suite.aead, hybrid: suite.hybrid, level: suite.level };
}
