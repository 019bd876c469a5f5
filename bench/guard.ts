// Guard decision benchmark: on one generated 100-rule policy over 20 tools, the median time per decision of the
// compiled guard, the reference interpreter, a hand-written closure of the same logic and cedar-wasm on the equivalent
// Cedar policy; plus the time `pqguard compile` needs (check + code generation) for a 1,000-rule policy. With
// `--baseline=DIR` (another checkout of pqguard, such as a worktree of the previous commit), the compiled guard, the
// interpreter and the compile time of that checkout's compiler are compared with this one's, in the same run.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import * as cedar from "@cedar-policy/cedar-wasm/nodejs";
import { generateGuardModule } from "../compiler/codegen.js";
import { interpret } from "../compiler/interpreter.js";
import type { CheckedPolicy } from "../compiler/ir.js";
import { checkPolicySource } from "../compiler/load.js";
import { historyOf } from "../compiler/request.js";
import type { Decision, GuardContext, GuardModule, GuardRequest } from "../runtime/guard/types.js";
import { measureResultRules, measureReturnPath } from "./result-rules.js";

const TOOLS = 20;
/** Rules per tool in the decision benchmark (5 × 20 = 100) and in the compile benchmark (50 × 20 = 1,000). */
const RULES_PER_TOOL = 5;
const COMPILE_RULES_PER_TOOL = 50;
/** Timed rounds; the median batch is reported, so a stray GC pause or a busy core does not count. */
const ROUNDS = 301;

const toolName = (k: number): string => `tool_${String(k).padStart(2, "0")}`;

// ---------------------------------------------------------------------------------------------------------
// The policy, in pqguard and in Cedar

function manifest(): unknown {
  return {
    tools: Array.from({ length: TOOLS }, (_, k) => ({
      name: toolName(k),
      description: `Benchmark tool ${k}.`,
      inputSchema: {
        type: "object",
        properties: { amount: { type: "integer" }, region: { type: "string" } },
        required: ["amount", "region"],
      },
    })),
  };
}

/** The admin limit of tool k, so that the rules of different tools are not identical. */
const adminLimit = (k: number, i = 0): number => 10_000 + 500 * k + i;

function policySource(rulesPerTool: number): string {
  const lines = [
    "policy bench version 1",
    'manifest "bench.tools.json"',
    "identity {\n  require client.authenticated\n}",
    'transport {\n  require transport.kem >= "ML-KEM-768"\n}',
  ];
  for (let k = 0; k < TOOLS; k++) {
    const t = toolName(k);
    lines.push(
      `permit tool ${t}\n  when client.role == "agent" and args.amount <= 1000`,
      `ask tool ${t}\n  when args.amount > 1000 and args.amount <= 5000\n  because "needs approval"`,
      `forbid tool ${t}\n  when args.amount > 5000\n  because "too large"`,
      `forbid tool ${t}\n  when args.region in ["xx", "yy"]\n  because "embargoed region"`,
    );
    for (let i = 4; i < rulesPerTool; i++) lines.push(`permit tool ${t}\n  when client.role == "admin" and args.amount <= ${adminLimit(k, i - 4)}`);
  }
  return `${lines.join("\n\n")}\n`;
}

function check(source: string, checkSource = checkPolicySource): CheckedPolicy {
  const outcome = checkSource(source, { fileName: "bench.policy", manifests: { "bench.tools.json": manifest() } });
  if (outcome.policy === undefined) throw new Error(`benchmark policy did not check: ${outcome.diagnostics.map((d) => d.message).join("; ")}`);
  return outcome.policy;
}

/** The same 100 rules in Cedar; `ask` rules are permits whose ids start with `ask-`. */
function cedarPolicies(): Record<string, string> {
  const policies: Record<string, string> = {
    "require-auth": "forbid(principal, action, resource) unless { context.authenticated };",
    "require-kem": "forbid(principal, action, resource) unless { context.kemLevel >= 3 };",
  };
  for (let k = 0; k < TOOLS; k++) {
    const scope = `principal, action == Action::"${toolName(k)}", resource`;
    policies[`permit-agent-${k}`] = `permit(${scope}) when { context.role == "agent" && context.args.amount <= 1000 };`;
    policies[`ask-${k}`] = `permit(${scope}) when { context.args.amount > 1000 && context.args.amount <= 5000 };`;
    policies[`forbid-large-${k}`] = `forbid(${scope}) when { context.args.amount > 5000 };`;
    policies[`forbid-region-${k}`] = `forbid(${scope}) when { ["xx", "yy"].contains(context.args.region) };`;
    policies[`permit-admin-${k}`] = `permit(${scope}) when { context.role == "admin" && context.args.amount <= ${adminLimit(k)} };`;
  }
  return policies;
}

// ---------------------------------------------------------------------------------------------------------
// The hand-written closure: what a careful engineer would write for this policy without a policy language

const TOOL_INDEX = new Map(Array.from({ length: TOOLS }, (_, k) => [toolName(k), k]));
const EMBARGOED = new Set(["xx", "yy"]);

function handWritten(request: GuardRequest, context: GuardContext): Decision {
  if (context.client.authenticated !== true) return { decision: "deny", determining: ["bench.policy:3"], reason: "unauthenticated", explain: [] };
  const kem = context.transport.kem;
  if (kem !== "X25519MLKEM768" && kem !== "ML-KEM-768" && kem !== "ML-KEM-1024") {
    return { decision: "deny", determining: ["bench.policy:7"], reason: "weak key exchange", explain: [] };
  }
  const k = TOOL_INDEX.get(request.tool);
  if (k === undefined) return { decision: "deny", determining: [], reason: `no rule permits \`${request.tool}\``, explain: [] };
  const { amount, region } = request.args;
  // Fail closed like the policy: a forbid whose condition cannot be evaluated applies.
  const large = typeof amount !== "number" || amount > 5000;
  const embargoed = typeof region !== "string" || EMBARGOED.has(region);
  if (large || embargoed) {
    const determining = [...(large ? [`large-${k}`] : []), ...(embargoed ? [`region-${k}`] : [])];
    return { decision: "deny", determining, reason: large ? "too large" : "embargoed region", explain: [] };
  }
  const n = amount as number;
  if (n > 1000) return { decision: "ask", determining: [`ask-${k}`], reason: "needs approval", explain: [] };
  const role = context.client.role;
  const determining = [...(role === "agent" ? [`agent-${k}`] : []), ...(role === "admin" && n <= adminLimit(k) ? [`admin-${k}`] : [])];
  if (determining.length > 0) return { decision: "allow", determining, reason: "permitted", explain: [] };
  return { decision: "deny", determining: [], reason: `no rule permits \`${request.tool}\``, explain: [] };
}

// ---------------------------------------------------------------------------------------------------------
// Workload

interface Call {
  readonly request: GuardRequest;
  readonly context: GuardContext;
  readonly cedar: cedar.StatefulAuthorizationCall;
}

const NOW = Date.parse("2026-11-23T10:15:00Z");
const NO_HISTORY = historyOf([], { client: "agent-7", session: "s-1", now: NOW });

function workload(): Call[] {
  const amounts = [50, 800, 1000, 2500, 4999, 6000, 20_000];
  const regions = ["eu", "us", "xx", "apac"];
  const roles = ["agent", "admin", "viewer"];
  const calls: Call[] = [];
  for (let i = 0; i < 256; i++) {
    const tool = toolName((i * 7) % TOOLS);
    const args = { amount: amounts[i % amounts.length]!, region: regions[(i >> 1) % regions.length]! };
    const role = roles[(i >> 2) % roles.length]!;
    const kem = i % 31 === 0 ? "X25519" : "X25519MLKEM768";
    const context: GuardContext = {
      client: { id: "agent-7", role, authenticated: i % 53 !== 0 },
      peer: {},
      transport: { kem, signature: "ML-DSA-65", aead: "AES-256-GCM", hybrid: kem !== "X25519", level: kem === "X25519" ? 0 : 3 },
      session: { id: "s-1", ageMs: 300_000, calls: 0 },
      now: NOW,
      history: NO_HISTORY,
    };
    calls.push({
      request: { tool, args },
      context,
      cedar: {
        principal: { type: "Agent", id: "agent-7" },
        action: { type: "Action", id: tool },
        resource: { type: "Server", id: "payments" },
        context: { authenticated: context.client.authenticated, kemLevel: context.transport.level, role, args },
        preparsedPolicySetId: "bench",
        entities: [],
      },
    });
  }
  return calls;
}

function cedarDecide(call: cedar.StatefulAuthorizationCall): string {
  const answer = cedar.statefulIsAuthorized(call);
  if (answer.type !== "success") throw new Error(`cedar failed: ${answer.errors.map((e) => e.message).join("; ")}`);
  const { decision, diagnostics } = answer.response;
  if (decision === "deny") return "deny";
  return diagnostics.reason.some((id) => id.startsWith("ask-")) ? "ask" : "allow";
}

// ---------------------------------------------------------------------------------------------------------
// Measurement

interface Contender {
  readonly name: string;
  readonly decide: (call: Call) => unknown;
}

/** Time per batch: short enough that a batch is rarely preempted on a busy machine, long enough to dwarf the timer. */
const BATCH_NS = 300_000;

/**
 * Median nanoseconds per call of each contender. Batches of the contenders are interleaved round by round, so a
 * change in machine load between measurements shifts all of them alike and the ratios stay fair.
 */
function measure(calls: readonly Call[], contenders: readonly Contender[]): number[] {
  let sink = 0;
  const run = (c: Contender, n: number, offset: number): void => {
    for (let i = 0; i < n; i++) if (c.decide(calls[(offset + i) % calls.length]!) !== undefined) sink++;
  };
  const sizes = contenders.map((c) => {
    run(c, 50, 0);
    const start = process.hrtime.bigint();
    run(c, 200, 0);
    const estimate = Number(process.hrtime.bigint() - start) / 200;
    const size = Math.max(1, Math.min(100_000, Math.round(BATCH_NS / estimate)));
    run(c, size * 20, 0); // warm-up: let the JIT optimise before timing
    return size;
  });
  const samples: number[][] = contenders.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    contenders.forEach((c, i) => {
      const start = process.hrtime.bigint();
      run(c, sizes[i]!, round * sizes[i]!);
      samples[i]!.push(Number(process.hrtime.bigint() - start) / sizes[i]!);
    });
  }
  if (sink === 0) throw new Error("no decisions were made");
  return samples.map((s) => s.sort((a, b) => a - b)[Math.floor(s.length / 2)]!);
}

/** CPU time per batch when comparing with a baseline: long enough for `process.cpuUsage`'s microseconds. */
const PAIRED_BATCH_US = 20_000;
const PAIRED_ROUNDS = 30;

/** CPU microseconds this process has used; unlike wall time, it does not count the time other processes had the core. */
function cpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/**
 * How long `current` takes per decision relative to `baseline` (below 1: faster): the median over rounds of the ratio
 * of one batch of each, timed in CPU time, the two taking turns to go first. On a loaded machine wall-clock batches
 * of two contenders differ by more than any change to measure; their CPU time does not.
 */
function pairedRatio(calls: readonly Call[], current: GuardModule, baseline: GuardModule): number {
  const run = (g: GuardModule, n: number): void => {
    for (let i = 0; i < n; i++) {
      const c = calls[i % calls.length]!;
      g.guard(c.request, c.context);
    }
  };
  run(current, 1000);
  run(baseline, 1000);
  let start = cpuMicros();
  run(current, 1000);
  const size = Math.max(100, Math.round((PAIRED_BATCH_US * 1000) / Math.max(1, cpuMicros() - start)));
  const ratios: number[] = [];
  for (let round = 0; round < PAIRED_ROUNDS; round++) {
    const order = round % 2 === 0 ? [current, baseline] : [baseline, current];
    const times = order.map((g) => {
      start = cpuMicros();
      run(g, size);
      return Math.max(1, cpuMicros() - start);
    });
    ratios.push(round % 2 === 0 ? times[0]! / times[1]! : times[1]! / times[0]!);
  }
  return ratios.sort((a, b) => a - b)[ratios.length >> 1]!;
}

/** The parts of a compiler the benchmark uses: this checkout's, or a baseline's. */
interface Compiler {
  readonly check: typeof checkPolicySource;
  readonly generate: typeof generateGuardModule;
  readonly interpret: typeof interpret;
  /** The URL of that checkout's runtime/guard/index.ts, which its generated guards import. */
  readonly runtime: string;
}

const CURRENT: Compiler = {
  check: checkPolicySource,
  generate: generateGuardModule,
  interpret,
  runtime: new URL("../runtime/guard/index.ts", import.meta.url).href,
};

/** The compiler of another checkout, given as `--baseline=DIR`, or undefined without one. */
async function baselineCompiler(): Promise<Compiler | undefined> {
  const dir = process.argv.find((a) => a.startsWith("--baseline="))?.slice("--baseline=".length);
  if (dir === undefined) return undefined;
  const at = (path: string): string => pathToFileURL(join(dir, path)).href;
  const load = (await import(at("compiler/load.ts"))) as { checkPolicySource: typeof checkPolicySource };
  const codegen = (await import(at("compiler/codegen.ts"))) as { generateGuardModule: typeof generateGuardModule };
  const interpreter = (await import(at("compiler/interpreter.ts"))) as { interpret: typeof interpret };
  return { check: load.checkPolicySource, generate: codegen.generateGuardModule, interpret: interpreter.interpret, runtime: at("runtime/guard/index.ts") };
}

async function compiledModule(policy: CheckedPolicy, compiler: Compiler = CURRENT): Promise<GuardModule> {
  const dir = await mkdtemp(join(tmpdir(), "pqguard-bench-"));
  try {
    const file = join(dir, "bench.guard.mts");
    await writeFile(file, await compiler.generate(policy, { runtimeImport: compiler.runtime }));
    return ((await import(pathToFileURL(file).href)) as { default: GuardModule }).default;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Check + code generation of `source` by each compiler: the first run, then the median of three warm runs, the
 * compilers taking turns so that both meet the same machine load.
 */
async function compileMs(source: string, compilers: readonly Compiler[]): Promise<{ cold: number; median: number }[]> {
  const once = async (compiler: Compiler): Promise<number> => {
    const start = process.hrtime.bigint();
    await compiler.generate(check(source, compiler.check), { runtimeImport: "pqguard/guard" });
    return Number(process.hrtime.bigint() - start) / 1e6;
  };
  const cold: number[] = [];
  for (const compiler of compilers) cold.push(await once(compiler));
  const warm: number[][] = compilers.map(() => []);
  for (let round = 0; round < 3; round++) for (const [i, compiler] of compilers.entries()) warm[i]!.push(await once(compiler));
  return compilers.map((_, i) => ({ cold: cold[i]!, median: warm[i]!.sort((a, b) => a - b)[1]! }));
}

export async function run({ json }: { json: boolean }): Promise<void> {
  const policy = check(policySource(RULES_PER_TOOL));
  const compiled = await compiledModule(policy);
  const interpreter = interpret(policy);
  const calls = workload();
  const baseline = await baselineCompiler();
  const basePolicy = baseline === undefined ? undefined : check(policySource(RULES_PER_TOOL), baseline.check);
  const baseCompiled = basePolicy === undefined ? undefined : await compiledModule(basePolicy, baseline);
  const baseInterpreter = basePolicy === undefined ? undefined : baseline!.interpret(basePolicy);

  // The four must agree on the decision before their speed means anything.
  const preparsed = cedar.preparsePolicySet("bench", { staticPolicies: cedarPolicies() });
  if (preparsed.type !== "success") throw new Error(`cedar policies did not parse: ${preparsed.errors.map((e) => e.message).join("; ")}`);
  for (const call of calls) {
    const expected = interpreter.guard(call.request, call.context).decision;
    const got = [compiled.guard(call.request, call.context).decision, handWritten(call.request, call.context).decision, cedarDecide(call.cedar)];
    if (baseCompiled !== undefined && baseInterpreter !== undefined) {
      got.push(baseCompiled.guard(call.request, call.context).decision, baseInterpreter.guard(call.request, call.context).decision);
    }
    if (got.some((d) => d !== expected)) throw new Error(`back ends disagree on ${JSON.stringify(call.request)}: ${expected} vs ${got.join(", ")}`);
  }

  // Two groups: the sub-microsecond guards would otherwise be timed amid the garbage the slow ones leave behind.
  const [compiledNs, closureNs] = measure(calls, [
    { name: "compiled", decide: (c) => compiled.guard(c.request, c.context) },
    { name: "closure", decide: (c) => handWritten(c.request, c.context) },
  ]) as [number, number];
  const [interpretedNs, cedarNs] = measure(calls, [
    { name: "interpreted", decide: (c) => interpreter.guard(c.request, c.context) },
    { name: "cedar", decide: (c) => cedarDecide(c.cedar) },
  ]) as [number, number];
  const [compiledVsBaseline, interpretedVsBaseline] =
    baseCompiled === undefined || baseInterpreter === undefined
      ? [undefined, undefined]
      : [pairedRatio(calls, compiled, baseCompiled), pairedRatio(calls, interpreter, baseInterpreter)];
  const [compile, baseCompile] = (await compileMs(policySource(COMPILE_RULES_PER_TOOL), baseline === undefined ? [CURRENT] : [CURRENT, baseline])) as [
    { cold: number; median: number },
    { cold: number; median: number } | undefined,
  ];

  const results = await measureResultRules((p) => compiledModule(p));
  const returning = await measureReturnPath((p) => compiledModule(p));

  const result = {
    rules: TOOLS * RULES_PER_TOOL,
    tools: TOOLS,
    compiled_ns: Math.round(compiledNs),
    interpreted_ns: Math.round(interpretedNs),
    closure_ns: Math.round(closureNs),
    cedar_ns: Math.round(cedarNs),
    compiled_vs_closure: +(compiledNs / closureNs).toFixed(2),
    cedar_vs_compiled: +(cedarNs / compiledNs).toFixed(1),
    interpreted_vs_compiled: +(interpretedNs / compiledNs).toFixed(1),
    ...(compiledVsBaseline === undefined || interpretedVsBaseline === undefined
      ? {}
      : {
          compiled_vs_baseline: +compiledVsBaseline.toFixed(3),
          interpreted_vs_baseline: +interpretedVsBaseline.toFixed(3),
          baseline_compile_1000_rules_ms: Math.round(baseCompile!.median),
        }),
    compile_1000_rules_ms: Math.round(compile.median),
    compile_1000_rules_cold_ms: Math.round(compile.cold),
    ...results,
    ...returning,
    node: process.version,
    cpu: cpus()[0]?.model ?? "unknown",
  };
  if (json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const row = (name: string, ns: number, note: string): string => `  ${name.padEnd(26)}${`${(ns / 1000).toFixed(3)} µs`.padStart(12)}   ${note}\n`;
  process.stdout.write(
    [
      `guard: ${result.rules} rules over ${result.tools} tools, median per decision (${result.node}, ${result.cpu})\n`,
      row("compiled guard", compiledNs, `${result.compiled_vs_closure}× the hand-written closure`),
      row("reference interpreter", interpretedNs, `${result.interpreted_vs_compiled}× the compiled guard`),
      row("hand-written closure", closureNs, "baseline"),
      row("cedar-wasm (preparsed)", cedarNs, `${result.cedar_vs_compiled}× the compiled guard`),
      `  ten result rules on a 10 KiB text result: +${results.result_rules_us.toFixed(3)} µs (call decision ${results.call_decision_us.toFixed(3)} µs, with inspection ${results.with_result_us.toFixed(3)} µs)\n`,
      `  return path with the ten rules (DecisionPoint, memory store): ${returning.return_path_us.toFixed(3)} µs per 10 KiB result; notification bookkeeping +${returning.return_bookkeeping_us.toFixed(3)} µs; a progress message ${returning.progress_us.toFixed(3)} µs\n`,
      `  pqguard compile, 1,000 rules: ${result.compile_1000_rules_ms} ms (check + codegen; first run ${result.compile_1000_rules_cold_ms} ms)\n`,
      ...(compiledVsBaseline === undefined || interpretedVsBaseline === undefined
        ? []
        : [
            `  against the baseline (CPU time, paired batches): compiled guard ${compiledVsBaseline.toFixed(3)}×, interpreter ${interpretedVsBaseline.toFixed(3)}×\n`,
            `  pqguard compile, 1,000 rules, baseline: ${Math.round(baseCompile!.median)} ms (first run ${Math.round(baseCompile!.cold)} ms)\n`,
          ]),
    ].join(""),
  );
}
