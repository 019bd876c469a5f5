// A generated request as the JSON file `pqguard eval --request` reads (compiler/request.ts `requestFromJson`), so a
// counterexample can be saved and replayed on the command line. Every fact is written out, hybrid and level too, so
// reading the file back gives the same context, not one re-derived from the algorithm names.
import type { CallHistory } from "../runtime/guard/types.js";
import type { GeneratedRequest } from "./types.js";

/** An earlier call as a history list holds it: whose it is, by scope, when it happened. */
interface PrintableCall {
  readonly tool: string;
  readonly at: number;
  readonly scope: "session" | "client" | "other";
  readonly args?: Readonly<Record<string, unknown>> | undefined;
}

/** A history that can list its calls, as `history()` and `request()` generate; any other prints as no history. */
function callsOf(history: CallHistory): readonly PrintableCall[] | undefined {
  const calls = (history as { calls?: unknown }).calls;
  return Array.isArray(calls) ? (calls as PrintableCall[]) : undefined;
}

const DURATION_UNITS: readonly [string, number][] = [
  ["d", 86_400_000],
  ["h", 3_600_000],
  ["m", 60_000],
  ["s", 1000],
];

/** `8h`, `90s`: the largest unit that divides the age exactly, as request files write durations; else milliseconds. */
function durationText(ms: number): string | number {
  if (!Number.isInteger(ms) || ms <= 0) return ms;
  const unit = DURATION_UNITS.find(([, size]) => ms % size === 0);
  return unit === undefined ? `${ms}ms` : `${ms / unit[1]}${unit[0]}`;
}

/** Only the defined fields of an object: request files leave out what a session does not have. */
function defined(entries: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(entries).filter(([, v]) => v !== undefined));
}

/** The request as the JSON value a request file holds. */
export function requestJson(request: GeneratedRequest): Record<string, unknown> {
  const { client, peer, transport, session, now, history } = request.context;
  const calls = callsOf(history);
  // Earlier calls of other sessions and clients need names that are not this session's or this client's.
  const otherSession = `${session.id ?? "session"}-earlier`;
  const otherClient = `${client.id ?? "client"}-other`;
  const entries = (calls ?? []).map((c) =>
    defined({
      tool: c.tool,
      at: new Date(c.at).toISOString(),
      client: c.scope === "other" ? otherClient : undefined,
      session: c.scope === "session" ? undefined : otherSession,
      args: c.args,
    }),
  );
  const peerFacts = defined({ fingerprint: peer.fingerprint, label: peer.label });
  return defined({
    tool: request.tool,
    args: request.args,
    time: new Date(now).toISOString(),
    client: defined({ id: client.id, role: client.role, authenticated: client.authenticated, fingerprint: client.fingerprint, claims: client.claims }),
    peer: Object.keys(peerFacts).length === 0 ? undefined : peerFacts,
    transport: defined({ kem: transport.kem, signature: transport.signature, aead: transport.aead, hybrid: transport.hybrid, level: transport.level }),
    session: defined({ id: session.id, age: durationText(session.ageMs), calls: session.calls }),
    history: entries.length === 0 ? undefined : entries,
  });
}

export interface PrintOptions {
  /** Spaces per level of indentation; 0 prints one line. Default 2. */
  readonly indent?: number;
}

/** The request as the text of a file `pqguard eval POLICY --request FILE` reads. */
export function printRequest(request: GeneratedRequest, options: PrintOptions = {}): string {
  const indent = options.indent ?? 2;
  return JSON.stringify(requestJson(request), null, indent === 0 ? undefined : indent);
}
