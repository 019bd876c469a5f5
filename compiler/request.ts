// Reads the request files `pqguard eval` takes (design: "Evaluating from the command line") into the GuardRequest and
// GuardContext a guard decides on. Every fact is validated here, so a malformed file is one clear error, not a guess.
import { PqguardError, errorCatalogue } from "../runtime/errors.js";
import { algorithmFacts } from "../runtime/guard/algorithms.js";
import type { AggregateFunction, CallHistory, GuardContext, GuardRequest, LimitScope } from "../runtime/guard/types.js";
import { aggregateValues, recordedValues } from "../runtime/state/values.js";

export const REQUEST_ERRORS = errorCatalogue("request files", "RequestError", [[9001, 9002]], {
  NotJson: ["PQG9001", "A request file that is not JSON."],
  BadShape: ["PQG9002", "A request file that does not have the shape of a request."],
});

export type RequestErrorCode = "PQG9001" | "PQG9002";

/** A request file that is not JSON (PQG9001) or does not have the shape of a request (PQG9002). */
export class RequestError extends PqguardError {
  declare readonly code: RequestErrorCode;
  constructor(code: RequestErrorCode, message: string) {
    super(code, message);
    this.name = "RequestError";
  }
}

/** One earlier call. `client` and `session` default to the request's own, so simple files need only tool and time. */
export interface HistoryEntry {
  readonly tool: string;
  /** Epoch milliseconds. */
  readonly at: number;
  readonly client?: string | undefined;
  readonly session?: string | undefined;
  /** The call's arguments, for `sum()`, `max()` and `min()`; only their numbers are read. */
  readonly args?: Readonly<Record<string, unknown>> | undefined;
}

export interface EvalInput {
  readonly request: GuardRequest;
  readonly context: GuardContext;
}

const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `250ms 30s 10m 8h 7d`, as in policies; a bare number is milliseconds. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  return match === null ? undefined : Number(match[1]) * DURATION_UNITS[match[2]!]!;
}

/**
 * A call history over a list of entries, answering as a session's history would: `count` includes calls at or after
 * `since` and not after `now`; `called` and the `session` scope look at this session's entries only.
 */
export function historyOf(
  entries: readonly HistoryEntry[],
  self: { readonly client: string | undefined; readonly session: string | undefined; readonly now: number },
): CallHistory {
  const inSession = (e: HistoryEntry): boolean => e.session === undefined || e.session === self.session;
  const ofClient = (e: HistoryEntry): boolean => e.client === undefined || e.client === self.client;
  const inWindow = (e: HistoryEntry, since: number, scope: LimitScope): boolean =>
    e.at >= since && e.at <= self.now && (scope !== "session" || inSession(e)) && (scope !== "client" || ofClient(e));
  // Oldest first, as a store folds them, so that a sum adds in the same order.
  const byTime = [...entries].sort((a, b) => a.at - b.at);
  return {
    count(tools: readonly string[] | "*", since: number, scope: LimitScope): number {
      let n = 0;
      for (const e of entries) if ((tools === "*" || tools.includes(e.tool)) && inWindow(e, since, scope)) n++;
      return n;
    },
    aggregate(fn: AggregateFunction, tool: string, pointer: string, since: number, scope: LimitScope): number {
      const values = byTime.flatMap((e) => (e.tool === tool && inWindow(e, since, scope) ? [recordedValues(e.args, [pointer])?.[pointer]] : []));
      return aggregateValues(fn, values.filter((v): v is number => v !== undefined));
    },
    called(tool: string): boolean {
      return entries.some((e) => inSession(e) && e.at <= self.now && (tool === "*" || e.tool === tool));
    },
  };
}

/** NIST category of the weakest post-quantum algorithm among those named; 0 when none is post-quantum. */
export function suiteLevel(names: readonly (string | undefined)[]): number {
  const levels = names
    .map((n) => (n === undefined ? undefined : algorithmFacts(n)?.level))
    .filter((l): l is number => l !== undefined && l > 0);
  return levels.length === 0 ? 0 : Math.min(...levels);
}

function shape(message: string): RequestError {
  return new RequestError("PQG9002", message);
}

type Json = Readonly<Record<string, unknown>>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function section(root: Json, key: string): Json {
  const value = root[key];
  if (value === undefined) return {};
  if (!isObject(value)) throw shape(`request field \`${key}\` must be an object`);
  return value;
}

function optionalString(obj: Json, key: string, where: string): string | undefined {
  const value = obj[key];
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw shape(`request field \`${where}.${key}\` must be a string`);
  return value;
}

function optionalBoolean(obj: Json, key: string, where: string): boolean | undefined {
  const value = obj[key];
  if (value === undefined) return undefined;
  if (typeof value !== "boolean") throw shape(`request field \`${where}.${key}\` must be true or false`);
  return value;
}

function optionalNumber(obj: Json, key: string, where: string): number | undefined {
  const value = obj[key];
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw shape(`request field \`${where}.${key}\` must be a non-negative number`);
  }
  return value;
}

function instant(value: unknown, where: string): number {
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (typeof value === "string") {
    const ms = Date.parse(value);
    if (!Number.isNaN(ms)) return ms;
  }
  throw shape(`request field \`${where}\` must be an ISO-8601 time such as \`2026-11-23T10:15:00Z\``);
}

function duration(value: unknown, where: string): number {
  if (typeof value === "number" && Number.isFinite(value) && value >= 0) return value;
  const ms = typeof value === "string" ? parseDuration(value) : undefined;
  if (ms === undefined) throw shape(`request field \`${where}\` must be a duration such as \`5m\``);
  return ms;
}

function historyEntries(value: unknown): HistoryEntry[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw shape("request field `history` must be a list of `{ \"tool\": ..., \"at\": ... }`");
  return value.map((entry: unknown, i): HistoryEntry => {
    const where = `history[${i}]`;
    if (!isObject(entry)) throw shape(`request field \`${where}\` must be an object`);
    const tool = entry["tool"];
    if (typeof tool !== "string") throw shape(`request field \`${where}.tool\` must be a string`);
    const args = entry["args"];
    if (args !== undefined && !isObject(args)) throw shape(`request field \`${where}.args\` must be an object`);
    return {
      tool,
      at: instant(entry["at"], `${where}.at`),
      client: optionalString(entry, "client", where),
      session: optionalString(entry, "session", where),
      args,
    };
  });
}

/** The request and context of a parsed request file; `now` is used when the file has no `time`. */
export function requestFromJson(value: unknown, now: number): EvalInput {
  if (!isObject(value)) throw shape("a request must be a JSON object with at least a `tool` field");
  const tool = value["tool"];
  if (typeof tool !== "string") throw shape("request field `tool` must be a string");
  const args = value["args"] ?? {};
  if (!isObject(args)) throw shape("request field `args` must be an object");

  const client = section(value, "client");
  const claims = client["claims"];
  if (claims !== undefined && !isObject(claims)) throw shape("request field `client.claims` must be an object");
  const peer = section(value, "peer");
  const transport = section(value, "transport");
  const session = section(value, "session");

  const at = value["time"] === undefined ? now : instant(value["time"], "time");
  const history = historyEntries(value["history"]);
  const seen = value["seen"] ?? [];
  if (!Array.isArray(seen) || seen.some((l) => typeof l !== "string")) throw shape("request field `seen` must be a list of labels, as `mark ... as seen` records them");
  const clientId = optionalString(client, "id", "client");
  const sessionId = optionalString(session, "id", "session");
  const kem = optionalString(transport, "kem", "transport");
  const signature = optionalString(transport, "signature", "transport");
  const aead = optionalString(transport, "aead", "transport");
  const ownCalls = history.filter((e) => e.session === undefined || e.session === sessionId).length;

  return {
    request: { tool, args },
    context: {
      client: {
        id: clientId,
        role: optionalString(client, "role", "client"),
        authenticated: optionalBoolean(client, "authenticated", "client") ?? false,
        fingerprint: optionalString(client, "fingerprint", "client"),
        claims,
      },
      peer: { fingerprint: optionalString(peer, "fingerprint", "peer"), label: optionalString(peer, "label", "peer") },
      transport: {
        kem,
        signature,
        aead,
        hybrid: optionalBoolean(transport, "hybrid", "transport") ?? (kem !== undefined && algorithmFacts(kem)?.hybrid === true),
        level: optionalNumber(transport, "level", "transport") ?? suiteLevel([kem, signature, aead]),
      },
      session: {
        id: sessionId,
        ageMs: session["age"] === undefined ? 0 : duration(session["age"], "session.age"),
        calls: optionalNumber(session, "calls", "session") ?? ownCalls,
      },
      now: at,
      history: { ...historyOf(history, { client: clientId, session: sessionId, now: at }), seen: (label: string) => (seen as string[]).includes(label) },
    },
  };
}

/** Parses request file text; invalid JSON is PQG9001, a wrong shape PQG9002. */
export function parseRequest(text: string, now: number): EvalInput {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new RequestError("PQG9001", `the request is not valid JSON: ${detail}`);
  }
  return requestFromJson(value, now);
}
