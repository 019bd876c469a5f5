// The dimension of earlier calls: the counts of calls the policies read (`calls(T, W)`, `called(T)`, limits,
// `session.calls`). A search tries lists of calls at each threshold and one either side, inside and just outside each
// window; an exhaustive check tries every class of every count at once, as counts alone, then finds a list of calls
// that gives the counts of any change it meets.
import type { Type } from "../../compiler/ir.js";
import { aggregateValues, recordedValues } from "../../runtime/state/values.js";
import { callsFor, coherent, countOf, type EarlierCallAgo, type HistoryValue, type Probe } from "./probe.js";
import { aggregateKey, OPAQUE_HISTORY, queryKey, type AggregateQuery, type Query, type Read, type Use } from "./reads.js";
import { constantsOf, oneOfEachClass, signature } from "./values.js";
import { durationText, unique, type Dimension } from "./dimension.js";

/** The most calls a history candidate holds: a limit of 1,000 calls is tried at 999 to 1,001, not above. */
const MAX_HISTORY_CALLS = 1_001;

/** A count as the region names it: `calls(process_refund, 10m)`, `called(read_patient_record)`, `calls to T in 1h per client`. */
export function queryText(query: Query): string {
  const tools = query.tools === "*" ? "*" : query.tools.join(", ");
  if (query.called) return `called(${tools})`;
  if (!Number.isFinite(query.windowMs)) return "session.calls";
  if (query.scope === "session") return `calls(${tools}, ${durationText(query.windowMs)})`;
  return `calls to ${tools} in ${durationText(query.windowMs)}${query.scope === "global" ? "" : ` per ${query.scope}`}`;
}

/** An aggregate as the region names it: `sum(process_refund.amount, 1d, client)`. */
export function aggregateText(a: AggregateQuery): string {
  const field = a.pointer.split("/").slice(1).join(".");
  return `${a.fn}(${a.tool}.${field}, ${durationText(a.windowMs)}${a.scope === "session" ? "" : `, ${a.scope === "global" ? "all" : a.scope}`})`;
}

/** What `a` folds of a list of earlier calls, as the state store folds them (GeneratedHistory.aggregate). */
export function aggregateOf(calls: readonly EarlierCallAgo[], a: AggregateQuery): number {
  const values: number[] = [];
  for (const call of [...calls].sort((x, y) => y.ago - x.ago)) {
    if (call.tool !== a.tool || call.ago > a.windowMs) continue;
    if (a.scope === "session" && call.scope !== "session") continue;
    if (a.scope === "client" && call.scope === "other") continue;
    const value = recordedValues(call.args, [a.pointer])?.[a.pointer];
    if (value !== undefined) values.push(value);
  }
  return aggregateValues(a.fn, values);
}

/** Arguments holding `value` at a JSON Pointer: `/payment/amount` → `{ payment: { amount: value } }`. */
function argsAt(pointer: string, value: number): Record<string, unknown> {
  const fields = pointer.split("/").slice(1).map((f) => f.replace(/~1/g, "/").replace(/~0/g, "~"));
  let out: unknown = value;
  for (const field of fields.reverse()) out = { [field]: out };
  return out as Record<string, unknown>;
}

/** The most values tried per aggregate: every value class of a threshold, not every combination of them. */
const MAX_AGGREGATE_VALUES = 16;

/**
 * Earlier calls carrying values around the numbers an aggregate is compared with (and those numbers less the other
 * constants the rules compare arguments with, for `sum(...) + args.amount > N`): one call, and two that split it.
 */
function aggregateCandidates(reads: readonly Read[], aggregates: readonly AggregateQuery[], all: readonly Read[]): HistoryValue[] {
  const numbers = (read: Read): number[] =>
    read.use.kind === "compare" && typeof read.use.value === "number"
      ? [read.use.value]
      : read.use.kind === "opaque"
        ? read.use.hints.flatMap((h) => (h.kind === "number" ? [h.value] : []))
        : [];
  const others = unique(all.filter((r) => r.aggregate === undefined).flatMap(numbers)) as number[];
  const out: HistoryValue[] = [];
  for (const a of aggregates) {
    const own = unique(reads.filter((r) => r.aggregate !== undefined && aggregateKey(r.aggregate) === aggregateKey(a)).flatMap(numbers)) as number[];
    const targets = unique([...own, ...own.flatMap((c) => others.map((d) => c - d)), ...others.flatMap((d) => [d / 3, d / 2]), 1, 100]) as number[];
    const values = (unique(targets.flatMap((t) => [t - 1, t, t + 1, t + 0.01])) as number[]).filter((v) => Number.isFinite(v)).slice(0, MAX_AGGREGATE_VALUES);
    const scope: EarlierCallAgo["scope"] = a.scope === "session" ? "session" : a.scope === "client" ? "client" : "other";
    const ago = Math.min(1000, a.windowMs);
    const call = (v: number, at = ago): EarlierCallAgo => ({ tool: a.tool, ago: at, scope, args: argsAt(a.pointer, v) });
    for (const v of values) {
      out.push({ kind: "calls", calls: [call(v)] });
      out.push({ kind: "calls", calls: [call(v / 2), call(v / 2)] });
      // At the window's edge (still counted) and just past it (not), beside a small value inside: a moved window shows.
      out.push({ kind: "calls", calls: [call(1), call(v, a.windowMs)] });
      out.push({ kind: "calls", calls: [call(1), call(v, a.windowMs + 1)] });
    }
  }
  return out;
}

/** Each aggregate the reads name, by key in key order. */
function aggregatesOf(reads: readonly Read[]): AggregateQuery[] {
  const byKey = new Map<string, AggregateQuery>();
  for (const read of reads) if (read.aggregate !== undefined) byKey.set(aggregateKey(read.aggregate), read.aggregate);
  return [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, a]) => a);
}

/** Each count the reads name, by query key in key order, with every use made of it. */
function queriesOf(reads: readonly Read[]): [string, { query: Query; uses: Use[] }][] {
  const byKey = new Map<string, { query: Query; uses: Use[] }>();
  for (const read of reads) {
    if (read.query === undefined) continue;
    const entry = byKey.get(read.key) ?? { query: read.query, uses: [] };
    entry.uses.push(read.use);
    byKey.set(read.key, entry);
  }
  return [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
}

/**
 * The dimension of earlier calls, from every count and aggregate the two policies read for a tool (`reads`); `all` is
 * every read of the tool, whose constants suggest values for aggregates.
 */
export function historyDimension(reads: readonly Read[], tool: string, all: readonly Read[] = reads): Dimension {
  const queries = queriesOf(reads);
  const aggregates = aggregatesOf(reads);
  // Values of earlier calls have no finite classes here: an aggregate is explored by search.
  const opaque = aggregates.length > 0 || reads.some((r) => (r.key === OPAQUE_HISTORY || r.use.kind === "opaque") && r.aggregate === undefined);

  let classes: HistoryValue[] | undefined;
  if (!opaque) {
    const perQuery = queries.map(([key, { query, uses }]) => {
      const constants = constantsOf(uses).filter((c): c is number => typeof c === "number");
      const values = query.called ? [0, 1] : unique([0, ...constants.flatMap((c) => [Math.floor(c) - 1, Math.floor(c), Math.ceil(c), Math.floor(c) + 1])]).filter((v) => (v as number) >= 0);
      // `called()` holds for one call or more: its two classes are 0 and 1 calls.
      return { key, values: query.called ? [0, 1] : (oneOfEachClass(values, uses, { kind: "number" }) as number[]) };
    });
    classes = [{ kind: "counts", counts: {} }];
    for (const q of perQuery) {
      classes = classes.flatMap((c) => q.values.map((v): HistoryValue => ({ kind: "counts", counts: { ...(c.kind === "counts" ? c.counts : {}), [q.key]: v } })));
    }
  }

  const candidates: HistoryValue[] = [{ kind: "calls", calls: [] }, ...aggregateCandidates(reads, aggregates, all)];
  const made = new Set<string>();
  for (const [, { query, uses }] of queries) {
    const constants = query.called ? [1] : constantsOf(uses).filter((c): c is number => typeof c === "number");
    const counts = unique(constants.flatMap((c) => [Math.floor(c) - 1, Math.floor(c), Math.floor(c) + 1])).filter((n) => (n as number) > 0 && (n as number) <= MAX_HISTORY_CALLS) as number[];
    const window = Number.isFinite(query.windowMs) ? query.windowMs : 3_600_000;
    const scopes = unique([query.scope === "session" ? "session" : query.scope === "client" ? "client" : "other", "session"]) as EarlierCallAgo["scope"][];
    const callTool = query.tools === "*" || query.tools.includes(tool) ? tool : query.tools[0]!;
    for (const n of counts) {
      for (const ago of unique([window, window + 1, Math.min(1000, window)]) as number[]) {
        for (const scope of scopes) {
          // Lists of a thousand calls are told apart by what they are made of, not by their JSON.
          const recipe = `${callTool}|${n}|${ago}|${scope}`;
          if (made.has(recipe)) continue;
          made.add(recipe);
          candidates.push({ kind: "calls", calls: Array.from({ length: n }, () => ({ tool: callTool, ago, scope })) });
        }
      }
    }
  }

  const set = (p: Probe, value: unknown): Probe | undefined => {
    const history = value as HistoryValue;
    let ageMs = p.ageMs;
    if (history.kind === "calls") for (const c of history.calls) if (c.scope === "session" && c.ago > ageMs) ageMs = c.ago;
    const next: Probe = { ...p, history, ageMs };
    return coherent(next) ? next : undefined;
  };
  const countsOf = (p: Probe): { query: Query; count: number }[] =>
    queries.map(([key, { query }]) => ({ query, count: p.history.kind === "counts" ? (p.history.counts[key] ?? 0) : countOf(p.history.calls, query) }));
  return {
    key: "history",
    label: "earlier calls",
    inputs: [...queries.map(([key]) => key), ...aggregates.map(aggregateKey)],
    candidates,
    classes,
    ...(classes === undefined
      ? { opaqueBecause: aggregates.length > 0 ? "earlier calls are aggregated by the values of their arguments" : "earlier calls are counted over a window that is not a constant" }
      : {}),
    get: (p) => p.history,
    set,
    simpler: (p) => {
      if (p.history.kind !== "calls" || p.history.calls.length === 0) return [];
      const calls = p.history.calls;
      const out: HistoryValue[] = [{ kind: "calls", calls: [] }];
      if (calls.length > 1) out.push({ kind: "calls", calls: calls.slice(0, Math.floor(calls.length / 2)) }, { kind: "calls", calls: calls.slice(Math.floor(calls.length / 2)) });
      if (calls.length <= 24) for (let i = 0; i < calls.length; i++) out.push({ kind: "calls", calls: calls.filter((_c, j) => j !== i) });
      out.push({ kind: "calls", calls: calls.map((c) => ({ ...c, ago: roundAgo(c.ago) })) });
      return out;
    },
    regionValues: () => [{ kind: "calls", calls: [] }],
    describe: (sample) => {
      if (sample.keeps.every((k) => k)) return undefined;
      const history = sample.current as HistoryValue;
      const probeLike = { history } as Probe;
      const all = countsOf(probeLike).filter((c) => c.count > 0);
      const changed = all.filter((c) => sample.changed.has(queryKey(c.query)));
      const counts = changed.length > 0 ? changed : all;
      const folds = history.kind === "calls" ? aggregates.map((a) => `${aggregateText(a)} = ${aggregateOf(history.calls, a)}`) : [];
      if (counts.length === 0 && folds.length === 0) return "no earlier calls";
      return [...counts.map(({ query, count }) => (query.called ? queryText(query) : `${queryText(query)} = ${count}`)), ...folds].join(", ");
    },
  };
}

function roundAgo(ago: number): number {
  for (const unit of [3_600_000, 60_000, 1000]) if (ago >= unit && ago % unit !== 0 && Math.ceil(ago / unit) * unit - ago < unit / 100) return Math.ceil(ago / unit) * unit;
  return ago;
}

/** The calls a counts history stands for, as a list (probe.ts `callsFor`); undefined when none gives those counts. */
export function realiseHistory(p: Probe, reads: readonly Read[]): Probe | undefined {
  if (p.history.kind !== "counts") return p;
  const counts = p.history.counts;
  const targets = queriesOf(reads).map(([key, { query, uses }]) => {
    const count = counts[key] ?? 0;
    const type: Type = { kind: "number" };
    const accepts = query.called ? (n: number) => n > 0 === count > 0 : (n: number) => signature(uses, n, type) === signature(uses, count, type);
    return { query, count, accepts };
  });
  const calls = callsFor(targets, p.tool, p.ageMs);
  if (calls === undefined) return undefined;
  const next: Probe = { ...p, history: { kind: "calls", calls } };
  return coherent(next) ? next : undefined;
}
