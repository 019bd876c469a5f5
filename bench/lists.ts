// Quantifier, path, URL and aggregate benchmark: the median time per decision of the compiled guard and of the
// reference interpreter on a policy with `all`/`any` over lists, `under`, `url()`, `host() within`, `ip() in` and
// `sum()`/`max()` over the call history, over a workload of 512 varied calls visited in turn (no call repeats within a
// batch, so no cache a real workload would miss helps). Decisions without path or URL parsing are timed at 1, 5 and 10
// list elements, and the per-element cost of each kind of quantified condition is the slope between 1 and 10 elements.
// The compiled guard is also built as guards were before they kept one decision's URL readings (each `url()`, `host()`
// and `ip()` parsing again), so that the cost of a URL element before and after is measured in the same run.
// Aggregates are read from a MemoryStateStore snapshot holding 1, 10 and 100 earlier refunds of the client, against
// the same rules written with `calls()` on the same store as the baseline. Where Cedar can express a rule (a set of
// tags each in an allowed set: `containsAll`), cedar-wasm decides the same calls on the equivalent policy beside the
// compiled guard; Cedar has no quantifier over a list of records, no path, URL or host functions and no history.
import * as cedar from "@cedar-policy/cedar-wasm/nodejs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import { generateGuardModule } from "../compiler/codegen.js";
import { interpret } from "../compiler/interpreter.js";
import type { CheckedPolicy } from "../compiler/ir.js";
import { checkPolicySource } from "../compiler/load.js";
import { historyOf } from "../compiler/request.js";
import type { GuardContext, GuardModule, GuardRequest } from "../runtime/guard/types.js";
import { MemoryStateStore } from "../runtime/state/memory.js";
import { medianNsPerInput } from "./measure.js";

/** Timed rounds; the median batch is reported. */
const ROUNDS = 101;
const CALLS = 512;
const LENGTHS = [1, 5, 10] as const;

const string = { type: "string" };
const MANIFEST = {
  tools: [
    {
      name: "tag_items",
      inputSchema: {
        type: "object",
        properties: {
          tags: { type: "array", items: string },
          items: { type: "array", items: { type: "object", properties: { sku: string, qty: { type: "integer" } }, required: ["sku", "qty"] } },
        },
        required: ["tags", "items"],
      },
    },
    { name: "read_many", inputSchema: { type: "object", properties: { paths: { type: "array", items: string } }, required: ["paths"] } },
    { name: "fetch_many", inputSchema: { type: "object", properties: { urls: { type: "array", items: string } }, required: ["urls"] } },
    { name: "process_refund", inputSchema: { type: "object", properties: { customer_id: string, amount: { type: "number" } }, required: ["customer_id", "amount"] } },
  ],
};

/** The refund rules: aggregates over the client's refunds, or (the baseline) counts of them in the same windows. */
const refundRules = (aggregates: boolean): string => `
permit tool process_refund
  when args.amount <= 1000

forbid tool process_refund
  when ${aggregates ? "sum(process_refund.amount, 24h, client) + args.amount" : "calls(process_refund, 24h, client) * 100 + args.amount"} > 5000
  because "at most 5000 refunded per client per day"

ask tool process_refund
  when calls(process_refund, 30d, client) > 0 and args.amount > 3 * ${aggregates ? "max(process_refund.amount, 30d, client)" : "calls(process_refund, 30d, client)"}
  because "more than three times the largest refund"
`;

const POLICY = `policy lists version 1
manifest "lists.tools.json"

identity {
  require client.authenticated
}

permit tool tag_items
  when len(args.tags) <= 10 and all t in args.tags: t in ["alpha", "beta", "gamma", "delta", "eps"]
    and all i in args.items: i.qty <= 100 and not (i.sku startsWith "x-")

forbid tool tag_items
  when any i in args.items: i.qty > 90 and i.sku == "restricted"
  because "restricted items"

permit tool read_many
  when all p in args.paths: p under "/srv/docs"

permit tool fetch_many
  when all u in args.urls: url(u).scheme == "https" and host(u) within "example.org"

forbid tool fetch_many
  when any u in args.urls: ip(host(u)) in internal
  because "no internal addresses"
${refundRules(true)}`;

/** The same policy with the refund rules reading counts instead of aggregates: the baseline of the aggregate rows. */
const BASELINE = POLICY.replace(refundRules(true), refundRules(false));

function check(source = POLICY): CheckedPolicy {
  const outcome = checkPolicySource(source, { fileName: "lists.policy", manifests: { "lists.tools.json": MANIFEST } });
  if (outcome.policy === undefined) throw new Error(`benchmark policy did not check: ${outcome.diagnostics.map((d) => d.message).join("; ")}`);
  return outcome.policy;
}

async function compiledModule(policy: CheckedPolicy, urlReadingsPerDecision: boolean): Promise<GuardModule> {
  const dir = await mkdtemp(join(tmpdir(), "pqguard-bench-lists-"));
  try {
    const file = join(dir, "lists.guard.mts");
    await writeFile(file, await generateGuardModule(policy, { runtimeImport: new URL("../runtime/guard/index.ts", import.meta.url).href, urlReadingsPerDecision }));
    return ((await import(pathToFileURL(file).href)) as { default: GuardModule }).default;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const NOW = Date.parse("2026-11-23T10:15:00Z");
const CONTEXT: GuardContext = {
  client: { id: "agent-7", role: "agent", authenticated: true },
  peer: {},
  transport: { kem: "X25519MLKEM768", signature: "ML-DSA-65", aead: "AES-256-GCM", hybrid: true, level: 3 },
  session: { id: "s-1", ageMs: 300_000, calls: 0 },
  now: NOW,
  history: historyOf([], { client: "agent-7", session: "s-1", now: NOW }),
};

type Kind = "tags" | "paths" | "urls";

/** 512 varied calls of one kind, each list `length` long; most pass every element, some fail late, a few early. */
function workload(kind: Kind, length: number): GuardRequest[] {
  const tags = ["alpha", "beta", "gamma", "delta", "eps"];
  const calls: GuardRequest[] = [];
  for (let n = 0; n < CALLS; n++) {
    const bad = n % 7 === 0 ? (n * 13) % length : -1;
    const list = Array.from({ length }, (_, i) => ({ i, bad: i === bad }));
    if (kind === "tags") {
      calls.push({
        tool: "tag_items",
        args: {
          tags: list.map(({ i, bad: b }) => (b ? `other${n}` : tags[(n + i) % tags.length]!)),
          items: list.map(({ i, bad: b }) => ({ sku: b ? `x-${n}` : `sku-${n}-${i}`, qty: (n * 31 + i * 7) % 100 })),
        },
      });
    } else if (kind === "paths") {
      calls.push({ tool: "read_many", args: { paths: list.map(({ i, bad: b }) => (b ? `/srv/docs-evil/${n}/${i}` : `/srv/docs/team${n % 17}/file-${n}-${i}.md`)) } });
    } else {
      calls.push({ tool: "fetch_many", args: { urls: list.map(({ i, bad: b }) => (b ? `http://10.${n % 250}.0.${i}/` : `https://api${n % 13}.example.org/v1/items/${n}-${i}?q=${i}`)) } });
    }
  }
  return calls;
}

/** Median nanoseconds per decision of each guard on `calls`. */
function measure(calls: readonly GuardRequest[], guards: readonly GuardModule[], context: GuardContext = CONTEXT): number[] {
  return medianNsPerInput(calls, guards.map((g, i) => ({ name: String(i), run: (call: GuardRequest) => g.guard(call, context) })), ROUNDS);
}

/** The rule Cedar can express, in both languages: every tag in the allowed set. */
const ALLOWED_TAGS = ["alpha", "beta", "gamma", "delta", "eps"];
const TAGS_POLICY = `policy tags version 1
manifest "lists.tools.json"

permit tool tag_items
  when all t in args.tags: t in ${JSON.stringify(ALLOWED_TAGS).replaceAll(",", ", ")}
`;
const CEDAR_TAGS = `permit(principal, action == Action::"tag_items", resource) when { ${JSON.stringify(ALLOWED_TAGS)}.containsAll(context.tags) };`;

interface TagsCall {
  readonly request: GuardRequest;
  readonly cedar: cedar.StatefulAuthorizationCall;
}

function cedarDecision(call: cedar.StatefulAuthorizationCall): string {
  const answer = cedar.statefulIsAuthorized(call);
  if (answer.type !== "success") throw new Error(`cedar failed: ${answer.errors.map((e) => e.message).join("; ")}`);
  return answer.response.decision;
}

/** Median ns per decision of the compiled guard and of cedar-wasm (preparsed) on the tags rule, by list length. */
async function againstCedar(): Promise<{ length: number; compiledNs: number; cedarNs: number }[]> {
  const guard = await compiledModule(check(TAGS_POLICY), true);
  const preparsed = cedar.preparsePolicySet("lists-tags", { staticPolicies: { tags: CEDAR_TAGS } });
  if (preparsed.type !== "success") throw new Error(`cedar policy did not parse: ${preparsed.errors.map((e) => e.message).join("; ")}`);
  const rows: { length: number; compiledNs: number; cedarNs: number }[] = [];
  // Every list length is decided once before any is timed, so that no row is timed while the guard's code is still
  // being re-optimised for list lengths it has not met yet.
  for (const length of LENGTHS) for (const request of workload("tags", length)) guard.guard(request, CONTEXT);
  for (const length of LENGTHS) {
    const calls: TagsCall[] = workload("tags", length).map((request) => ({
      request,
      cedar: {
        principal: { type: "Agent", id: "agent-7" },
        action: { type: "Action", id: "tag_items" },
        resource: { type: "Server", id: "lists" },
        context: { tags: request.args.tags as string[] },
        preparsedPolicySetId: "lists-tags",
        entities: [],
      },
    }));
    for (const call of calls) {
      const ours = guard.guard(call.request, CONTEXT).decision;
      if (ours !== cedarDecision(call.cedar)) throw new Error(`pqguard and Cedar disagree on ${JSON.stringify(call.request)}`);
    }
    const [compiledNs, cedarNs] = medianNsPerInput(
      calls,
      [
        { name: "compiled", run: (c: TagsCall) => guard.guard(c.request, CONTEXT) },
        { name: "cedar", run: (c: TagsCall) => cedarDecision(c.cedar) },
      ],
      ROUNDS,
    );
    rows.push({ length, compiledNs: compiledNs!, cedarNs: cedarNs! });
  }
  return rows;
}

const HISTORIES = [1, 10, 100] as const;
const DAY = 86_400_000;

/** A context whose history is a MemoryStateStore snapshot holding `n` earlier refunds of the client within a day. */
function refundContext(n: number): GuardContext {
  const store = new MemoryStateStore({ retentionMs: 30 * DAY });
  for (let i = 0; i < n; i++) {
    store.sync.record({ tool: "process_refund", at: NOW - DAY + 1 + Math.floor((i * (DAY - 2)) / n), sessionId: `s-${i % 3}`, clientId: "agent-7", values: { "/amount": 10 + ((i * 37) % 90) } });
  }
  const { history } = store.sync.snapshot({ sessionId: "s-1", clientId: "agent-7" }, NOW);
  return { ...CONTEXT, history };
}

/** 512 refunds of varied amounts: most within the automated band, some asking, a few over the daily sum. */
function refundWorkload(): GuardRequest[] {
  return Array.from({ length: CALLS }, (_, n) => ({ tool: "process_refund", args: { customer_id: `c-${n}`, amount: n % 11 === 0 ? 4990 + (n % 17) : n % 5 === 0 ? 150 + n : 5 + (n % 97) } }));
}

export async function run({ json }: { json: boolean }): Promise<void> {
  const policy = check();
  const compiled = await compiledModule(policy, true);
  const perUse = await compiledModule(policy, false);
  const interpreter = interpret(policy);
  const rows: { kind: Kind; length: number; compiledNs: number; perUseNs: number; interpreterNs: number }[] = [];
  for (const kind of ["tags", "paths", "urls"] as const) {
    for (const length of LENGTHS) {
      const calls = workload(kind, length);
      // Both back ends must agree before their speed means anything.
      for (const call of calls) {
        const b = JSON.stringify(interpreter.guard(call, CONTEXT));
        if (JSON.stringify(compiled.guard(call, CONTEXT)) !== b || JSON.stringify(perUse.guard(call, CONTEXT)) !== b) throw new Error(`back ends disagree on ${JSON.stringify(call)}`);
      }
      const [compiledNs, perUseNs, interpreterNs] = measure(calls, [compiled, perUse, interpreter]);
      rows.push({ kind, length, compiledNs: compiledNs!, perUseNs: perUseNs!, interpreterNs: interpreterNs! });
    }
  }
  const baseline = check(BASELINE);
  const baselineCompiled = await compiledModule(baseline, true);
  const refunds = refundWorkload();
  const aggregateRows: { earlier: number; compiledNs: number; interpreterNs: number; baselineCompiledNs: number; baselineInterpreterNs: number }[] = [];
  for (const earlier of HISTORIES) {
    const context = refundContext(earlier);
    for (const call of refunds) {
      if (JSON.stringify(compiled.guard(call, context)) !== JSON.stringify(interpreter.guard(call, context))) throw new Error(`back ends disagree on ${JSON.stringify(call)}`);
    }
    const [compiledNs, interpreterNs, baselineCompiledNs, baselineInterpreterNs] = measure(refunds, [compiled, interpreter, baselineCompiled, interpret(baseline)], context);
    aggregateRows.push({ earlier, compiledNs: compiledNs!, interpreterNs: interpreterNs!, baselineCompiledNs: baselineCompiledNs!, baselineInterpreterNs: baselineInterpreterNs! });
  }
  const cedarRows = await againstCedar();
  const slope = (kind: Kind, key: "compiledNs" | "perUseNs" | "interpreterNs"): number => {
    const one = rows.find((r) => r.kind === kind && r.length === 1)![key];
    const ten = rows.find((r) => r.kind === kind && r.length === 10)![key];
    return (ten - one) / 9;
  };
  const perElement = Object.fromEntries(
    (["tags", "paths", "urls"] as const).map((k) => [k, { compiled: Math.round(slope(k, "compiledNs")), compiledParsingPerUse: Math.round(slope(k, "perUseNs")), interpreter: Math.round(slope(k, "interpreterNs")) }]),
  );
  const machine = `${process.version}, ${cpus()[0]?.model ?? "unknown CPU"}`;
  if (json) {
    const rounded = rows.map((r) => ({ ...r, compiledNs: Math.round(r.compiledNs), perUseNs: Math.round(r.perUseNs), interpreterNs: Math.round(r.interpreterNs) }));
    const aggregates = aggregateRows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Math.round(v)])));
    const cedarRounded = cedarRows.map((r) => ({ length: r.length, compiledNs: Math.round(r.compiledNs), cedarNs: Math.round(r.cedarNs), ratio: Math.round(r.cedarNs / r.compiledNs) }));
    process.stdout.write(`${JSON.stringify({ bench: "lists", machine, rows: rounded, perElementNs: perElement, aggregates, cedar: cedarRounded })}\n`);
    return;
  }
  process.stdout.write(`lists: median per decision, ${CALLS} varied calls per row (${machine})\n`);
  process.stdout.write("  kind   elements  compiled  compiled, parsing per use  interpreter\n");
  for (const r of rows) {
    const cells = [`${Math.round(r.compiledNs)} ns`.padStart(8), `${Math.round(r.perUseNs)} ns`.padStart(25), `${Math.round(r.interpreterNs)} ns`.padStart(11)];
    process.stdout.write(`  ${r.kind.padEnd(6)} ${String(r.length).padStart(8)}  ${cells.join("  ")}\n`);
  }
  for (const [k, v] of Object.entries(perElement)) {
    process.stdout.write(`  per element, ${k}: compiled ${v.compiled} ns (parsing per use: ${v.compiledParsingPerUse} ns), interpreter ${v.interpreter} ns\n`);
  }
  process.stdout.write("  refunds: sum() and max() over the client's earlier refunds, baseline the same rules with calls()\n");
  process.stdout.write("  earlier  compiled  baseline  interpreter  baseline\n");
  for (const r of aggregateRows) {
    const ns = (v: number): string => `${Math.round(v)} ns`;
    process.stdout.write(`  ${String(r.earlier).padStart(7)}  ${ns(r.compiledNs).padStart(8)}  ${ns(r.baselineCompiledNs).padStart(8)}  ${ns(r.interpreterNs).padStart(11)}  ${ns(r.baselineInterpreterNs).padStart(8)}\n`);
  }
  process.stdout.write("  tags rule against cedar-wasm (preparsed), the same calls\n  elements  compiled  cedar-wasm  ratio\n");
  for (const r of cedarRows) {
    process.stdout.write(`  ${String(r.length).padStart(8)}  ${`${Math.round(r.compiledNs)} ns`.padStart(8)}  ${`${Math.round(r.cedarNs)} ns`.padStart(10)}  ${Math.round(r.cedarNs / r.compiledNs)}x\n`);
  }
}
