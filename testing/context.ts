// The context a guard decides in, generated as enforcement builds it for real sessions: the session's suite and
// identity (`session`), the decision time (`clock`), the calls before (`history`), and all of them with a tool call
// (`request`). Sessions go through the same guardContextOf enforcement uses, so a generated context is one a real
// session could produce: a classical suite is never hybrid and has level 0, an unauthenticated client has no role.
import fc from "fast-check";
import { algorithmNames } from "../runtime/crypto/registry.js";
import { guardContextOf, type SessionView } from "../runtime/enforce/context.js";
import { algorithmFacts } from "../runtime/guard/algorithms.js";
import type { AggregateFunction, CallHistory, GuardContext, LimitScope } from "../runtime/guard/types.js";
import { fingerprint } from "../runtime/identity/fingerprint.js";
import type { NegotiatedSuite, SessionInfo } from "../runtime/session/facts.js";
import { aggregateValues, recordedValues } from "../runtime/state/values.js";
import { ArbitraryError, ArbitraryErrorCode } from "./errors.js";
import { printRequest } from "./print.js";
import { manifestTools, toolCall, type ToolCall } from "./schema.js";
import type { GeneratedRequest, ManifestInput } from "./types.js";

// ---------------------------------------------------------------------------------------------------------
// Sessions

/** The parts of a GuardContext that come from the session, exactly as enforcement builds them. */
export type SessionParts = Pick<GuardContext, "client" | "peer" | "transport" | "session">;

/** One value, or any of several. */
export type OneOrMany<T> = T | readonly T[];

/** A range of milliseconds, both ends included. */
export interface MsRange {
  readonly min?: number;
  readonly max?: number;
}

export interface SessionConstraints {
  /** `false`: a plain connection the operator allowed (`allowUnsealed`), with no suite and no identity. Default: either. */
  readonly sealed?: boolean;
  /** Registry names (runtime/crypto/registry.ts) to choose the suite from. */
  readonly kem?: OneOrMany<string>;
  readonly signature?: OneOrMany<string>;
  readonly aead?: OneOrMany<string>;
  readonly hybrid?: boolean;
  /** `transport.level`: 0 (classical or unsealed), or a NIST category. */
  readonly level?: OneOrMany<number>;
  readonly authenticated?: boolean;
  /** `client.id`, from the certificate's `id` claim; a list is chosen from. Implies an authenticated client. */
  readonly id?: OneOrMany<string>;
  /** `client.role`, from the certificate's `role` claim; a list is chosen from. Implies an authenticated client. */
  readonly role?: OneOrMany<string>;
  /** Further claims every authenticated client carries; a value may be an arbitrary, drawn anew for each session. */
  readonly claims?: Readonly<Record<string, unknown>>;
  /** `session.age` in milliseconds: one value or a range. */
  readonly age?: number | MsRange;
}

/** Roles drawn when the constraints name none: the example policies' and the usual ones. */
const COMMON_ROLES = ["billing-agent", "support-agent", "viewer", "admin", "operator", "clinician"];
const PEER_LABELS = ["payments", "records", "filesystem", "mcp-server"];
/** Session ages policies compare with (`session.age < 8h`): each is drawn exactly, a millisecond before and after. */
const AGE_MARKS = [60_000, 10 * 60_000, 3_600_000, 8 * 3_600_000, 24 * 3_600_000];
const MAX_DEFAULT_AGE = 2 * 24 * 3_600_000;
/** Sealed sessions drawn for each unsealed one, when the constraints allow both. */
const SEALED_WEIGHT = 7;
const CLIENT_KEY_ALGORITHMS = ["ML-DSA-65", "ML-DSA-44", "ML-DSA-87"];

function list<T>(value: OneOrMany<T> | undefined): readonly T[] | undefined {
  return value === undefined ? undefined : Array.isArray(value) ? (value as readonly T[]) : [value as T];
}

function constraintError(message: string): ArbitraryError {
  return new ArbitraryError(ArbitraryErrorCode.BadConstraint, message);
}

/** The suite the handshake negotiates for these names (runtime/session/handshake.ts `negotiatedSuite`). */
function suiteOf(kem: string, signature: string, aead: string): NegotiatedSuite {
  const k = algorithmFacts(kem)!;
  const s = algorithmFacts(signature)!;
  const level = k.level === 0 || s.level === 0 ? 0 : Math.min(k.level, s.level);
  return { kem, signature, aead, hybrid: k.hybrid, level };
}

function names(family: "kem" | "signature" | "aead", wanted: readonly string[] | undefined): readonly string[] {
  const known = algorithmNames(family);
  for (const name of wanted ?? []) {
    if (!known.includes(name)) throw constraintError(`\`${name}\` is not a ${family} of the registry; its ${family}s are ${known.map((n) => `\`${n}\``).join(", ")}`);
  }
  return wanted === undefined ? known : known.filter((n) => wanted.includes(n));
}

/** Every suite the registry can negotiate that the constraints allow, the registry's preferred one first. */
function suites(c: SessionConstraints): NegotiatedSuite[] {
  const levels = list(c.level);
  const out: NegotiatedSuite[] = [];
  for (const kem of names("kem", list(c.kem))) {
    for (const signature of names("signature", list(c.signature))) {
      for (const aead of names("aead", list(c.aead))) {
        const suite = suiteOf(kem, signature, aead);
        if (c.hybrid !== undefined && suite.hybrid !== c.hybrid) continue;
        if (levels !== undefined && !levels.includes(suite.level)) continue;
        out.push(suite);
      }
    }
  }
  return out;
}

/** Whether the constraints allow a plain connection: no suite, no identity, level 0. */
function unsealedAllowed(c: SessionConstraints): boolean {
  if (c.sealed === true) return false;
  const asksForSuite = c.kem !== undefined || c.signature !== undefined || c.aead !== undefined || c.hybrid === true;
  const levels = list(c.level);
  const asksForIdentity = c.authenticated === true || c.id !== undefined || c.role !== undefined || c.claims !== undefined;
  const allowed = !asksForSuite && !asksForIdentity && (levels === undefined || levels.includes(0));
  if (c.sealed === false && !allowed) {
    throw constraintError("an unsealed session (`sealed: false`) has no suite and no client identity, but the constraints ask for one");
  }
  return allowed;
}

function ageArbitrary(age: SessionConstraints["age"]): fc.Arbitrary<number> {
  if (typeof age === "number") {
    if (!Number.isFinite(age) || age < 0) throw constraintError(`session age ${age} must be a non-negative number of milliseconds`);
    return fc.constant(age);
  }
  const min = age?.min ?? 0;
  const max = age?.max ?? Math.max(min, MAX_DEFAULT_AGE);
  if (!(min >= 0 && max >= min && Number.isFinite(max))) throw constraintError(`session age range ${min}..${max} is empty or not a range of milliseconds`);
  const clamp = (ms: number) => Math.min(max, Math.max(min, ms));
  const marks = AGE_MARKS.flatMap((m) => [m - 1, m, m + 1]).filter((m) => m >= min && m <= max);
  return fc.oneof(
    { weight: 3, arbitrary: fc.integer({ min, max: Math.min(max, min + 10 * 60_000) }) },
    { weight: 2, arbitrary: fc.integer({ min, max }) },
    { weight: marks.length > 0 ? 2 : 0, arbitrary: marks.length > 0 ? fc.constantFrom(...marks) : fc.constant(min) },
  ).map(clamp);
}

function valueOf(value: unknown): fc.Arbitrary<unknown> {
  return value instanceof fc.Arbitrary ? value : fc.constant(value);
}

/** A certificate's claims: `id` and `role` (each sometimes absent unless constrained) and the fixed extra claims. */
function claimsArbitrary(c: SessionConstraints): fc.Arbitrary<Record<string, unknown>> {
  const ids = list(c.id);
  const roles = list(c.role);
  const id = ids !== undefined ? fc.constantFrom(...ids) : fc.option(fc.stringMatching(/^agent-[1-9][0-9]{0,2}$/), { nil: undefined, freq: 8 });
  const role =
    roles !== undefined
      ? fc.constantFrom(...roles)
      : fc.option(fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...COMMON_ROLES) }, { weight: 1, arbitrary: fc.stringMatching(/^[a-z][a-z-]{2,11}$/) }), { nil: undefined, freq: 8 });
  const extra = Object.entries(c.claims ?? {});
  return fc.tuple(id, role, fc.tuple(...extra.map(([, v]) => valueOf(v)))).map(([idValue, roleValue, values]) =>
    Object.fromEntries([
      ...extra.map(([k], i) => [k, values[i]] as const),
      ...(idValue === undefined ? [] : [["id", idValue] as const]),
      ...(roleValue === undefined ? [] : [["role", roleValue] as const]),
    ]),
  );
}

const KEY_BYTES = fc.uint8Array({ minLength: 32, maxLength: 32 });
const SESSION_ID = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString("hex"));
const EMPTY_HISTORY: CallHistory = { count: () => 0, called: () => false, aggregate: () => 0 };

/** The session facts of a view, through enforcement's own guardContextOf, at `age` after the handshake. */
function partsOf(view: SessionView, age: number): SessionParts {
  const { client, peer, transport, session } = guardContextOf(view, { history: EMPTY_HISTORY, sessionCalls: 0 }, view.establishedAt + age);
  return { client, peer, transport, session };
}

/**
 * Session facts as enforcement reads them from a real session: a suite the registry negotiates (level and hybrid
 * from its algorithms), the server's fingerprint, an authenticated client's fingerprint and claims, the session's
 * age; or a plain connection (`sealed: false`), which guards see as unauthenticated and classical.
 */
export function session(constraints: SessionConstraints = {}): fc.Arbitrary<SessionParts> {
  const allowUnsealed = unsealedAllowed(constraints);
  const sealedSuites = constraints.sealed === false ? [] : suites(constraints);
  if (sealedSuites.length === 0 && !allowUnsealed) throw constraintError("no suite the registry can negotiate satisfies the session constraints");
  const wantsIdentity = constraints.id !== undefined || constraints.role !== undefined || constraints.claims !== undefined;
  if (constraints.authenticated === false && wantsIdentity) throw constraintError("an unauthenticated client has no id, role or claims");
  const age = ageArbitrary(constraints.age);

  const authenticated = constraints.authenticated ?? (wantsIdentity ? true : undefined);
  const client =
    authenticated === false
      ? fc.constant(undefined)
      : fc.record({ fingerprint: fc.tuple(fc.constantFrom(...CLIENT_KEY_ALGORITHMS), KEY_BYTES).map(([a, k]) => fingerprint(a, k)), claims: claimsArbitrary(constraints) });
  const maybeClient = authenticated === undefined ? fc.option(client, { nil: undefined, freq: 4 }) : client;

  const sealed = sealedSuites.length === 0
    ? undefined
    : fc
        .record({
          sessionId: SESSION_ID,
          suite: fc.constantFrom(...sealedSuites),
          peerFingerprint: KEY_BYTES.map((k) => fingerprint("ML-DSA-65", k)),
          peerLabel: fc.option(fc.constantFrom(...PEER_LABELS), { nil: undefined }),
          client: maybeClient,
          age,
        })
        .map(({ age: ms, ...rest }) => {
          const info: SessionInfo = { ...rest, establishedAt: 0, rekeys: 0 };
          return partsOf({ sessionId: info.sessionId, establishedAt: 0, sealed: true, info }, ms);
        });
  const unsealed = !allowUnsealed
    ? undefined
    : fc.tuple(fc.uuid(), age).map(([uuid, ms]) => partsOf({ sessionId: `unsealed-${uuid}`, establishedAt: 0, sealed: false, info: undefined }, ms));
  if (sealed === undefined) return unsealed!;
  if (unsealed === undefined) return sealed;
  return fc.oneof({ weight: SEALED_WEIGHT, arbitrary: sealed }, { weight: 1, arbitrary: unsealed });
}

// ---------------------------------------------------------------------------------------------------------
// Clock

export interface ClockWindow {
  /** Epoch ms, an ISO-8601 string or a Date. Default 2026-01-01T00:00:00Z: a fixed default keeps runs reproducible. */
  readonly from?: number | string | Date;
  /** Default one year after `from`. */
  readonly to?: number | string | Date;
  /** The IANA zone whose hours, midnights and daylight-saving transitions are drawn often. Default `UTC`. */
  readonly zone?: string;
}

const DEFAULT_FROM = Date.UTC(2026, 0, 1);
const YEAR_MS = 365 * 24 * 3_600_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** Around each boundary: exactly on it, a millisecond either side, a minute either side. */
const JITTER = [0, -1, 1, -60_000, 60_000];

function instantOf(value: number | string | Date, what: string): number {
  const ms = typeof value === "number" ? value : typeof value === "string" ? Date.parse(value) : value.getTime();
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) throw constraintError(`clock \`${what}\` ${String(value)} is not a time`);
  return ms;
}

function zoneFormatter(zone: string): Intl.DateTimeFormat {
  try {
    return new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
  } catch {
    throw constraintError(`\`${zone}\` is not an IANA time zone`);
  }
}

/** Milliseconds the zone's wall clock is ahead of UTC at `t`. */
function offsetAt(format: Intl.DateTimeFormat, t: number): number {
  const parts: Record<string, number> = {};
  for (const p of format.formatToParts(t)) if (p.type !== "literal") parts[p.type] = Number(p.value);
  const wall = Date.UTC(parts["year"]!, parts["month"]! - 1, parts["day"]!, parts["hour"]!, parts["minute"]!, parts["second"]!);
  return wall - (t - (((t % 1000) + 1000) % 1000));
}

function mod(a: number, m: number): number {
  return ((a % m) + m) % m;
}

/** The instants in [from, to] at which the zone's UTC offset changes (daylight-saving transitions), found per day. */
export function zoneTransitions(zone: string, from: number, to: number): number[] {
  const format = zoneFormatter(zone);
  const out: number[] = [];
  let t = from;
  let offset = offsetAt(format, t);
  while (t < to) {
    const next = Math.min(to, t + DAY_MS);
    const nextOffset = offsetAt(format, next);
    if (nextOffset !== offset) {
      let [lo, hi] = [t, next];
      while (hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2);
        if (offsetAt(format, mid) === offset) lo = mid;
        else hi = mid;
      }
      out.push(hi);
      offset = nextOffset;
    }
    t = next;
  }
  return out;
}

/**
 * Decision times (epoch ms) within a window, drawn often at what policies test: the start of an hour and midnight
 * (so the hour and the weekday change) in the window's zone, its daylight-saving transitions, and the window's ends,
 * each exactly, a millisecond and a minute either side.
 */
export function clock(window: ClockWindow = {}): fc.Arbitrary<number> {
  const from = window.from === undefined ? DEFAULT_FROM : instantOf(window.from, "from");
  const to = window.to === undefined ? from + YEAR_MS : instantOf(window.to, "to");
  if (to < from) throw constraintError(`clock window ends (${new Date(to).toISOString()}) before it starts (${new Date(from).toISOString()})`);
  const zone = window.zone ?? "UTC";
  const format = zoneFormatter(zone);
  const clamp = (t: number) => Math.min(to, Math.max(from, t));
  const startOf = (t: number, unit: number): number => {
    let start = t - mod(t + offsetAt(format, t), unit);
    // A transition between the boundary and `t` shifts the wall clock: one step corrects it.
    const rest = mod(start + offsetAt(format, start), unit);
    if (rest !== 0) start = rest > unit / 2 ? start + (unit - rest) : start - rest;
    return start;
  };
  const uniform = fc.integer({ min: from, max: to });
  const jitter = fc.constantFrom(...JITTER);
  const near = (base: fc.Arbitrary<number>) => fc.tuple(base, jitter).map(([t, j]) => clamp(t + j));
  const transitions = zoneTransitions(zone, from, to);
  const arbitraries: fc.WeightedArbitrary<number>[] = [
    { weight: 4, arbitrary: uniform },
    { weight: 2, arbitrary: near(uniform.map((t) => startOf(t, HOUR_MS))) },
    { weight: 2, arbitrary: near(uniform.map((t) => startOf(t, DAY_MS))) },
    { weight: 1, arbitrary: near(fc.constantFrom(from, to)) },
  ];
  if (transitions.length > 0) arbitraries.push({ weight: 2, arbitrary: near(fc.constantFrom(...transitions)) });
  return fc.oneof(...arbitraries);
}

// ---------------------------------------------------------------------------------------------------------
// History

/** Whose call an earlier call was: this session's, another session of the same client's, or another client's. */
export type CallScope = "session" | "client" | "other";

export interface EarlierCall {
  readonly tool: string;
  /** Epoch ms, at or before the history's `now`. */
  readonly at: number;
  readonly scope: CallScope;
  /** The call's arguments, drawn from its tool's inputSchema: what `sum()`, `max()` and `min()` read. */
  readonly args?: Readonly<Record<string, unknown>> | undefined;
}

/**
 * A CallHistory over a list of earlier calls, answering as the state store does for a session at `now`: `count`
 * includes calls at or after `since` in the scope asked (a session's calls are its client's, and every call is
 * global), `called` looks at this session's calls only.
 */
export class GeneratedHistory implements CallHistory {
  constructor(
    readonly calls: readonly EarlierCall[],
    readonly now: number,
  ) {}

  count(tools: readonly string[] | "*", since: number, scope: LimitScope): number {
    let n = 0;
    for (const call of this.calls) {
      if (call.at < since || call.at > this.now) continue;
      if (tools !== "*" && !tools.includes(call.tool)) continue;
      if (scope === "session" && call.scope !== "session") continue;
      if (scope === "client" && call.scope === "other") continue;
      n++;
    }
    return n;
  }

  called(tool: string): boolean {
    return this.calls.some((c) => c.scope === "session" && c.at <= this.now && (tool === "*" || c.tool === tool));
  }

  /** Folds the numbers at `pointer` of the calls in the window and scope, oldest first, as a state store does. */
  aggregate(fn: AggregateFunction, tool: string, pointer: string, since: number, scope: LimitScope): number {
    const values: number[] = [];
    for (const call of this.calls) {
      if (call.tool !== tool || call.at < since || call.at > this.now) continue;
      if (scope === "session" && call.scope !== "session") continue;
      if (scope === "client" && call.scope === "other") continue;
      const value = recordedValues(call.args, [pointer])?.[pointer];
      if (value !== undefined) values.push(value);
    }
    return aggregateValues(fn, values);
  }

  /** A generated history carries no `seen` marks: no result of this session marked it. */
  seen(_label: string): boolean {
    return false;
  }

  /** This session's calls: `session.calls` of a context with this history. */
  get sessionCalls(): number {
    return this.calls.filter((c) => c.scope === "session").length;
  }

  /**
   * The same calls, as long before `now` as they were before this history's now; this session's calls fall within
   * its `sessionAgeMs` (a session made no call before its handshake), so they wrap around into it.
   */
  anchoredAt(now: number, sessionAgeMs = Infinity): GeneratedHistory {
    const calls = this.calls.map((c) => {
      const ago = this.now - c.at;
      return { ...c, at: now - (c.scope === "session" && ago > sessionAgeMs ? ago % (sessionAgeMs + 1) : ago) };
    });
    return new GeneratedHistory(calls.sort((a, b) => a.at - b.at), now);
  }
}

export interface HistoryConstraints {
  /** The tools earlier calls went to. Default: every tool of the manifest. */
  readonly tools?: readonly string[];
  /** How many earlier calls: a number or a range. Default 0 to 8. */
  readonly calls?: number | { readonly min?: number; readonly max?: number };
  /** How far back calls go, in ms. Default 24 h; most fall in the last 15 minutes, where `calls()` windows look. */
  readonly within?: number;
  /** Whose calls they are. Default all three. */
  readonly scopes?: readonly CallScope[];
  /**
   * The arguments of earlier calls, by tool: amounts where a policy's `sum()` or `max()` draws its lines, say.
   * Default: drawn from each tool's inputSchema, as `toolCall` draws them.
   */
  readonly args?: Readonly<Record<string, fc.Arbitrary<Readonly<Record<string, unknown>>>>>;
  /** The time the history is read at. Default `clock()`; `request` anchors it at the request's own time. */
  readonly now?: number | fc.Arbitrary<number>;
}

const RECENT_MS = 15 * 60_000;
const SCOPES: readonly CallScope[] = ["session", "client", "other"];

/** Histories of earlier calls to the manifest's tools, consistent with the clock: every call at or before `now`. */
export function history(manifest: ManifestInput, constraints: HistoryConstraints = {}): fc.Arbitrary<GeneratedHistory> {
  const all = manifestTools(manifest).map((t) => t["name"] as string);
  const tools = constraints.tools ?? all;
  for (const tool of tools) if (!all.includes(tool)) throw constraintError(`history tool \`${tool}\` is not in the manifest`);
  if (tools.length === 0) throw constraintError("a history needs at least one tool");
  const scopes = constraints.scopes ?? SCOPES;
  if (scopes.length === 0 || scopes.some((s) => !SCOPES.includes(s))) throw constraintError(`history scopes must be among ${SCOPES.join(", ")}`);
  const range = typeof constraints.calls === "number" ? { min: constraints.calls, max: constraints.calls } : (constraints.calls ?? {});
  const minCalls = range.min ?? 0;
  const maxCalls = range.max ?? Math.max(8, minCalls);
  if (!(Number.isInteger(minCalls) && Number.isInteger(maxCalls) && minCalls >= 0 && maxCalls >= minCalls)) {
    throw constraintError(`history call count ${minCalls}..${maxCalls} is not a range of whole numbers`);
  }
  const within = constraints.within ?? DAY_MS;
  if (!(Number.isFinite(within) && within >= 0)) throw constraintError(`history window ${within} must be a non-negative number of milliseconds`);
  const now = constraints.now === undefined ? clock() : typeof constraints.now === "number" ? fc.constant(constraints.now) : constraints.now;
  const ago = fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 0, max: Math.min(within, RECENT_MS) }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: within }) });
  // Arguments as the tool's schema allows, so that aggregates see amounts; none for a schema the generator cannot honour.
  for (const tool of Object.keys(constraints.args ?? {})) if (!tools.includes(tool)) throw constraintError(`history arguments for \`${tool}\`, which is not among the history's tools`);
  const argsOf = (tool: string): fc.Arbitrary<Readonly<Record<string, unknown>> | undefined> => {
    const given = constraints.args !== undefined && Object.hasOwn(constraints.args, tool) ? constraints.args[tool] : undefined;
    if (given !== undefined) return given;
    try {
      return toolCall(manifest, tool).map((c) => c.args);
    } catch {
      return fc.constant(undefined);
    }
  };
  // Cross-shrinking, so that a failing history shrinks to calls of the first tool, as `constantFrom` would.
  const calledTool = fc.oneof({ withCrossShrink: true }, ...tools.map((tool) => fc.record({ tool: fc.constant(tool), args: argsOf(tool) })));
  const call = fc.record({ called: calledTool, ago, scope: fc.constantFrom(...scopes) });
  return fc
    .tuple(fc.array(call, { minLength: minCalls, maxLength: maxCalls }), now)
    .map(
      ([calls, at]) =>
        new GeneratedHistory(calls.map((c) => ({ tool: c.called.tool, at: at - c.ago, scope: c.scope, args: c.called.args })).sort((a, b) => a.at - b.at), at),
    );
}

// ---------------------------------------------------------------------------------------------------------
// Requests

export interface RequestParts {
  /** The call. Default: `toolCall(manifest)`, which needs `manifest`. */
  readonly call?: fc.Arbitrary<ToolCall>;
  /** Default `session()`. */
  readonly session?: fc.Arbitrary<SessionParts>;
  /** The decision time. Default `clock()`. */
  readonly clock?: fc.Arbitrary<number>;
  /** Earlier calls, anchored at the decision time. Default: `history(manifest)` with a manifest, else none. */
  readonly history?: fc.Arbitrary<GeneratedHistory>;
  /** The manifest the default call and history come from. */
  readonly manifest?: ManifestInput;
}

/** A generated request that prints, in fast-check's reports, as the JSON `pqguard eval --request` reads. */
function generatedRequest(call: ToolCall, parts: SessionParts, now: number, earlier: GeneratedHistory): GeneratedRequest {
  const anchored = earlier.anchoredAt(now, parts.session.ageMs);
  const request: GeneratedRequest = {
    tool: call.tool,
    args: call.args,
    context: { ...parts, session: { ...parts.session, calls: anchored.sessionCalls }, now, history: anchored },
  };
  Object.defineProperty(request, fc.toStringMethod, { value: () => printRequest(request, { indent: 0 }), enumerable: false });
  return request;
}

/**
 * Requests a guard decides on: a call, and a context whose session, time and history agree (this session's earlier
 * calls lie within its age, `session.calls` counts them, every call is before the decision). Each part shrinks on
 * its own, so a failing property ends on a small request.
 */
export function request(parts: RequestParts = {}): fc.Arbitrary<GeneratedRequest> {
  if (parts.call === undefined && parts.manifest === undefined) throw constraintError("request() needs a `call` arbitrary or a `manifest` to draw calls from");
  const call = parts.call ?? toolCall(parts.manifest);
  const earlier = parts.history ?? (parts.manifest === undefined ? fc.constant(new GeneratedHistory([], 0)) : history(parts.manifest, { now: 0 }));
  return fc
    .tuple(call, parts.session ?? session(), parts.clock ?? clock(), earlier)
    .map(([c, s, now, h]) => generatedRequest(c, s, now, h));
}
