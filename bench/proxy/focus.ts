// `npm run bench -- proxy --only NAME,NAME [--calls N] [--batch N] [--gap MS]`: a quick look at a few of the proxy
// benchmark's paths, for work on one of them: each variant with one client, warmed up (4,000 calls), then batches of
// sequential echo calls taking turns, each after an idle gap, timed with the CPU time its proxy (and `pqguard connect`)
// processes spent, and the proxy's CPU by the call's place in its batch (the first call, calls 1–4, 5–19, 20–49, the
// rest) with its minor page faults per batch: what an idle gap leaves behind, and for how many calls. Not the benchmark
// of record: no 8 clients, no start-up times.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { median } from "../echo.js";
import { totalCpuMicros } from "./children.js";
import { BenchSetting, ECHO, startVariant, type RunningVariant, type VariantName } from "./variants.js";

const NAMES: readonly VariantName[] = ["stdio_direct", "stdio_floor", "stdio_proxy", "host_path", "http_direct", "http_floor", "http_mcp_proxy", "http_proxy_plain", "http_proxy_sealed", "http_proxy_sealed_shared"];

export interface FocusOptions {
  /** Timed calls per variant, in batches of `batch`. */
  readonly calls: number;
  readonly batch: number;
  /** Idle milliseconds before each batch: what a proxy between a host's calls goes through (V8 ages its code). */
  readonly gapMs: number;
}

/** Where a batch is cut for the CPU by place: calls [0, 1), [1, 5), [5, 20), [20, 50) and [50, the batch's end). */
const PLACES = [0, 1, 5, 20, 50] as const;

/** Minor page faults of a process so far, from /proc/PID/stat (field 10). */
function minorFaults(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[10 - 3]);
}

export async function runFocused(names: readonly string[], options: FocusOptions, nodeFlags: readonly string[], json: boolean): Promise<void> {
  for (const name of names) {
    if (!(NAMES as readonly string[]).includes(name)) throw new Error(`bench proxy --only: unknown variant \`${name}\`; choose from ${NAMES.join(", ")}`);
  }
  const dir = mkdtempSync(join(tmpdir(), "pqguard-bench-focus-"));
  const setting = await BenchSetting.create(dir, nodeFlags);
  const running: RunningVariant[] = [];
  try {
    for (const name of names as readonly VariantName[]) running.push(await startVariant(setting, name, 1));
    for (const { connections } of running) for (let i = 0; i < 4000; i++) await connections[0]!.client.callTool(ECHO);
    const totals = running.map(() => ({ latencies: [] as number[], proxyUs: 0, connectUs: 0, byPlace: PLACES.map(() => ({ us: 0, calls: 0 })), faults: 0, batches: 0 }));
    for (let done = 0; done < options.calls; done += options.batch) {
      for (const [index, { connections }] of running.entries()) {
        if (options.gapMs > 0) await new Promise((resolve) => setTimeout(resolve, options.gapMs));
        const { client, proxyPid, connectPid } = connections[0]!;
        const into = totals[index]!;
        const proxyBefore = proxyPid === undefined ? 0 : totalCpuMicros([proxyPid]);
        const connectBefore = connectPid === undefined ? 0 : totalCpuMicros([connectPid]);
        const faultsBefore = proxyPid === undefined ? 0 : minorFaults(proxyPid);
        let placeFrom = proxyBefore;
        const size = Math.min(options.batch, options.calls - done);
        for (let i = 0; i < size; i++) {
          const start = performance.now();
          await client.callTool(ECHO);
          into.latencies.push((performance.now() - start) * 1000);
          // The proxy's CPU up to the end of each place (read between calls, so the reads cost the proxy nothing).
          const place = PLACES.findLastIndex((from) => from <= i);
          if (proxyPid !== undefined && (i + 1 === size || PLACES[place + 1] === i + 1)) {
            const now = totalCpuMicros([proxyPid]);
            into.byPlace[place]!.us += now - placeFrom;
            into.byPlace[place]!.calls += i + 1 - PLACES[place]!;
            placeFrom = now;
          }
        }
        if (proxyPid !== undefined) {
          into.proxyUs += totalCpuMicros([proxyPid]) - proxyBefore;
          into.faults += minorFaults(proxyPid) - faultsBefore;
        }
        if (connectPid !== undefined) into.connectUs += totalCpuMicros([connectPid]) - connectBefore;
        into.batches++;
      }
    }
    const results = Object.fromEntries(
      running.map(({ name, connections }, index) => {
        const { latencies, proxyUs, connectUs, byPlace, faults, batches } = totals[index]!;
        const perCall = (us: number): number => Math.round((us / latencies.length) * 10) / 10;
        const proxied = connections[0]!.proxyPid !== undefined;
        const places = Object.fromEntries(
          byPlace
            .map((p, i) => [`${PLACES[i]}-${PLACES[i + 1] === undefined ? "end" : PLACES[i + 1]! - 1}`, p] as const)
            .filter(([, p]) => p.calls > 0)
            .map(([label, p]) => [label, Math.round(p.us / p.calls)]),
        );
        return [
          name,
          {
            p50_us: Math.round(median(latencies)),
            proxy_cpu_us_per_call: proxied ? perCall(proxyUs) : null,
            connect_cpu_us_per_call: connections[0]!.connectPid === undefined ? null : perCall(connectUs),
            proxy_cpu_us_by_place: proxied ? places : null,
            proxy_minor_faults_per_batch: proxied ? Math.round(faults / batches) : null,
          },
        ];
      }),
    );
    process.stdout.write(json ? `${JSON.stringify({ ...options, variants: results })}\n` : Object.entries(results).map(([name, r]) => `${name}: ${JSON.stringify(r)}\n`).join(""));
  } finally {
    await Promise.allSettled(running.flatMap((v) => v.connections.map((c) => c.client.close())));
    await setting.group.stopAll();
    setting.logs.closeAll();
    rmSync(dir, { recursive: true, force: true });
  }
}
