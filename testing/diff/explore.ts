// The two ways a diff explores one tool's requests: every combination of its inputs' classes, when they are finite
// and few enough; otherwise a search within a budget, around the candidates of each input.
import type { Dimension } from "./dimensions.js";
import { coherent, NO_CALLS, type Probe } from "./probe.js";
import type { Choices } from "./random.js";
import { valueKey } from "./values.js";

/** Seeds kept per path through both policies: more would spend the budget on one region. */
const SEEDS_PER_PATH = 2;
/** Share of a budget for random combinations of candidates, before seeds are varied one input at a time. */
const TARGETED_SHARE = 0.25;
/** Share left at the end for plain random requests. */
export const RANDOM_SHARE = 0.15;
/**
 * Candidates per input tried when a seed is varied; the rest wait, the seed queued again a rank lower, so that an input
 * with a hundred candidates does not spend the budget of many seeds on one.
 */
const SLICE = 12;
/** How often an input takes a candidate in a random combination, in the targeted phase and at the end. */
const TARGETED_ODDS = 0.5;
const LATE_ODDS = 0.3;

/**
 * Every combination of the dimensions' classes, each set on `drawn` in order; combinations no session could produce
 * are skipped. Returns how many were decided, or undefined (deciding none) when some dimension has no finite classes
 * or the combinations number more than `limit`.
 */
export function enumerate(dims: readonly Dimension[], drawn: Probe, limit: number, visit: (p: Probe) => void): number | undefined {
  if (dims.some((d) => d.classes === undefined)) return undefined;
  // Earlier calls of the drawn request would rule out the shorter session ages; the history dimension sets its own.
  const base: Probe = { ...drawn, history: NO_CALLS };
  const sizes = dims.map((d) => d.classes!.length);
  const total = sizes.reduce((a, b) => a * b, 1);
  if (total > limit) return undefined;
  const entangled = dims.flatMap((d, i) => (d.entangled === true ? [{ dim: d, i, keys: d.classes!.map(valueKey) }] : []));
  let visited = 0;
  const index = sizes.map(() => 0);
  for (let n = 0; n < total; n++) {
    let p: Probe | undefined = base;
    for (let i = 0; i < dims.length && p !== undefined; i++) p = dims[i]!.set(p, dims[i]!.classes![index[i]!]);
    // A later input may have changed an earlier one to stay coherent: that combination is another's, not this one.
    if (p !== undefined && coherent(p) && entangled.every(({ dim, i, keys }) => valueKey(dim.get(p!)) === keys[index[i]!])) {
      visit(p);
      visited++;
    }
    for (let i = dims.length - 1; i >= 0; i--) {
      index[i]!++;
      if (index[i]! < sizes[i]!) break;
      index[i] = 0;
    }
  }
  return visited;
}

function interleave(a: readonly unknown[], b: readonly unknown[]): unknown[] {
  const out: unknown[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (i < a.length) out.push(a[i]);
    if (i < b.length) out.push(b[i]);
  }
  return out;
}

/** The path a request took through both policies, whether it got past their requirements, how near a changed rule. */
export interface Path {
  readonly signature: string;
  readonly deep: boolean;
  /** 0 to 1: the share of a changed rule's clauses that held (pair.ts `Decided.closeness`). */
  readonly closeness: number;
}

export interface SearchPlan {
  readonly dims: readonly Dimension[];
  /** Requests drawn from pqguard/testing's arbitraries; every other request starts from one of them. */
  readonly bases: readonly Probe[];
  /** Requests known to be interesting (where the requirements differ), decided and varied first. */
  readonly seeds: readonly Probe[];
  /** More drawn requests, for the plain random end of the search. */
  readonly fresh: () => readonly Probe[];
  readonly budget: number;
  readonly choices: Choices;
  /** Decides a request and says which path it took. */
  readonly decide: (p: Probe) => Path;
}

/**
 * A search within a budget of decisions: random combinations of candidates on the base requests; then each seed (a
 * request on a path through the two policies not seen twice before, those past the requirements first) varied one
 * input at a time over every candidate of that input; then plain random requests.
 */
export function search(plan: SearchPlan): void {
  const { dims, bases, budget, choices } = plan;
  let spent = 0;
  const paths = new Map<string, number>();
  // Seeds past the requirements are varied first, most of a policy lying behind them; among those, the ones on which
  // more clauses of a changed rule held, one input away from it applying; then in the order found.
  const queue: { probe: Probe; rank: number; from: number }[] = [];
  const run = (p: Probe): void => {
    spent++;
    const path = plan.decide(p);
    // A request that got nearer a changed rule is on a new path, even if both policies decide it as before.
    const signature = `${path.signature}|${path.closeness}`;
    const seen = paths.get(signature) ?? 0;
    if (seen < SEEDS_PER_PATH) {
      paths.set(signature, seen + 1);
      queue.push({ probe: p, rank: (path.deep ? 2 : 0) + path.closeness, from: 0 });
    }
  };
  const next = (): { probe: Probe; rank: number; from: number } => {
    let best = 0;
    for (let i = 1; i < queue.length; i++) if (queue[i]!.rank > queue[best]!.rank) best = i;
    return queue.splice(best, 1)[0]!;
  };
  /** A dimension's values to try on a seed: its candidates, and those made from the seed's own value, taken in turn. */
  const valuesFor = (dim: Dimension, seed: Probe): unknown[] => interleave(dim.candidates, dim.around?.(seed) ?? []);
  const combine = (base: Probe, odds: number): Probe => {
    let p = base;
    for (const dim of dims) if (dim.candidates.length > 0 && choices.next() < odds) p = dim.set(p, choices.pick(dim.candidates)) ?? p;
    return p;
  };

  for (const seed of plan.seeds) if (spent < budget) run(seed);
  const targeted = Math.floor(budget * TARGETED_SHARE);
  for (let i = 0; spent < targeted && bases.length > 0; i++) run(combine(bases[i % bases.length]!, TARGETED_ODDS));
  const neighbourhood = budget - Math.floor(budget * RANDOM_SHARE);
  while (queue.length > 0 && spent < neighbourhood) {
    const { probe: seed, rank, from } = next();
    let more = false;
    for (const dim of dims) {
      const current = valueKey(dim.get(seed));
      const values = valuesFor(dim, seed);
      if (values.length > from + SLICE) more = true;
      for (const value of values.slice(from, from + SLICE)) {
        if (spent >= neighbourhood) break;
        if (valueKey(value) === current) continue;
        const p = dim.set(seed, value);
        if (p !== undefined) run(p);
      }
    }
    if (more) queue.push({ probe: seed, rank: rank - 1, from: from + SLICE });
  }
  const fresh = spent < budget ? plan.fresh() : [];
  for (let i = 0; spent < budget && i < fresh.length; i++) run(fresh[i]!);
  for (let i = 0; spent < budget && bases.length > 0; i++) run(combine(bases[choices.below(bases.length)]!, LATE_ODDS));
}
