// Policy diff benchmark: `pqguard diff` between each shipped policy and every one of its mutants (an operator flipped,
// a constant moved, a list member swapped or removed, a window or limit changed, a regex altered, a rule dropped, an
// effect changed) and semantics-preserving rewrites, with the default budget. Reports the detection rate, the false
// changes on rewrites, and the time per pair; the baseline, measured in the same run, is plain random search: as many
// requests drawn with pqguard/testing's `request()` over all tools, decided by both policies.
import { readdir } from "node:fs/promises";
import { cpus } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { interpret } from "../compiler/interpreter.js";
import type { CheckedPolicy } from "../compiler/ir.js";
import { clock, history, request, session, toolCall } from "../testing/index.js";
import type { GeneratedRequest } from "../testing/types.js";
import { DEFAULT_RUNS } from "../testing/diff/index.js";
import { judgeVariant, policyVariants, type VariantResult } from "../testing/diff/measure.js";
import { changeOf, correspond, outcomeOf } from "../testing/diff/outcome.js";
import { policyReads } from "../testing/diff/reads.js";

const POLICIES = fileURLToPath(new URL("../policies/", import.meta.url));
/** The example policies the measurement is pinned to (as in test/testing/diff-mutation.test.ts), not the library beside them. */
const MEASURED = ["filesystem", "healthcare", "payments"];
/** One seed for the whole run, so that two runs of the benchmark search the same requests. */
const SEED = 1;

interface PolicyRow {
  readonly policy: string;
  readonly mutants: number;
  readonly unchecked: number;
  readonly equivalent: number;
  readonly detected: number;
  readonly missed: readonly string[];
  readonly rewrites: number;
  readonly falseChanges: readonly string[];
  readonly baselineDetected: number;
  readonly ms: readonly number[];
  readonly byKind: Readonly<Record<string, { detected: number; of: number }>>;
}

async function shippedPolicies(): Promise<string[]> {
  const files: string[] = [];
  for (const entry of (await readdir(POLICIES, { withFileTypes: true })).filter((e) => e.isDirectory() && MEASURED.includes(e.name)).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    for (const file of (await readdir(join(POLICIES, entry.name))).filter((f) => f.endsWith(".policy")).sort()) files.push(join(POLICIES, entry.name, file));
  }
  return files;
}

/** The baseline's requests: DEFAULT_RUNS draws of `request()` over every tool of the policy, from the run's seed. */
function randomRequests(policy: CheckedPolicy): GeneratedRequest[] {
  const tools = policy.tools.map((t) => t.definition);
  const arbitrary = request({ call: toolCall(tools, undefined, { skipUnsupported: true }), session: session(), clock: clock({ zone: policy.timezone }), history: history(tools, { now: 0 }) });
  return fc.sample(arbitrary, { seed: SEED, numRuns: DEFAULT_RUNS });
}

/** Whether plain random search finds any change between the two policies. */
function randomFinds(before: CheckedPolicy, after: CheckedPolicy, requests: readonly GeneratedRequest[]): boolean {
  const groups = correspond(policyReads(before), policyReads(after));
  const [a, b] = [interpret(before), interpret(after)];
  return requests.some((r) => {
    const call = { tool: r.tool, args: r.args };
    return changeOf(r.tool, outcomeOf(a.guard(call, r.context), groups.before), outcomeOf(b.guard(call, r.context), groups.after)) !== undefined;
  });
}

async function measurePolicy(file: string): Promise<PolicyRow> {
  const variants = await policyVariants(file);
  const requests = randomRequests(variants.original);
  const ms: number[] = [];
  const byKind: Record<string, { detected: number; of: number }> = {};
  const results: VariantResult[] = [];
  let baselineDetected = 0;
  for (const mutant of variants.mutants) {
    const result = judgeVariant(variants.original, mutant, { seed: SEED });
    results.push(result);
    ms.push(result.ms);
    if (result.verdict === "equivalent") continue;
    const kind = (byKind[mutant.kind] ??= { detected: 0, of: 0 });
    kind.of++;
    if (result.verdict === "detected") kind.detected++;
    if (randomFinds(variants.original, mutant.policy, requests)) baselineDetected++;
  }
  const falseChanges: string[] = [];
  for (const rewrite of variants.rewrites) {
    const result = judgeVariant(variants.original, rewrite, { seed: SEED });
    ms.push(result.ms);
    if (result.verdict === "detected") falseChanges.push(`${rewrite.description}: ${result.diff.changes.length + result.diff.manifest.length} changes`);
  }
  for (const broken of variants.brokenRewrites) falseChanges.push(`${broken}: the rewrite does not check`);
  return {
    policy: variants.original.fileName,
    mutants: variants.mutants.length,
    unchecked: variants.unchecked,
    equivalent: results.filter((r) => r.verdict === "equivalent").length,
    detected: results.filter((r) => r.verdict === "detected").length,
    missed: results.filter((r) => r.verdict === "missed").map((r) => `${r.description} (searched: ${r.diff.tools.filter((t) => t.method === "search").map((t) => `${t.tool}, ${t.why ?? ""}`).join("; ")})`),
    rewrites: variants.rewrites.length + variants.brokenRewrites.length,
    falseChanges,
    baselineDetected,
    ms,
    byKind,
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? 0 : sorted[Math.floor(sorted.length / 2)]!;
}

const percent = (n: number, of: number): number => (of === 0 ? 100 : Math.round((1000 * n) / of) / 10);

export async function run({ json }: { json: boolean }): Promise<void> {
  const started = performance.now();
  const rows: PolicyRow[] = [];
  for (const file of await shippedPolicies()) rows.push(await measurePolicy(file));
  const totalMs = performance.now() - started;
  const sum = (f: (r: PolicyRow) => number): number => rows.reduce((n, r) => n + f(r), 0);
  const judged = sum((r) => r.mutants - r.equivalent);
  const byKind: Record<string, { detected: number; of: number }> = {};
  for (const row of rows) {
    for (const [kind, { detected, of }] of Object.entries(row.byKind)) {
      const k = (byKind[kind] ??= { detected: 0, of: 0 });
      k.detected += detected;
      k.of += of;
    }
  }
  const all = rows.flatMap((r) => r.ms);
  const result = {
    policies: rows.map((r) => r.policy),
    runs: DEFAULT_RUNS,
    seed: SEED,
    mutants: sum((r) => r.mutants),
    unchecked_mutants: sum((r) => r.unchecked),
    proved_equivalent: sum((r) => r.equivalent),
    detected: sum((r) => r.detected),
    detection_rate_percent: percent(sum((r) => r.detected), judged),
    baseline_detection_rate_percent: percent(sum((r) => r.baselineDetected), judged),
    rewrites: sum((r) => r.rewrites),
    false_changes: sum((r) => r.falseChanges.length),
    false_change_rate_percent: percent(sum((r) => r.falseChanges.length), sum((r) => r.rewrites)),
    median_ms_per_pair: Math.round(median(all)),
    max_ms_per_pair: Math.round(Math.max(...all)),
    total_s: Math.round(totalMs / 100) / 10,
    by_kind: byKind,
    missed: rows.flatMap((r) => r.missed),
    false_change_list: rows.flatMap((r) => r.falseChanges),
    node: process.version,
    cpu: cpus()[0]?.model ?? "unknown",
  };
  if (json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const lines = [
    `diff: every mutant and rewrite of the shipped policies, ${DEFAULT_RUNS} requests a pair, seed ${SEED} (${result.node}, ${result.cpu})`,
    `  ${"policy".padEnd(20)}${"mutants".padStart(8)}${"proved eq.".padStart(11)}${"detected".padStart(10)}${"random".padStart(8)}${"rewrites".padStart(10)}${"false".padStart(7)}${"median".padStart(10)}`,
    ...rows.map(
      (r) =>
        `  ${r.policy.padEnd(20)}${String(r.mutants).padStart(8)}${String(r.equivalent).padStart(11)}${`${r.detected}/${r.mutants - r.equivalent}`.padStart(10)}${String(r.baselineDetected).padStart(8)}${String(r.rewrites).padStart(10)}${String(r.falseChanges.length).padStart(7)}${`${Math.round(median(r.ms))} ms`.padStart(10)}`,
    ),
    `  detection ${result.detection_rate_percent} % (${result.detected} of ${judged} mutants not proved equivalent; target 95 %); plain random search with the same budget: ${result.baseline_detection_rate_percent} %`,
    `  false changes on rewrites: ${result.false_changes} of ${result.rewrites} (target 0)`,
    `  time per pair: median ${result.median_ms_per_pair} ms, slowest ${result.max_ms_per_pair} ms; whole run ${result.total_s} s (checking the mutants included)`,
    `  by kind: ${Object.entries(byKind).map(([k, v]) => `${k} ${v.detected}/${v.of}`).join(", ")}`,
    ...result.missed.map((m) => `  missed: ${m}`),
    ...result.false_change_list.map((f) => `  false change: ${f}`),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}
