// The fact table: every path a policy reads from the call and its session (`tool.*`, `client.*`, `peer.*`,
// `transport.*`, `session.*`, `time.*`), each declared once with its type, the interpreter's reader and the code
// generator's emitter. The checker types paths from it, the interpreter reads through `read`, the code generator writes
// through `emit`. `args.*` is not here: the schemas of the called tools type it (compiler/check/paths.ts).
// `read` and `emit` are two separate computations on purpose, written side by side so they are reviewed together;
// the differential tests compare them call by call.
import type { GuardContext, GuardRequest } from "../runtime/guard/types.js";
import type { Type } from "./ir.js";

/** What a reader reads from: the interpreter provides it for one call. */
export interface FactSource {
  readonly request: GuardRequest;
  readonly context: GuardContext;
  /** The call's instant (`context.now`), failing as an evaluation failure when no Date can hold it. */
  now(): number;
  /** Wall-clock fields of the call's instant in the policy's time zone. */
  clock(): { readonly hour: number; readonly minute: number; readonly weekday: string };
  /** One annotation hint of the called tool, MCP defaults filled in; fails for a tool outside the manifests. */
  annotation(hint: string): unknown;
}

/** The kind of JavaScript value a generated expression is known to produce; `facts` is an algorithm's facts. */
export type ValueKind = "boolean" | "number" | "string" | "list" | "object" | "facts" | "regex" | "unknown";

/** What an emitter writes with: the code generator provides it; generated code has `request` and `context` in scope. */
export interface FactTarget {
  /** The name of a runtime/guard helper, which the module then imports. */
  helper(name: string): string;
  /** An expression of the ZonedTime of `context.now` in the policy's time zone. */
  clock(): string;
  /** An expression of one annotation hint of `request.tool`, MCP defaults merged in. */
  annotation(hint: string): string;
}

/**
 * Generated code reading a fact. With `kind`, the code already guarantees a value of that kind (or throws an
 * evaluation failure); without, it is the raw value, and the code generator checks it against the fact's type.
 */
export interface EmittedFact {
  readonly code: string;
  readonly kind?: ValueKind;
}

export interface Fact {
  /** As a policy writes it: `client.role`. */
  readonly path: string;
  readonly type: Type;
  /**
   * `call`: read from the tool call, so only call rules may use it (a requirement is judged before there is a call);
   * `session`: read from the session, anywhere.
   */
  readonly during: "call" | "session";
  /** Paths below it read into its JSON value (`client.claims.tenant`) and have an unknown type. */
  readonly json?: true;
  /** The interpreter's reading: the raw value, undefined when absent; the interpreter checks it against `type`. */
  readonly read: (source: FactSource) => unknown;
  /** The code generator's reading. */
  readonly emit: (target: FactTarget) => EmittedFact;
}

const NUMBER: Type = { kind: "number" };
const STRING: Type = { kind: "string" };
const BOOLEAN: Type = { kind: "boolean" };

/** The weekday names `time.weekday` takes, Monday first. */
export const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;

/** The MCP defaults for tool annotation hints a manifest leaves out. */
export const ANNOTATION_DEFAULTS: Readonly<Record<string, boolean>> = {
  readOnlyHint: false,
  destructiveHint: true,
  idempotentHint: false,
  openWorldHint: true,
};

function annotationFact(hint: string, type: Type): Fact {
  return { path: `tool.annotations.${hint}`, type, during: "call", read: (s) => s.annotation(hint), emit: (t) => ({ code: t.annotation(hint) }) };
}

/** A negotiated algorithm: the interpreter's type check proves the name is known and of the family, `alg` likewise. */
function algorithmFact(family: "kem" | "signature" | "aead"): Fact {
  const path = `transport.${family}`;
  return {
    path,
    type: { kind: "algorithm", family },
    during: "session",
    read: (s) => s.context.transport[family],
    emit: (t) => ({ code: `${t.helper("alg")}(context.transport.${family}, ${JSON.stringify(family)}, ${JSON.stringify(path)})`, kind: "facts" }),
  };
}

/** A field of the context read as it is (`client.role` is `context.client.role`) and checked against its type. */
function contextFact(path: string, type: Type, read: (c: GuardContext) => unknown, field = path): Fact {
  return { path, type, during: "session", read: (s) => read(s.context), emit: () => ({ code: `context.${field}` }) };
}

/** A flag that is true only when the context says exactly `true`: absent counts as false. */
function flagFact(path: string, read: (c: GuardContext) => boolean | undefined): Fact {
  return { path, type: BOOLEAN, during: "session", read: (s) => read(s.context) === true, emit: () => ({ code: `(context.${path} === true)`, kind: "boolean" }) };
}

function clockFact(field: "hour" | "minute" | "weekday", type: Type): Fact {
  return {
    path: `time.${field}`,
    type,
    during: "session",
    read: (s) => s.clock()[field],
    emit: (t) => ({ code: `${t.clock()}.${field}`, kind: field === "weekday" ? "string" : "number" }),
  };
}

/** Every fact, grouped by root; within a root, the order did-you-mean suggestions list them in. */
const TABLE: readonly Fact[] = [
  { path: "tool.name", type: STRING, during: "call", read: (s) => s.request.tool, emit: () => ({ code: "request.tool" }) },
  ...Object.keys(ANNOTATION_DEFAULTS).map((hint) => annotationFact(hint, BOOLEAN)),
  annotationFact("title", STRING),
  contextFact("client.id", STRING, (c) => c.client.id),
  contextFact("client.role", STRING, (c) => c.client.role),
  contextFact("client.fingerprint", STRING, (c) => c.client.fingerprint),
  flagFact("client.authenticated", (c) => c.client.authenticated),
  { ...contextFact("client.claims", { kind: "object" }, (c) => c.client.claims), json: true },
  contextFact("peer.fingerprint", STRING, (c) => c.peer.fingerprint),
  contextFact("peer.label", STRING, (c) => c.peer.label),
  algorithmFact("kem"),
  algorithmFact("signature"),
  algorithmFact("aead"),
  flagFact("transport.hybrid", (c) => c.transport.hybrid),
  contextFact("transport.level", NUMBER, (c) => c.transport.level),
  contextFact("session.id", STRING, (c) => c.session.id),
  contextFact("session.age", { kind: "duration" }, (c) => c.session.ageMs, "session.ageMs"),
  contextFact("session.calls", NUMBER, (c) => c.session.calls),
  { path: "time.now", type: { kind: "timestamp" }, during: "session", read: (s) => s.now(), emit: (t) => ({ code: `${t.helper("instant")}(context.now)`, kind: "number" }) },
  clockFact("hour", NUMBER),
  clockFact("minute", NUMBER),
  clockFact("weekday", { kind: "string", enum: WEEKDAYS }),
];

/** The facts by path. */
export const FACTS: ReadonlyMap<string, Fact> = new Map(TABLE.map((f) => [f.path, f]));

/** The roots whose every fact is read from the call (`tool`): a requirement may not name them at all. */
export const CALL_ROOTS: ReadonlySet<string> = new Set(
  TABLE.map((f) => f.path.split(".")[0]!).filter((root) => TABLE.every((f) => !f.path.startsWith(`${root}.`) || f.during === "call")),
);

/**
 * The fact a path of field names reads, and the fields below it: `client.claims.tenant` is `client.claims` and
 * `["tenant"]`; undefined when no fact is a prefix of the path (or the fact has no JSON below it and fields remain).
 */
export function factOf(root: string, fields: readonly string[]): { fact: Fact; below: readonly string[] } | undefined {
  let key = root;
  for (let i = 0; i < fields.length; i++) {
    key = `${key}.${fields[i]}`;
    const fact = FACTS.get(key);
    if (fact === undefined) continue;
    if (i === fields.length - 1 || fact.json === true) return { fact, below: fields.slice(i + 1) };
    return undefined;
  }
  return undefined;
}
