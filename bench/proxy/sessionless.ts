// `npm run bench -- proxy --sessionless`: what a tools/call of revision 2026-07-28 without a session costs through the
// plain HTTP listener of `pqguard proxy`, against the same client in a 2025 session (`initialize`, Mcp-Session-Id), both
// SDK v2 clients of one proxy in front of one SDK v2 server that speaks both, rounds interleaved in one run.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { echoTools } from "../../test/enforce/fixtures-v2.js";
import { median } from "../echo.js";
import { LogFiles, ProcessGroup, totalCpuMicros, waitForLine } from "./children.js";

const SCHEDULE = {
  /** A proxy's CPU per call falls 3–5× over its first 2,000–4,000 calls as V8 optimises it (bench/proxy.ts). */
  warmup: 4_000,
  rounds: 10,
  /** Sequential calls of one client, per round and variant. */
  calls: 200,
} as const;

const V2_ECHO_SERVER = fileURLToPath(new URL("../../test/proxy/fixtures/v2-echo-server.ts", import.meta.url));
const PQGUARD = fileURLToPath(new URL("../../dist/bin/pqguard.js", import.meta.url));
const POLICY = `policy bench version 1
manifest "echo.tools.json"

permit tool echo
`;
const CALL = { name: "echo", arguments: { text: "bench" } } as const;

type Variant = "session" | "sessionless";

interface Batch {
  readonly latenciesUs: number[];
  readonly proxyCpuUs: number;
}

async function batch(client: Client, pid: number, calls: number): Promise<Batch> {
  const latenciesUs: number[] = [];
  const before = totalCpuMicros([pid]);
  for (let i = 0; i < calls; i++) {
    const sent = performance.now();
    await client.callTool(CALL);
    latenciesUs.push((performance.now() - sent) * 1000);
  }
  return { latenciesUs, proxyCpuUs: totalCpuMicros([pid]) - before };
}

const round = (value: number, digits = 0): number => Number(value.toFixed(digits));

export async function runSessionless({ json }: { json: boolean }): Promise<void> {
  readFileSync(PQGUARD);
  const load = loadavg()[0]!;
  const dir = mkdtempSync(join(tmpdir(), "pqguard-bench-sessionless-"));
  const group = new ProcessGroup();
  const logs = new LogFiles(dir);
  const clients: Client[] = [];
  try {
    writeFileSync(join(dir, "echo.tools.json"), JSON.stringify({ tools: (await echoTools()).filter((tool) => tool.name === "echo") }, null, 2));
    writeFileSync(join(dir, "bench.policy"), POLICY);
    // tsx by its path: the proxy runs in the temporary folder, from which the package would not resolve.
    const upstream = [process.execPath, "--import", fileURLToPath(import.meta.resolve("tsx")), V2_ECHO_SERVER].map((word) => `"${word}"`).join(" ");
    const { fd } = logs.open("proxy");
    const child = group.spawnNode([PQGUARD, "proxy", "--policy", "bench.policy", "--upstream", upstream, "--listen", "http://127.0.0.1:0/mcp", "--audit", "audit.log"], { cwd: dir, stdout: "pipe", logFd: fd });
    const [, url] = await waitForLine(child, /listening on (\S+) \(plain MCP\)/, "pqguard proxy");
    const connect = async (variant: Variant): Promise<Client> => {
      const client = new Client({ name: variant, version: "1" }, variant === "sessionless" ? { versionNegotiation: { mode: { pin: "2026-07-28" } } } : {});
      await client.connect(new StreamableHTTPClientTransport(new URL(url!)));
      clients.push(client);
      return client;
    };
    const variants: Record<Variant, Client> = { session: await connect("session"), sessionless: await connect("sessionless") };
    for (const client of Object.values(variants)) await batch(client, child.pid!, SCHEDULE.warmup);
    const batches: Record<Variant, Batch[]> = { session: [], sessionless: [] };
    for (let r = 0; r < SCHEDULE.rounds; r++) {
      // Alternating order: neither variant always runs on a warmer (or busier) machine.
      const order: Variant[] = r % 2 === 0 ? ["session", "sessionless"] : ["sessionless", "session"];
      for (const variant of order) batches[variant].push(await batch(variants[variant], child.pid!, SCHEDULE.calls));
    }
    const summary = (variant: Variant) => ({
      p50_us: round(median(batches[variant].flatMap((b) => b.latenciesUs))),
      proxy_cpu_us_per_call: round(batches[variant].reduce((sum, b) => sum + b.proxyCpuUs, 0) / (SCHEDULE.rounds * SCHEDULE.calls)),
    });
    const paired = round(median(batches.sessionless.map((b, i) => median(b.latenciesUs) / median(batches.session[i]!.latenciesUs))), 3);
    const result = {
      node: process.version,
      cpu: cpus()[0]?.model ?? "unknown",
      cores: cpus().length,
      load_1m: round(load, 2),
      schedule: SCHEDULE,
      session: summary("session"),
      sessionless: summary("sessionless"),
      sessionless_p50_to_session: paired,
    };
    process.stdout.write(
      json
        ? `${JSON.stringify(result)}\n`
        : [
            `proxy, plain HTTP listener, SDK v2 client → pqguard proxy → SDK v2 echo server (stdio); ${SCHEDULE.rounds} rounds × ${SCHEDULE.calls} calls, load ${result.load_1m}`,
            `  2025 session (initialize):       p50 ${result.session.p50_us} µs, proxy CPU ${result.session.proxy_cpu_us_per_call} µs/call`,
            `  2026-07-28 without a session:    p50 ${result.sessionless.p50_us} µs, proxy CPU ${result.sessionless.proxy_cpu_us_per_call} µs/call`,
            `  sessionless p50 / session p50 (paired per round): ${paired}`,
          ].join("\n") + "\n",
    );
  } finally {
    await Promise.allSettled(clients.map((client) => client.close()));
    await group.stopAll();
    logs.closeAll();
    rmSync(dir, { recursive: true, force: true });
  }
}
