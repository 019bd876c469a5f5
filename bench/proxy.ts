// Proxy benchmark: tools/call `echo` on server-everything directly, through `pqguard proxy` (plain over stdio, on the
// host path behind `pqguard connect`, plain and sealed over Streamable HTTP) and through mcp-proxy, with one client
// and with 8 concurrent ones, all in one run with rounds interleaved; latency, calls/s, the proxy's CPU time per call
// from /proc, and the start-up time to the first answered call, each against a baseline measured in the same run.
// With `--sessionless`, only a request of revision 2026-07-28 without a session against a 2025 session's (the same
// SDK v2 client, one proxy, one SDK v2 server).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { median } from "./echo.js";
import { totalCpuMicros } from "./proxy/children.js";
import { runClientCost } from "./proxy/client-cost.js";
import { runFocused } from "./proxy/focus.js";
import { runSessionless } from "./proxy/sessionless.js";
import { BenchSetting, directStdioParameters, ECHO, PQGUARD, startVariant, timeConnectFirstCall, timeFirstCall, type Connection, type RunningVariant, type VariantName } from "./proxy/variants.js";

const SCHEDULE = {
  clients: 8,
  /**
   * Warm-up before anything is measured. V8 optimises a proxy's call path over its first few thousand calls (its
   * CPU per call falls by 3–5× over the first 2,000–4,000 and is flat after), so the measured rounds see the steady
   * state; the first `firstCalls` of them are measured apart, as what a fresh process costs per call.
   */
  warmupOneClient: 4000,
  warmupPerClient: 500,
  firstCalls: 500,
  /** Rounds interleave the variants (alternating their order), so all see the same machine state. */
  rounds: 10,
  /** Per round and variant: sequential calls of one client, then this many calls by each of the concurrent clients. */
  oneClientCalls: 200,
  callsPerClient: 50,
  /** Start-up: timed launches of each kind, after one untimed launch of each. */
  readyRuns: 5,
} as const;

/** The targets: microseconds, ratios and milliseconds as the keys say. */
const TARGETS = {
  stdio_added_us: 150,
  cpu_us_per_call: 100,
  sealed_cpu_us_per_call: 150,
  http_sealed_p50_to_mcp_proxy: 0.5,
  http_sealed_calls_per_s_to_mcp_proxy: 1.5,
  ready_proxy_ms: 1000,
  ready_connect_ms: 1500,
} as const;

interface VariantInfo {
  readonly name: VariantName;
  readonly label: string;
  /** The variant whose latency this one's is compared with, paired per round. */
  readonly baseline?: VariantName;
  /** The bare relay on the same path, whose CPU per call is the floor of this variant's. */
  readonly floor?: VariantName;
}

const VARIANTS: readonly VariantInfo[] = [
  { name: "stdio_direct", label: "stdio: SDK client → server (baseline)" },
  { name: "stdio_floor", label: "stdio: → bare relay (floor) → server", baseline: "stdio_direct" },
  { name: "stdio_proxy", label: "stdio: → pqguard proxy, plain → server", baseline: "stdio_direct", floor: "stdio_floor" },
  { name: "host_path", label: "stdio: → pqguard connect → sealed HTTP → proxy → server", baseline: "stdio_direct", floor: "http_floor" },
  { name: "http_direct", label: "HTTP: SDK client → server (baseline)" },
  { name: "http_floor", label: "HTTP: → bare relay (floor) → stdio server", baseline: "http_direct" },
  { name: "http_mcp_proxy", label: "HTTP: → mcp-proxy → stdio server", baseline: "http_direct", floor: "http_floor" },
  { name: "http_proxy_plain", label: "HTTP: → pqguard proxy, plain → stdio server", baseline: "http_direct", floor: "http_floor" },
  { name: "http_proxy_sealed", label: "HTTP: → pqguard proxy, sealed → stdio server", baseline: "http_direct", floor: "http_floor" },
  // mcp-proxy serves every session from one upstream process; pqguard's default gives each client its own. This is
  // pqguard with mcp-proxy's arrangement (`--upstream-mode shared`): with 8 clients, one upstream process, not 8.
  { name: "http_proxy_sealed_shared", label: "HTTP: → pqguard proxy, sealed, one upstream → stdio server", baseline: "http_direct", floor: "http_floor" },
];

/** One timed batch of one variant. */
interface Batch {
  /** Round trip of each call, in microseconds. */
  readonly latencies: number[];
  readonly wallMs: number;
  readonly calls: number;
  /** CPU time the proxy processes, `pqguard connect` processes and (baselines) servers used during the batch. */
  readonly proxyCpuUs: number;
  readonly connectCpuUs: number;
  readonly serverCpuUs: number;
  /** CPU time of the benchmark's own process (the SDK clients) during the batch. */
  readonly clientCpuUs: number;
}

type Mode = "one" | "eight";

/** Calls echo `callsEach` times in sequence on each connection, all connections at once. */
async function runBatch(connections: readonly Connection[], callsEach: number): Promise<Batch> {
  const pidsOf = (key: "proxyPid" | "connectPid" | "serverPid"): number[] => [...new Set(connections.flatMap((c) => (c[key] === undefined ? [] : [c[key]])))];
  const proxyPids = pidsOf("proxyPid");
  const connectPids = pidsOf("connectPid");
  const serverPids = pidsOf("serverPid");
  const latencies: number[] = [];
  const proxyBefore = totalCpuMicros(proxyPids);
  const connectBefore = totalCpuMicros(connectPids);
  const serverBefore = totalCpuMicros(serverPids);
  const clientBefore = process.cpuUsage();
  const start = performance.now();
  await Promise.all(
    connections.map(async ({ client }) => {
      for (let i = 0; i < callsEach; i++) {
        const sent = performance.now();
        await client.callTool(ECHO);
        latencies.push((performance.now() - sent) * 1000);
      }
    }),
  );
  const wallMs = performance.now() - start;
  const client = process.cpuUsage(clientBefore);
  return {
    latencies,
    wallMs,
    calls: latencies.length,
    proxyCpuUs: totalCpuMicros(proxyPids) - proxyBefore,
    connectCpuUs: totalCpuMicros(connectPids) - connectBefore,
    serverCpuUs: totalCpuMicros(serverPids) - serverBefore,
    clientCpuUs: client.user + client.system,
  };
}

function batchOf(variant: RunningVariant, mode: Mode): Promise<Batch> {
  return mode === "one" ? runBatch(variant.connections.slice(0, 1), SCHEDULE.oneClientCalls) : runBatch(variant.connections, SCHEDULE.callsPerClient);
}

/** Nearest-rank percentile. */
function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function callsPerSecond(batch: Batch): number {
  return batch.calls / (batch.wallMs / 1000);
}

function summarise(rounds: readonly Batch[], name: VariantName) {
  const calls = rounds.reduce((sum, r) => sum + r.calls, 0);
  const all = rounds.flatMap((r) => r.latencies);
  const perCall = (key: "proxyCpuUs" | "connectCpuUs" | "serverCpuUs" | "clientCpuUs", applies: boolean): number | null =>
    applies ? round(rounds.reduce((sum, r) => sum + r[key], 0) / calls) : null;
  const direct = name === "stdio_direct" || name === "http_direct";
  return {
    calls,
    p50_us: round(median(all)),
    p99_us: round(percentile(all, 99)),
    calls_per_s: round(median(rounds.map(callsPerSecond))),
    proxy_cpu_us_per_call: perCall("proxyCpuUs", !direct),
    connect_cpu_us_per_call: perCall("connectCpuUs", name === "host_path"),
    // The baselines' server alone: what the SDK's stdio or HTTP server side costs without anything in front.
    server_cpu_us_per_call: perCall("serverCpuUs", direct),
    // The benchmark's SDK clients, all in this one process: with 8 clients, near the batch's wall time means they
    // are what bounds the calls/s.
    client_cpu_us_per_call: perCall("clientCpuUs", true),
    client_busy: round(rounds.reduce((sum, r) => sum + r.clientCpuUs / 1000, 0) / rounds.reduce((sum, r) => sum + r.wallMs, 0), 2),
  };
}

/** Median over rounds of the variant's round median latency divided by the baseline's. */
function pairedLatencyRatio(variant: readonly Batch[], baseline: readonly Batch[]): number {
  return round(median(variant.map((b, i) => median(b.latencies) / median(baseline[i]!.latencies))), 3);
}

/** Median over rounds of the variant's round median latency less the baseline's, in microseconds. */
function pairedLatencyDifference(variant: readonly Batch[], baseline: readonly Batch[]): number {
  return round(median(variant.map((b, i) => median(b.latencies) - median(baseline[i]!.latencies))));
}

/** Median over rounds of the variant's calls/s divided by the baseline's. */
function pairedThroughputRatio(variant: readonly Batch[], baseline: readonly Batch[]): number {
  return round(median(variant.map((b, i) => callsPerSecond(b) / callsPerSecond(baseline[i]!))), 3);
}

/** Per variant: the measured rounds with one client and with 8, and (`first`) the first calls of a fresh process. */
type Batches = Map<VariantName, Record<Mode | "first", Batch[]>>;

async function measureCalls(setting: BenchSetting): Promise<Batches> {
  const running: RunningVariant[] = [];
  try {
    for (const { name } of VARIANTS) running.push(await startVariant(setting, name, SCHEDULE.clients));
    const batches: Batches = new Map(running.map((v) => [v.name, { one: [], eight: [], first: [] }]));
    for (const variant of running) {
      batches.get(variant.name)!.first.push(await runBatch(variant.connections.slice(0, 1), SCHEDULE.firstCalls));
      await runBatch(variant.connections.slice(0, 1), SCHEDULE.warmupOneClient - SCHEDULE.firstCalls);
      await runBatch(variant.connections, SCHEDULE.warmupPerClient);
    }
    for (let round = 0; round < SCHEDULE.rounds; round++) {
      for (const variant of round % 2 === 0 ? running : [...running].reverse()) {
        const into = batches.get(variant.name)!;
        into.one.push(await batchOf(variant, "one"));
        into.eight.push(await batchOf(variant, "eight"));
      }
    }
    return batches;
  } finally {
    await closeAll(running.flatMap((v) => v.connections.map((c) => c.client)));
  }
}

/** Closes clients, each given a few seconds; a stdio server or proxy ends when its client closes its stdin. */
async function closeAll(clients: readonly { close(): Promise<void> }[]): Promise<void> {
  await Promise.allSettled(clients.map((client) => Promise.race([client.close(), new Promise((resolve) => setTimeout(resolve, 5_000))])));
}

/** Launch-to-first-answer times in milliseconds: server-everything alone, behind a stdio proxy, and `pqguard connect`. */
async function measureReady(setting: BenchSetting) {
  const kinds = {
    direct: () => timeFirstCall(setting, directStdioParameters()),
    proxy: (run: number) => timeFirstCall(setting, setting.stdioProxyParameters(`ready-stdio-proxy-${run}`)),
    connect: (run: number) => timeConnectFirstCall(setting, run),
  };
  const order = Object.keys(kinds) as (keyof typeof kinds)[];
  const times: Record<keyof typeof kinds, number[]> = { direct: [], proxy: [], connect: [] };
  for (let run = -1; run < SCHEDULE.readyRuns; run++) {
    for (const kind of run % 2 === 0 ? order : [...order].reverse()) {
      const ms = await kinds[kind](run + 1);
      if (run >= 0) times[kind].push(ms);
    }
  }
  return {
    direct_ms: round(median(times.direct)),
    proxy_total_ms: round(median(times.proxy)),
    connect_total_ms: round(median(times.connect)),
    // Paired per run: the proxy's launch less the server's own, timed the same way just before or after.
    proxy_ms: round(median(times.proxy.map((ms, i) => ms - times.direct[i]!))),
    // The proxy and its upstream are already up when `pqguard connect` starts: nothing of the server's start to subtract.
    connect_ms: round(median(times.connect)),
    runs: SCHEDULE.readyRuns,
  };
}

/** The value after FLAG on the command line. */
function option(flag: string): string | undefined {
  const at = process.argv.indexOf(flag);
  return at === -1 ? undefined : process.argv[at + 1];
}

/** `node` flags for the pqguard processes: a CPU profile of each into DIR when PQGUARD_BENCH_CPU_PROF=DIR is set. */
function profileFlags(): string[] {
  const dir = process.env["PQGUARD_BENCH_CPU_PROF"];
  const extra = (process.env["PQGUARD_BENCH_NODE_FLAGS"] ?? "").split(" ").filter((flag) => flag !== "");
  return dir === undefined || dir === "" ? extra : [...extra, "--cpu-prof", "--cpu-prof-dir", dir];
}

export async function run({ json }: { json: boolean }): Promise<void> {
  try {
    readFileSync(PQGUARD);
  } catch {
    process.stderr.write("error PQG0001: bench proxy runs the built CLI (dist/bin/pqguard.js): run `npm run build` first\n");
    process.exit(2);
  }
  // `--sessionless`: only the comparison of revision 2026-07-28 without a session with a 2025 session (bench/proxy/sessionless.ts).
  if (process.argv.includes("--sessionless")) return runSessionless({ json });
  // `--client-cost`: the SDK's HTTP client alone, by fetch and by answer format (bench/proxy/client-cost.ts).
  if (process.argv.includes("--client-cost")) return runClientCost({ json });
  // `--only NAME,NAME [--calls N] [--batch N] [--gap MS]`: a quick look at a few paths, one client each (bench/proxy/focus.ts).
  const only = option("--only");
  if (only !== undefined) {
    const calls = Number(option("--calls") ?? 5000);
    return runFocused(only.split(","), { calls, batch: Number(option("--batch") ?? calls), gapMs: Number(option("--gap") ?? 0) }, profileFlags(), json);
  }
  const load = loadavg()[0]!;
  const dir = mkdtempSync(join(tmpdir(), "pqguard-bench-proxy-"));
  let setting: BenchSetting | undefined;
  const cleanUp = async (): Promise<void> => {
    await setting?.group.stopAll();
    setting?.logs.closeAll();
    rmSync(dir, { recursive: true, force: true });
  };
  const interrupted = (): void => void cleanUp().finally(() => process.exit(130));
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);
  try {
    setting = await BenchSetting.create(dir, profileFlags());
    const started = performance.now();
    const ready = await measureReady(setting);
    const batches = await measureCalls(setting);
    const result = report(batches, ready, load, (performance.now() - started) / 1000);
    process.stdout.write(json ? `${JSON.stringify(result)}\n` : `${text(result).join("\n")}\n`);
  } catch (error) {
    process.stderr.write(failedLogs(dir));
    throw error;
  } finally {
    process.off("SIGINT", interrupted);
    process.off("SIGTERM", interrupted);
    await cleanUp();
  }
}

/**
 * The end of every log with an error (pino level 50 or 60, a `PQG` error line, a stack trace), for the message of a
 * failed run: the folder is removed after.
 */
function failedLogs(dir: string): string {
  const parts: string[] = [];
  for (const name of readdirSync(dir).filter((n) => n.endsWith(".log") && !n.endsWith(".audit.log"))) {
    const log = readFileSync(join(dir, name), "utf8");
    if (/"level":[56]0|^error PQG|\n\s+at \S/m.test(log)) parts.push(`--- ${name} (end)\n${log.slice(-1500)}\n`);
  }
  return parts.join("");
}

/** One variant's figures with one client or with 8, and how they compare with its baseline and its floor. */
type VariantEntry = ReturnType<typeof summarise> & {
  p50_to_baseline: number | null;
  calls_per_s_to_baseline: number | null;
  proxy_cpu_to_baseline_server: number | null;
  floor_cpu_us_per_call: number | null;
  proxy_cpu_above_floor_us: number | null;
  first_calls_cpu_us_per_call: number | null;
};

function report(batches: Batches, ready: Awaited<ReturnType<typeof measureReady>>, load: number, seconds: number) {
  const of = (name: VariantName) => batches.get(name)!;
  const variants = Object.fromEntries(
    VARIANTS.map(({ name, baseline, floor }) => {
      const entry = (mode: Mode) => {
        const own = summarise(of(name)[mode], name);
        const serverCpu = baseline === undefined ? null : summarise(of(baseline)[mode], baseline).server_cpu_us_per_call;
        const floorCpu = floor === undefined ? null : summarise(of(floor)[mode], floor).proxy_cpu_us_per_call;
        return {
          ...own,
          p50_to_baseline: baseline === undefined ? null : pairedLatencyRatio(of(name)[mode], of(baseline)[mode]),
          calls_per_s_to_baseline: baseline === undefined ? null : pairedThroughputRatio(of(name)[mode], of(baseline)[mode]),
          // The proxy's CPU per call against the server's own in the baseline of its transport: a machine-independent scale.
          proxy_cpu_to_baseline_server: own.proxy_cpu_us_per_call === null || serverCpu === null ? null : round(own.proxy_cpu_us_per_call / serverCpu, 2),
          // The bare relay's CPU per call on the same path, measured in the same rounds: what relaying costs at all.
          floor_cpu_us_per_call: floorCpu,
          proxy_cpu_above_floor_us: own.proxy_cpu_us_per_call === null || floorCpu === null ? null : round(own.proxy_cpu_us_per_call - floorCpu),
          // A fresh process, before V8 has optimised its call path: the first calls of the first connection.
          first_calls_cpu_us_per_call: mode === "one" ? summarise(of(name).first, name).proxy_cpu_us_per_call : null,
        };
      };
      return [name, { one_client: entry("one"), clients_8: entry("eight") }];
    }),
  ) as Record<VariantName, Record<"one_client" | "clients_8", VariantEntry>>;

  const sealedToMcpProxy = (mode: Mode) => ({
    p50: pairedLatencyRatio(of("http_proxy_sealed")[mode], of("http_mcp_proxy")[mode]),
    calls_per_s: pairedThroughputRatio(of("http_proxy_sealed")[mode], of("http_mcp_proxy")[mode]),
  });
  const vsMcpProxy = { one_client: sealedToMcpProxy("one"), clients_8: sealedToMcpProxy("eight") };
  // The same with one upstream process for every client, as mcp-proxy has.
  const sharedToMcpProxy = (mode: Mode) => ({
    p50: pairedLatencyRatio(of("http_proxy_sealed_shared")[mode], of("http_mcp_proxy")[mode]),
    calls_per_s: pairedThroughputRatio(of("http_proxy_sealed_shared")[mode], of("http_mcp_proxy")[mode]),
  });
  // The bare HTTP relay against mcp-proxy, paired the same way: how far any relay gets on this machine and clients.
  const floorToMcpProxy = (mode: Mode) => ({
    p50: pairedLatencyRatio(of("http_floor")[mode], of("http_mcp_proxy")[mode]),
    calls_per_s: pairedThroughputRatio(of("http_floor")[mode], of("http_mcp_proxy")[mode]),
  });
  const stdioAdded = pairedLatencyDifference(of("stdio_proxy").one, of("stdio_direct").one);
  const cpu = variants.stdio_proxy.one_client.proxy_cpu_us_per_call!;
  const sealedCpu = variants.http_proxy_sealed.one_client.proxy_cpu_us_per_call!;
  const target = (value: number, limit: number, atMost: boolean) => ({ value, limit, met: atMost ? value <= limit : value >= limit });

  return {
    node: process.version,
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    load_1m: round(load),
    seconds: round(seconds, 1),
    schedule: SCHEDULE,
    variants,
    // One client over stdio: the proxy's round trip less the server's own, paired per round.
    stdio_added_us: stdioAdded,
    // The proxy process's CPU time per forwarded call, one client: plain over stdio, and sealed over HTTP.
    cpu_us_per_call: cpu,
    sealed_cpu_us_per_call: sealedCpu,
    // Their floors, measured in the same rounds: a bare relay over stdio, and a bare Streamable HTTP → stdio relay.
    cpu_floor_us_per_call: variants.stdio_proxy.one_client.floor_cpu_us_per_call,
    sealed_cpu_floor_us_per_call: variants.http_proxy_sealed.one_client.floor_cpu_us_per_call,
    // The same over a fresh process's first calls, before the measured rounds.
    first_calls_cpu_us_per_call: variants.stdio_proxy.one_client.first_calls_cpu_us_per_call,
    first_calls_sealed_cpu_us_per_call: variants.http_proxy_sealed.one_client.first_calls_cpu_us_per_call,
    connect_cpu_us_per_call: variants.host_path.one_client.connect_cpu_us_per_call,
    // Sealed + guarded + audited pqguard proxy against mcp-proxy's plain forwarding, paired per round.
    http_sealed_to_mcp_proxy: vsMcpProxy,
    http_sealed_shared_to_mcp_proxy: { one_client: sharedToMcpProxy("one"), clients_8: sharedToMcpProxy("eight") },
    http_floor_to_mcp_proxy: { one_client: floorToMcpProxy("one"), clients_8: floorToMcpProxy("eight") },
    ready_ms: { proxy: ready.proxy_ms, connect: ready.connect_ms },
    ready,
    targets: {
      stdio_added_us: target(stdioAdded, TARGETS.stdio_added_us, true),
      cpu_us_per_call: target(cpu, TARGETS.cpu_us_per_call, true),
      sealed_cpu_us_per_call: target(sealedCpu, TARGETS.sealed_cpu_us_per_call, true),
      http_sealed_p50_to_mcp_proxy: target(vsMcpProxy.one_client.p50, TARGETS.http_sealed_p50_to_mcp_proxy, true),
      http_sealed_calls_per_s_to_mcp_proxy: target(vsMcpProxy.clients_8.calls_per_s, TARGETS.http_sealed_calls_per_s_to_mcp_proxy, false),
      ready_proxy_ms: target(ready.proxy_ms, TARGETS.ready_proxy_ms, true),
      ready_connect_ms: target(ready.connect_ms, TARGETS.ready_connect_ms, true),
    },
  };
}

type Result = ReturnType<typeof report>;

function text(result: Result): string[] {
  const num = (value: number | null, width: number, digits = 0): string => (value === null ? "—" : value.toFixed(digits)).padStart(width);
  const ratio = (value: number | null): string => (value === null ? "" : `${value.toFixed(2)}x`).padStart(7);
  const cells = (entry: Result["variants"][VariantName]["one_client"]): string =>
    `${num(entry.p50_us, 8)}${num(entry.p99_us, 8)}${ratio(entry.p50_to_baseline)}${num(entry.calls_per_s, 8)}${num(entry.proxy_cpu_us_per_call ?? entry.server_cpu_us_per_call, 7)}${num(entry.floor_cpu_us_per_call, 7)}${num(entry.client_cpu_us_per_call, 7)}`;
  const row = ({ name, label }: VariantInfo): string => {
    const v = result.variants[name];
    const connect = name === "host_path" ? `   connect's own CPU: ${v.one_client.connect_cpu_us_per_call} / ${v.clients_8.connect_cpu_us_per_call} µs per call` : "";
    return `  ${label.padEnd(56)}${cells(v.one_client)}  │${cells(v.clients_8)}${connect}`;
  };
  const heading = `${"p50 µs".padStart(8)}${"p99 µs".padStart(8)}${"p50 ×".padStart(7)}${"calls/s".padStart(8)}${"CPU µs".padStart(7)}${"floor".padStart(7)}${"client".padStart(7)}`;
  const s = result.schedule;
  const t = result.targets;
  const line = (label: string, entry: { value: number; limit: number; met: boolean }, unit: string, atMost = true, note = ""): string =>
    `  ${label.padEnd(62)}${entry.value}${unit}, target ${atMost ? "<=" : ">="} ${entry.limit}${unit}: ${entry.met ? "met" : "NOT met"}${note}`;
  const serverScale = (name: VariantName): string => {
    const entry = result.variants[name].one_client;
    const server = entry.proxy_cpu_to_baseline_server === null ? "" : `; ${entry.proxy_cpu_to_baseline_server}x the server's own CPU per call in the baseline`;
    const first = entry.first_calls_cpu_us_per_call === null ? "" : `; ${entry.first_calls_cpu_us_per_call} µs over a fresh process's first ${result.schedule.firstCalls} calls`;
    return entry.floor_cpu_us_per_call === null ? "" : `  (floor: a bare relay ${entry.floor_cpu_us_per_call} µs${server}${first})`;
  };
  return [
    `proxy: tools/call echo on server-everything, ${result.node}, ${result.cpu}, ${result.cores} cores, load ${result.load_1m}, ${result.seconds} s`,
    `  after ${s.warmupOneClient} warm-up calls on the first connection and ${s.warmupPerClient} on each, ${s.rounds} interleaved rounds; one client: ${s.rounds * s.oneClientCalls} sequential calls; ${s.clients} clients: ${s.rounds * s.clients * s.callsPerClient} calls, ${s.clients} at a time`,
    "  p50 × is the paired ratio to the baseline of its transport; CPU µs is the proxy process's CPU time per call",
    "  (its threads' run time from /proc), for a baseline the server's own; floor is the bare relay's on the same path, in the",
    "  same rounds; client is the benchmark's own process (the SDK clients) per call",
    `  ${"".padEnd(56)}${"one client".padEnd(52)}  │${s.clients} clients`,
    `  ${"".padEnd(56)}${heading}  │${heading}`,
    ...VARIANTS.map(row),
    `  sealed pqguard proxy / mcp-proxy: p50 ${result.http_sealed_to_mcp_proxy.one_client.p50}x (one client), ${result.http_sealed_to_mcp_proxy.clients_8.p50}x (${s.clients}); calls/s ${result.http_sealed_to_mcp_proxy.one_client.calls_per_s}x, ${result.http_sealed_to_mcp_proxy.clients_8.calls_per_s}x`,
    `  sealed pqguard proxy with one upstream (as mcp-proxy) / mcp-proxy: p50 ${result.http_sealed_shared_to_mcp_proxy.one_client.p50}x (one client), ${result.http_sealed_shared_to_mcp_proxy.clients_8.p50}x (${s.clients}); calls/s ${result.http_sealed_shared_to_mcp_proxy.one_client.calls_per_s}x, ${result.http_sealed_shared_to_mcp_proxy.clients_8.calls_per_s}x`,
    `  bare HTTP relay (floor) / mcp-proxy: p50 ${result.http_floor_to_mcp_proxy.one_client.p50}x (one client), ${result.http_floor_to_mcp_proxy.clients_8.p50}x (${s.clients}); calls/s ${result.http_floor_to_mcp_proxy.one_client.calls_per_s}x, ${result.http_floor_to_mcp_proxy.clients_8.calls_per_s}x`,
    `  start-up to the first answered call, median of ${result.ready.runs}: server-everything ${result.ready.direct_ms} ms, behind pqguard proxy ${result.ready.proxy_total_ms} ms; pqguard connect to a ready sealed proxy ${result.ready.connect_total_ms} ms`,
    "targets:",
    line("one client over stdio, the proxy adds (p50)", t.stdio_added_us, " µs"),
    line("proxy CPU per plain forwarded call (stdio, one client)", t.cpu_us_per_call, " µs", true, serverScale("stdio_proxy")),
    line("proxy CPU per sealed forwarded call (HTTP, one client)", t.sealed_cpu_us_per_call, " µs", true, serverScale("http_proxy_sealed")),
    line("HTTP sealed+guarded+audited p50 / mcp-proxy's (one client)", t.http_sealed_p50_to_mcp_proxy, "x"),
    line(`HTTP sealed calls/s / mcp-proxy's (${s.clients} clients)`, t.http_sealed_calls_per_s_to_mcp_proxy, "x", false),
    line("pqguard proxy ready, less the server's own start", t.ready_proxy_ms, " ms"),
    line("pqguard connect ready (sealed)", t.ready_connect_ms, " ms"),
  ];
}

function round(value: number, digits = 1): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
