// The dimensions of the session: the client (authentication, role, id, fingerprint, claims), the peer and the
// session's id, the negotiated suite, and the session's age. Setting one keeps the session one enforcement could build:
// a role makes the client authenticated, an unsealed session has no client identity and no peer.
import { pathText } from "../../compiler/analysis.js";
import type { Type } from "../../compiler/ir.js";
import { algorithmNames } from "../../runtime/crypto/registry.js";
import { algorithmFacts } from "../../runtime/guard/algorithms.js";
import { isJsonObject } from "../../runtime/guard/helpers.js";
import type { ClientFacts, TransportFacts } from "../../runtime/guard/types.js";
import { fingerprint } from "../../runtime/identity/fingerprint.js";
import { coherent, type Probe } from "./probe.js";
import { CLAIMS_PREFIX, type Read } from "./reads.js";
import { constantsOf, numberClasses, oneOfEachClass, valuesIn } from "./values.js";
import {
  describeNumber,
  describeOpaque,
  describeSet,
  durationText,
  getPath,
  hintsOf,
  isOpaque,
  MAX_STRING_CANDIDATES,
  numberHints,
  opaqueUse,
  setPath,
  stringCandidates,
  unique,
  usesOf,
  type Dimension,
} from "./dimension.js";

// Fingerprints for clients and servers the search makes up: fixed, so that output does not depend on the run.
const MADE_UP_CLIENT = fingerprint("ML-DSA-65", new Uint8Array(32).fill(1));
const MADE_UP_PEER = fingerprint("ML-DSA-65", new Uint8Array(32).fill(2));

function withClient(p: Probe, client: ClientFacts): Probe | undefined {
  const next = { ...p, client };
  return coherent(next) ? next : undefined;
}

/** Authenticated, keeping what the client had: the fingerprint the search makes up when there was none. */
function authenticated(p: Probe): ClientFacts | undefined {
  if (p.transport.kem === undefined) return undefined;
  if (p.client.authenticated === true) return p.client;
  return { authenticated: true, fingerprint: MADE_UP_CLIENT, claims: {} };
}

/** A fact of the client: its authentication, role, id, fingerprint or one claim. */
export function clientDimension(key: string, reads: readonly Read[]): Dimension {
  const uses = usesOf(reads);
  const opaque = isOpaque(reads) || key === "client.claims";
  const constants = constantsOf(uses);
  const type: Type = reads.find((r) => r.type.kind !== "unknown")?.type ?? { kind: "unknown" };
  const claimPath = key.startsWith(CLAIMS_PREFIX) ? (JSON.parse(key.slice(CLAIMS_PREFIX.length)) as (string | number)[]) : undefined;
  const field = key.slice("client.".length);
  const label = claimPath !== undefined ? pathText("client.claims", claimPath.map((s) => (typeof s === "number" ? { kind: "Index", index: s, span: SPAN } : { kind: "Field", name: s, quoted: true, span: SPAN }))) : key;

  if (key === "client.authenticated") {
    return {
      entangled: true,
      key,
      label,
      inputs: [key],
      candidates: [true, false],
      classes: [true, false],
      get: (p) => p.client.authenticated === true,
      set: (p, value) => {
        if (value === false) return withClient(p, { authenticated: false });
        const client = authenticated(p);
        return client === undefined ? undefined : withClient(p, client);
      },
      simpler: () => [false],
      regionValues: () => [true, false],
      describe: (sample) => describeSet(label, [true, false], sample),
    };
  }

  const get = (p: Probe): unknown => {
    if (claimPath !== undefined) return p.client.claims === undefined ? undefined : getPath(p.client.claims, claimPath);
    if (key === "client.claims") return p.client.claims;
    return (p.client as unknown as Record<string, unknown>)[field];
  };
  const set = (p: Probe, value: unknown): Probe | undefined => {
    if (value === undefined && p.client.authenticated !== true) return p;
    const client = authenticated(p);
    if (client === undefined) return undefined;
    if (key === "client.fingerprint") return value === undefined ? undefined : withClient(p, { ...client, fingerprint: value as string });
    const claims = (claimPath !== undefined ? setPath(client.claims ?? {}, claimPath, value) : key === "client.claims" ? value : setPath(client.claims ?? {}, [field], value)) as Record<string, unknown>;
    if (!isJsonObject(claims)) return undefined;
    const role = claims["role"];
    const id = claims["id"];
    return withClient(p, { ...client, claims, role: typeof role === "string" ? role : undefined, id: typeof id === "string" ? id : undefined });
  };
  const other = key === "client.fingerprint" ? MADE_UP_CLIENT : key === "client.role" ? "another-role" : key === "client.id" ? "another-client" : "another-value";
  const values = [...constants, other, ...(key === "client.fingerprint" ? [] : [undefined])];
  const classes = opaque ? undefined : oneOfEachClass(values, uses, type);
  const hints = hintsOf(reads);
  const candidates = unique([...values, ...(opaque ? stringCandidates(hints, 0, constants) : [])]).slice(0, MAX_STRING_CANDIDATES);
  return {
    entangled: true,
    key,
    label,
    inputs: [key],
    candidates,
    classes,
    ...(classes === undefined ? { opaqueBecause: `\`${label}\` is read by ${opaqueUse(reads)}` } : {}),
    get,
    set,
    simpler: () => [undefined],
    regionValues: () => classes ?? candidates,
    describe: (sample) => (classes !== undefined ? describeSet(label, constants, sample) : describeOpaque(label, sample)),
  };
}

const SPAN = { start: 0, end: 0, line: 1, column: 1, endLine: 1, endColumn: 1 };

/** `peer.fingerprint`, `peer.label` or `session.id`. */
export function peerOrSessionDimension(key: string, reads: readonly Read[]): Dimension {
  const uses = usesOf(reads);
  const constants = constantsOf(uses);
  const opaque = isOpaque(reads);
  const type: Type = { kind: "string" };
  const get = (p: Probe): unknown => (key === "session.id" ? p.sessionId : key === "peer.fingerprint" ? p.peer.fingerprint : p.peer.label);
  const set = (p: Probe, value: unknown): Probe | undefined => {
    if (key === "session.id") return typeof value === "string" ? { ...p, sessionId: value } : undefined;
    const peer = { ...p.peer, [key === "peer.fingerprint" ? "fingerprint" : "label"]: value };
    const next = { ...p, peer };
    return coherent(next) ? next : undefined;
  };
  const values = [...constants, key === "peer.fingerprint" ? MADE_UP_PEER : `another-${key.split(".")[1]}`, ...(key === "peer.label" ? [undefined] : [])];
  const classes = opaque ? undefined : oneOfEachClass(values, uses, type);
  const candidates = unique([...values, ...(opaque ? stringCandidates(hintsOf(reads), 0, constants) : [])]).slice(0, MAX_STRING_CANDIDATES);
  return {
    entangled: true,
    key,
    label: key,
    inputs: [key],
    candidates,
    classes,
    ...(classes === undefined ? { opaqueBecause: `\`${key}\` is read by ${opaqueUse(reads)}` } : {}),
    get,
    set,
    simpler: () => [],
    regionValues: () => classes ?? candidates,
    describe: (sample) => (classes !== undefined ? describeSet(key, constants, sample) : describeOpaque(key, sample)),
  };
}

// ---------------------------------------------------------------------------------------------------------
// The suite

type SuiteValue = TransportFacts | null;

/** Every suite the registry can negotiate, as the handshake reports it (testing/context.ts `suiteOf`). */
function registrySuites(): TransportFacts[] {
  const out: TransportFacts[] = [];
  for (const kem of algorithmNames("kem")) {
    for (const signature of algorithmNames("signature")) {
      for (const aead of algorithmNames("aead")) {
        const k = algorithmFacts(kem)!;
        const s = algorithmFacts(signature)!;
        out.push({ kem, signature, aead, hybrid: k.hybrid, level: k.level === 0 || s.level === 0 ? 0 : Math.min(k.level, s.level) });
      }
    }
  }
  return out;
}

const TRANSPORT_FACTS = ["kem", "signature", "aead", "hybrid", "level"] as const;

/** The negotiated suite: one per class of what the two policies read of it, and an unsealed session. */
export function transportDimension(reads: readonly Read[]): Dimension {
  const read = new Set(reads.map((r) => r.key.slice("transport.".length)));
  /** What the interpreter can observe of a suite: algorithms by canonical name and level, hybrid, level. */
  const observed = (s: SuiteValue, fact: (typeof TRANSPORT_FACTS)[number]): string => {
    if (s === null) return fact === "hybrid" ? "false" : fact === "level" ? "0" : "none";
    if (fact === "hybrid" || fact === "level") return String(s[fact]);
    const facts = algorithmFacts(s[fact] ?? "");
    return facts === undefined ? "none" : `${facts.canonical}`;
  };
  const observation = (s: SuiteValue): string => (s === null ? "unsealed" : TRANSPORT_FACTS.filter((f) => read.has(f)).map((f) => `${observed(s, f)}/${f === "kem" || f === "signature" || f === "aead" ? algorithmFacts(s[f] ?? "")?.level : ""}`).join("|"));
  const seen = new Set<string>();
  const classes: SuiteValue[] = [];
  for (const suite of [...registrySuites(), null]) {
    const key = observation(suite);
    if (seen.has(key)) continue;
    seen.add(key);
    classes.push(suite);
  }
  const label = TRANSPORT_FACTS.filter((f) => read.has(f)).map((f) => `transport.${f}`).join(", ") || "transport";
  return {
    entangled: true,
    key: "transport",
    label,
    inputs: TRANSPORT_FACTS.map((f) => `transport.${f}`),
    candidates: classes,
    classes,
    get: (p) => (p.transport.kem === undefined ? null : { kem: p.transport.kem, signature: p.transport.signature, aead: p.transport.aead, hybrid: p.transport.hybrid, level: p.transport.level }),
    set: (p, value) => {
      const suite = value as SuiteValue;
      if (suite === null) {
        const next: Probe = { ...p, transport: { hybrid: false, level: 0 }, client: { authenticated: false }, peer: {} };
        return coherent(next) ? next : undefined;
      }
      const peer = p.peer.fingerprint === undefined ? { fingerprint: MADE_UP_PEER } : p.peer;
      const next: Probe = { ...p, transport: suite, peer };
      return coherent(next) ? next : undefined;
    },
    simpler: () => [classes[0]],
    regionValues: () => classes,
    describe: (sample) => {
      if (sample.keeps.every((k) => k)) return undefined;
      const suites = sample.values as SuiteValue[];
      for (const fact of TRANSPORT_FACTS.filter((f) => read.has(f))) {
        const kept = new Set(suites.filter((_s, i) => sample.keeps[i]).map((s) => observed(s, fact)));
        const dropped = new Set(suites.filter((_s, i) => !sample.keeps[i]).map((s) => observed(s, fact)));
        if ([...kept].every((k) => !dropped.has(k))) {
          const values = [...kept].sort();
          return values.length === 1 ? `transport.${fact} = ${values[0]}` : `transport.${fact} in [${values.join(", ")}]`;
        }
      }
      const current = sample.current as SuiteValue;
      return current === null ? "an unsealed session" : `transport = ${current.kem}, ${current.signature}, ${current.aead}`;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// The session's age

/** The session's age, in classes between the durations it is compared with. */
export function ageDimension(reads: readonly Read[]): Dimension {
  const uses = usesOf(reads);
  const constants = [...constantsOf(uses), ...numberHints(hintsOf(reads), "number")].filter((c): c is number => typeof c === "number");
  const opaque = isOpaque(reads);
  const numeric = numberClasses(constants.filter((c) => c >= 0));
  const type: Type = { kind: "duration" };
  const reps = numeric.map((cls) => valuesIn(cls).find((v) => v >= 0 && Number.isInteger(v))).filter((v): v is number => v !== undefined);
  const classes = opaque ? undefined : oneOfEachClass([0, ...reps], uses, type);
  const intervals = unique([0, ...reps]);
  const candidates = unique([...(classes ?? []), 0, ...constants.flatMap((c) => [c - 1, c, c + 1])].filter((v) => typeof v === "number" && v >= 0));
  return {
    key: "session.age",
    label: "session.age",
    inputs: ["session.age"],
    candidates,
    classes,
    ...(classes === undefined ? { opaqueBecause: "`session.age` is read by an expression" } : {}),
    get: (p) => p.ageMs,
    set: (p, value) => {
      const next = { ...p, ageMs: value as number };
      return coherent(next) ? next : undefined;
    },
    simpler: (p) => [0, ...candidates.filter((c) => (c as number) < p.ageMs)],
    regionValues: () => intervals,
    describe: (sample) => describeNumber("session.age", numeric, sample, durationText),
  };
}
