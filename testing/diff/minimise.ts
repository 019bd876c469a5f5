// Making a counterexample small and saying where its change lives. Minimising tries simpler values, one input at a
// time, and keeps each that leaves the same kind of change (and arguments no less valid than before). The region
// then varies each input the changed rules read, alone, around the minimal request.
import { isJsonObject } from "../../runtime/guard/helpers.js";
import type { Dimension } from "./dimensions.js";
import { coherent, NO_CALLS, type Probe } from "./probe.js";
import { ARGS_PREFIX } from "./reads.js";
import { WallClock } from "./wallclock.js";

export interface Judge {
  /**
   * The change key of a probe (undefined when the two policies decide it alike), and how many rules decide it in both
   * policies together: fewer makes a clearer counterexample.
   */
  assess(p: Probe): { readonly key: string | undefined; readonly deciders: number };
  /** Whether a probe's arguments satisfy the tool's inputSchema. */
  argsValid(p: Probe): boolean;
}

/** Passes over all inputs; each pass only ever simplifies, so a few suffice. */
const PASSES = 4;
/** Simplifications taken in a row from one source of candidates, at most. */
const MAX_STEPS = 64;
/**
 * Requests decided to minimise one counterexample, at most: a changed requirement can show as thirty kinds of change,
 * and past a few hundred tries a counterexample rarely gets smaller.
 */
const MAX_TRIES = 400;
/** A plain instant for a counterexample that does not depend on the clock: a Monday, in every zone but a few. */
const PLAIN_NOW = Date.UTC(2026, 0, 5, 12, 0, 0);
const PLAIN_SESSION = "00000000000000000000000000000000";

function readTopLevelArgs(dims: readonly Dimension[]): Set<string> {
  const out = new Set<string>();
  for (const dim of dims) {
    if (!dim.key.startsWith(ARGS_PREFIX)) continue;
    const [first] = JSON.parse(dim.key.slice(ARGS_PREFIX.length)) as (string | number)[];
    if (typeof first === "string") out.add(first);
  }
  return out;
}

function plainValue(value: unknown): unknown[] {
  if (typeof value === "string") return value === "" ? [] : ["", "a", "x"];
  if (typeof value === "number") return value === 0 ? [] : [0, 1];
  if (typeof value === "boolean") return value ? [false] : [];
  if (Array.isArray(value)) return value.length === 0 ? [] : [[]];
  if (isJsonObject(value)) return Object.keys(value).length === 0 ? [] : [{}];
  return [];
}

/** Changes to the parts of a probe no dimension covers: arguments and facts the policies do not read. */
function tidyings(p: Probe, dims: readonly Dimension[], zone: string): Probe[] {
  const out: Probe[] = [];
  const readArgs = readTopLevelArgs(dims);
  for (const [key, value] of Object.entries(p.args)) {
    if (readArgs.has(key)) continue;
    const without = { ...p.args };
    delete without[key];
    out.push({ ...p, args: without });
    for (const plain of plainValue(value)) out.push({ ...p, args: { ...p.args, [key]: plain } });
  }
  const keys = new Set(dims.map((d) => d.key));
  const readsClock = dims.some((d) => d.key.startsWith("time."));
  if (!readsClock && p.now !== PLAIN_NOW) out.push({ ...p, now: PLAIN_NOW });
  if (readsClock) {
    const clock = WallClock.of(zone);
    for (const unit of ["day", "hour", "minute"] as const) {
      const t = clock.startOf(p.now, unit);
      if (t !== undefined && t !== p.now) out.push({ ...p, now: t });
    }
  }
  if (!keys.has("history") && (p.history.kind === "counts" || p.history.calls.length > 0)) out.push({ ...p, history: NO_CALLS });
  if (!keys.has("session.id") && p.sessionId !== PLAIN_SESSION) out.push({ ...p, sessionId: PLAIN_SESSION });
  if (!keys.has("session.age")) {
    const oldest = p.history.kind === "calls" ? Math.max(0, ...p.history.calls.filter((c) => c.scope === "session").map((c) => c.ago)) : 0;
    if (p.ageMs !== oldest) out.push({ ...p, ageMs: oldest });
  }
  if (!keys.has("peer.label") && p.peer.label !== undefined) out.push({ ...p, peer: { fingerprint: p.peer.fingerprint } });
  if (p.client.authenticated === true && p.client.claims !== undefined) {
    const readClaims = new Set(dims.filter((d) => d.key.startsWith("client.claims:")).map((d) => (JSON.parse(d.key.slice("client.claims:".length)) as unknown[])[0]));
    if (!keys.has("client.id")) readClaims.delete("id");
    for (const claim of Object.keys(p.client.claims)) {
      if (readClaims.has(claim) || (claim === "role" && keys.has("client.role")) || (claim === "id" && keys.has("client.id"))) continue;
      const claims = { ...p.client.claims };
      delete claims[claim];
      out.push({ ...p, client: { ...p.client, claims, ...(claim === "role" ? { role: undefined } : {}), ...(claim === "id" ? { id: undefined } : {}) } });
    }
  }
  return out;
}

/** A smaller request with the same kind of change as `p`. */
export function minimise(p: Probe, dims: readonly Dimension[], judge: Judge, zone: string): Probe {
  const first = judge.assess(p);
  const target = first.key;
  let current = p;
  let valid = judge.argsValid(current);
  let deciders = first.deciders;
  let tries = 0;
  const accept = (q: Probe | undefined, fewer = false): boolean => {
    if (q === undefined || tries >= MAX_TRIES || !coherent(q)) return false;
    tries++;
    const qValid = judge.argsValid(q);
    if (valid && !qValid) return false;
    const assessed = judge.assess(q);
    if (assessed.key !== target) return false;
    const qDeciders = assessed.deciders;
    if (qDeciders > deciders || (fewer && qDeciders === deciders && qValid === valid)) return false;
    current = q;
    valid = qValid;
    deciders = qDeciders;
    return true;
  };
  // First a request on which as few other rules decide as can be, and arguments valid if they can be: then simpler.
  for (const dim of dims) for (const value of dim.regionValues(current)) accept(dim.set(current, value), true);
  /** Takes the first candidate that is accepted, and asks again from there, until none is. */
  const improve = (candidates: () => Iterable<Probe | undefined>): boolean => {
    let changed = false;
    for (let step = 0; step < MAX_STEPS; step++) {
      let moved = false;
      for (const q of candidates()) {
        if (accept(q)) {
          moved = true;
          break;
        }
      }
      if (!moved) break;
      changed = true;
    }
    return changed;
  };
  for (let pass = 0; pass < PASSES && tries < MAX_TRIES; pass++) {
    let changed = false;
    for (const dim of dims) if (improve(() => dim.simpler(current).map((v) => dim.set(current, v)))) changed = true;
    if (improve(() => tidyings(current, dims, zone))) changed = true;
    if (!changed) break;
  }
  return current;
}

/** One line per input the changed rules read whose value the change depends on: `args.amount in (5000, 6000]`. */
export function regionOf(p: Probe, dims: readonly Dimension[], judge: Judge, changedInputs: ReadonlySet<string>): string[] {
  const target = judge.assess(p).key;
  const out: string[] = [];
  for (const dim of dims) {
    if (!dim.inputs.some((i) => changedInputs.has(i))) continue;
    const values: unknown[] = [];
    const keeps: boolean[] = [];
    for (const value of dim.regionValues(p)) {
      const q = dim.set(p, value);
      if (q === undefined || !coherent(q)) continue;
      values.push(value);
      keeps.push(judge.assess(q).key === target);
    }
    const text = dim.describe({ values, keeps, current: dim.get(p), changed: changedInputs });
    if (text !== undefined) out.push(text);
  }
  return zoneOnce(out);
}

/** `time.weekday in [sat, sun], time.hour = 8 (Europe/Berlin)`: a zone named by several clock fields, once, last. */
function zoneOnce(lines: readonly string[]): string[] {
  const zoneOf = (line: string): string | undefined => /^time\.\w+ .* \(([^()]+)\)$/.exec(line)?.[1];
  return lines.map((line, i) => {
    const zone = zoneOf(line);
    const later = lines.slice(i + 1).some((l) => zoneOf(l) === zone);
    return zone !== undefined && later ? line.slice(0, -(zone.length + 3)) : line;
  });
}
