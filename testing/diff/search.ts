// The search for requests two versions of a policy decide differently. Requirements first: when the two lists are not
// identical, do they decide every session alike? Then each tool: unchanged when the rules that decide it are the same
// in both (and the requirements decide alike); checked exhaustively when every input its rules read has finitely many
// classes; searched otherwise, around the constants of both policies, then at random with `request()`. Last, each
// kind of change found gets a minimal counterexample and its region.
import fc from "fast-check";
import type { CheckedPolicy, ToolInfo } from "../../compiler/ir.js";
import type { GuardModule } from "../../runtime/guard/types.js";
import { clock, history, request, session } from "../context.js";
import { SchemaDocument } from "../jsonschema/flat.js";
import { Validator } from "../jsonschema/validate.js";
import { toolCall } from "../schema.js";
import { dimensionsOf, realiseHistory, type ArgsSchema, type Dimension } from "./dimensions.js";
import { enumerate, RANDOM_SHARE, search } from "./explore.js";
import { minimise, regionOf, type Judge } from "./minimise.js";
import { pathSignature, type ChangeKind, type Outcome } from "./outcome.js";
import { Pair, type Decided, type Disagreement } from "./pair.js";
import { probeOf, type Probe } from "./probe.js";
import { Choices } from "./random.js";
import { targetsTool, type ItemReads, type Read } from "./reads.js";

export type { Disagreement } from "./pair.js";

export interface SearchOptions {
  /** Requests the search may decide, shared by the tools it searches. */
  readonly runs: number;
  readonly seed: number;
  /** The most classes a tool's exhaustive check enumerates before it is searched instead. */
  readonly exhaustiveLimit: number;
  /** The two policies' compiled guards: every request is decided by them too, and must be decided alike. */
  readonly compiled?: { readonly before: GuardModule; readonly after: GuardModule } | undefined;
}

/** Requests decided per run, by default: a few thousand keeps a diff of the shipped policies well under a second. */
export const DEFAULT_RUNS = 3000;
/** Enumerating 50,000 classes takes about a second on the shipped policies' tools. */
export const DEFAULT_EXHAUSTIVE_LIMIT = 50_000;
/** Base requests drawn per tool; the other parts of each request come from one of them. */
const BASES = 64;
/** No searched tool gets fewer requests than this, whatever the budget. */
const MIN_TOOL_RUNS = 200;
/** Requirements that differ in text but not provably in effect get this share of the budget, searched. */
const REQUIREMENTS_SHARE = 0.25;

export type ToolMethod = "unchanged" | "exhaustive" | "search" | "only-old" | "only-new";

export interface ToolResult {
  readonly tool: string;
  readonly method: ToolMethod;
  /** Requests decided for this tool. */
  readonly requests: number;
  /** For an exhaustive check: the classes enumerated. */
  readonly classes?: number;
  /** Why a searched tool was not checked exhaustively. */
  readonly why?: string;
  /** For a tool whose definition differs between the two manifests. */
  readonly definitionChanged?: boolean;
  readonly notes: readonly string[];
}

export interface FoundChange {
  readonly tool: string;
  readonly kind: ChangeKind;
  readonly before: Outcome;
  readonly after: Outcome;
  /** How many decided requests showed this kind of change. */
  readonly count: number;
  /** The minimal request found. */
  readonly probe: Probe;
  readonly region: readonly string[];
  readonly argsValid: boolean;
}

/** `same`: identical lists; `proved`: written differently, deciding alike (checked exhaustively); `searched`: no difference found. */
export type RequirementsStatus = "same" | "proved" | "searched" | "differs";

export interface SearchResult {
  readonly disagreements: readonly Disagreement[];
  readonly requirements: RequirementsStatus;
  readonly tools: readonly ToolResult[];
  readonly changes: readonly FoundChange[];
  readonly requests: number;
}

/** The first request found of one kind of change, with what its counterexample and region are worked out from. */
interface Recorded {
  readonly tool: string;
  readonly kind: ChangeKind;
  readonly probe: Probe;
  count: number;
  readonly dims: readonly Dimension[];
  readonly changedInputs: ReadonlySet<string>;
  readonly schema: ArgsSchema;
}

/** What every step of one comparison shares. */
interface Comparison {
  readonly pair: Pair;
  readonly options: SearchOptions;
  readonly zone: string;
  readonly oldTools: ReadonlyMap<string, ToolInfo>;
  readonly newTools: ReadonlyMap<string, ToolInfo>;
  /** Every tool of both policies' manifests, for the histories drawn. */
  readonly allTools: readonly ToolInfo[];
  readonly recorded: Map<string, Recorded>;
}

function multisetEqual(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const sa = [...a].sort();
  const sb = [...b].sort();
  return sa.every((x, i) => x === sb[i]);
}

/** The inputs read by items present in one list and not the other (as multisets of identities). */
function changedInputs(before: readonly ItemReads[], after: readonly ItemReads[]): Set<string> {
  const count = new Map<string, number>();
  for (const item of before) count.set(item.identity, (count.get(item.identity) ?? 0) + 1);
  for (const item of after) count.set(item.identity, (count.get(item.identity) ?? 0) - 1);
  const inputs = new Set<string>();
  for (const item of [...before, ...after]) {
    if ((count.get(item.identity) ?? 0) === 0) continue;
    for (const read of item.reads) inputs.add(read.key);
  }
  return inputs;
}

function hashSeed(seed: number, text: string): number {
  let h = seed | 0;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x9e3779b1);
  return h | 0;
}

function argsSchema(definitions: readonly ToolInfo[], samples: readonly Readonly<Record<string, unknown>>[]): ArgsSchema {
  const validators = definitions.map((tool) => {
    const doc = new SchemaDocument(tool.name, tool.definition["inputSchema"]);
    return { doc, validator: new Validator(doc) };
  });
  return {
    samples,
    valid: (args) =>
      validators.some(({ doc, validator }) => {
        try {
          return validator.valid(doc.root, args);
        } catch {
          // A schema the validator cannot read (a keyword pqguard/testing does not honour) cannot call arguments invalid.
          return true;
        }
      }),
  };
}

const clocks = new Map<string, fc.Arbitrary<number>>();

/** `clock()` in a zone, made once: it finds the zone's daylight-saving transitions of a year, day by day. */
function clockOf(zone: string): fc.Arbitrary<number> {
  let arbitrary = clocks.get(zone);
  if (arbitrary === undefined) {
    arbitrary = clock({ zone });
    clocks.set(zone, arbitrary);
  }
  return arbitrary;
}

/** Requests to `tool` drawn from pqguard/testing's arbitraries: what the dimensions do not set comes from these. */
function drawRequests(c: Comparison, definitions: readonly ToolInfo[], tool: string, seed: number, count: number, notes: string[]): Probe[] {
  const calls = definitions.map((d) => {
    try {
      return toolCall([d.definition], tool);
    } catch (error) {
      notes.push(`arguments of \`${tool}\` are not drawn from its schema (${error instanceof Error ? error.message : String(error)}); only the arguments the policies read are set`);
      return fc.constant({ tool, args: {} as Readonly<Record<string, unknown>> });
    }
  });
  const call = calls.length === 1 ? calls[0]! : fc.oneof(...calls);
  const manifest = c.allTools.map((t) => t.definition);
  const arbitrary = request({ call, session: session(), clock: clockOf(c.zone), history: history(manifest, { now: 0, calls: { max: 4 } }) }).map(probeOf);
  return fc.sample(arbitrary, { seed, numRuns: count });
}

/** Whether the two requirement lists decide every session alike, and sessions on which they do not. */
function compareRequirements(c: Comparison, carrier: string | undefined): { status: RequirementsStatus; seeds: Probe[] } {
  const { pair, options } = c;
  const same = pair.before.requirements.length === pair.after.requirements.length && pair.before.requirements.every((r, i) => r.identity === pair.after.requirements[i]!.identity);
  if (same) return { status: "same", seeds: [] };
  if (carrier === undefined) return { status: "searched", seeds: [] };
  const definition = c.oldTools.get(carrier)!;
  const bases = drawRequests(c, [definition], carrier, options.seed, 64, []);
  const reads = [...pair.before.requirements, ...pair.after.requirements].flatMap((r) => r.reads);
  const dims = dimensionsOf(reads, { tool: carrier, schema: argsSchema([definition], bases.map((b) => b.args)), seed: options.seed, base: bases[0]! });
  const seeds: Probe[] = [];
  const differs = (p: Probe): boolean => {
    const outcomes = c.pair.requirementOutcomes(p);
    if (outcomes.before !== outcomes.after) seeds.push(p);
    return outcomes.before !== outcomes.after;
  };
  if (enumerate(dims, bases[0]!, options.exhaustiveLimit, differs) !== undefined) return { status: seeds.length > 0 ? "differs" : "proved", seeds };
  search({
    dims,
    bases,
    seeds: [],
    fresh: () => [],
    budget: Math.max(MIN_TOOL_RUNS, Math.floor(options.runs * REQUIREMENTS_SHARE)),
    choices: new Choices(hashSeed(options.seed, "requirements")),
    decide: (p) => {
      const outcomes = c.pair.requirementOutcomes(p);
      differs(p);
      return { signature: `${outcomes.before}|${outcomes.after}`, deep: outcomes.before === "pass" || outcomes.after === "pass", closeness: 0 };
    },
  });
  return { status: seeds.length > 0 ? "differs" : "searched", seeds };
}

/** A tool's result now, or the search it needs once the budget is shared out. */
type Plan = ToolResult | { readonly tool: string; readonly run: (budget: number) => ToolResult };

function planTool(c: Comparison, tool: string, requirements: { status: RequirementsStatus; seeds: readonly Probe[] }): Plan {
  const { pair, options } = c;
  const oldTool = c.oldTools.get(tool);
  const newTool = c.newTools.get(tool);
  if (oldTool === undefined || newTool === undefined) return { tool, method: oldTool === undefined ? "only-new" : "only-old", requests: 0, notes: [] };
  const definitionChanged = oldTool.digest !== newTool.digest;
  const marks = definitionChanged ? { definitionChanged } : {};
  const itemsBefore = pair.before.items.filter((i) => targetsTool(i, tool));
  const itemsAfter = pair.after.items.filter((i) => targetsTool(i, tool));
  const requirementsAlike = requirements.status === "same" || requirements.status === "proved";
  if (requirementsAlike && multisetEqual(itemsBefore.map((i) => i.identity), itemsAfter.map((i) => i.identity))) return { tool, method: "unchanged", requests: 0, notes: [], ...marks };

  const reads: Read[] = [...pair.before.requirements, ...pair.after.requirements, ...itemsBefore, ...itemsAfter].flatMap((i) => i.reads);
  const changed = changedInputs([...pair.before.requirements, ...itemsBefore], [...pair.after.requirements, ...itemsAfter]);
  const definitions = definitionChanged ? [oldTool, newTool] : [oldTool];
  const notes: string[] = [];
  const seed = hashSeed(options.seed, tool);
  const bases = drawRequests(c, definitions, tool, seed, BASES, notes);
  const schema = argsSchema(definitions, bases.map((b) => b.args));
  const dims = dimensionsOf(reads, { tool, schema, seed, base: bases[0]! });
  const record = (p: Probe, d: Decided): void => {
    if (d.change === undefined) return;
    const found = c.recorded.get(d.change.key);
    if (found !== undefined) found.count++;
    else c.recorded.set(d.change.key, { tool, kind: d.change, probe: p, count: 1, dims, changedInputs: changed, schema });
  };

  // Counts of earlier calls are enumerated as counts alone; a change is kept only once a list of calls gives them.
  let unrealised = 0;
  const start = pair.decided;
  const classes = enumerate(dims, bases[0]!, options.exhaustiveLimit, (p) => {
    const d = pair.decide(p);
    if (d.change === undefined) return;
    const real = realiseHistory(p, reads);
    const again = real === undefined ? undefined : pair.decide(real);
    if (real !== undefined && again?.change?.key === d.change.key) record(real, again);
    else unrealised++;
  });
  if (classes !== undefined && unrealised === 0) return { tool, method: "exhaustive", requests: pair.decided - start, classes, notes, ...marks };

  const opaque = dims.find((d) => d.classes === undefined);
  const why =
    classes !== undefined
      ? `some classes of earlier calls that decide differently are not the counts of any one list of calls (${unrealised} such classes)`
      : opaque !== undefined
        ? (opaque.opaqueBecause ?? `\`${opaque.label}\` has no finite classes`)
        : `its inputs have more than ${options.exhaustiveLimit.toLocaleString("en-US")} classes`;
  const seeds = requirements.seeds.map((p) => ({ ...p, tool, args: bases[0]!.args }));
  return {
    tool,
    run: (budget) => {
      const searchStart = pair.decided;
      search({
        dims,
        bases: [...seeds, ...bases],
        seeds,
        fresh: () => drawRequests(c, definitions, tool, seed ^ 0x5a5a5a5a, Math.max(1, Math.ceil(budget * RANDOM_SHARE)), []),
        budget,
        choices: new Choices(seed),
        decide: (p) => {
          const d = pair.decide(p);
          record(p, d);
          return { signature: pathSignature(d.before, d.after), deep: pair.passedRequirements(d), closeness: d.closeness };
        },
      });
      return { tool, method: "search", requests: pair.decided - searchStart + (classes ?? 0), why, notes, ...marks };
    },
  };
}

/** Each kind of change with its minimal counterexample, the outcomes on it, and its region. */
function explainChanges(c: Comparison): FoundChange[] {
  const { pair } = c;
  const changes = [...c.recorded.values()].map((r): FoundChange => {
    const judge: Judge = {
      assess: (p) => {
        const d = pair.decide(p);
        return { key: d.change?.key, deciders: d.before.rules.length + d.after.rules.length };
      },
      argsValid: (p) => r.schema.valid(p.args),
    };
    const probe = minimise(r.probe, r.dims, judge, c.zone);
    const region = regionOf(probe, r.dims, judge, r.changedInputs);
    const { before, after } = pair.decide(probe);
    return { tool: r.tool, kind: r.kind, before, after, count: r.count, probe, region, argsValid: r.schema.valid(probe.args) };
  });
  const order = (a: FoundChange, b: FoundChange): number => (a.tool !== b.tool ? (a.tool < b.tool ? -1 : 1) : a.kind.key < b.kind.key ? -1 : a.kind.key > b.kind.key ? 1 : 0);
  return changes.sort(order);
}

/** Runs the whole comparison of two checked policies. */
export function searchDifferences(oldPolicy: CheckedPolicy, newPolicy: CheckedPolicy, options: SearchOptions): SearchResult {
  const c: Comparison = {
    pair: new Pair(oldPolicy, newPolicy, options.compiled),
    options,
    zone: oldPolicy.timezone,
    oldTools: new Map(oldPolicy.tools.map((t) => [t.name, t])),
    newTools: new Map(newPolicy.tools.map((t) => [t.name, t])),
    allTools: [...new Map([...oldPolicy.tools, ...newPolicy.tools].map((t) => [t.name, t])).values()],
    recorded: new Map(),
  };
  const names = [...new Set([...c.oldTools.keys(), ...c.newTools.keys()])].sort();
  const requirements = compareRequirements(c, names.find((n) => c.oldTools.has(n) && c.newTools.has(n)));
  const plans = names.map((tool) => planTool(c, tool, requirements));
  const searches = plans.filter((p): p is Exclude<Plan, ToolResult> => "run" in p);
  const share = searches.length === 0 ? 0 : Math.max(MIN_TOOL_RUNS, Math.floor(options.runs / searches.length));
  const tools = plans.map((p) => ("run" in p ? p.run(share) : p));
  return { disagreements: c.pair.disagreements, requirements: requirements.status, tools, changes: explainChanges(c), requests: c.pair.decided };
}
