// `npm run bench -- proxy --only NAME,NAME [--calls N] [--batch N] [--gap MS]`: a quick look at a few of the proxy
// benchmark's paths, for work on one of them: each variant with one client, warmed up (4,000 calls), then batches of
// sequential echo calls taking turns, each after an idle gap, timed with the CPU time its proxy (and `pqguard connect`)
// processes spent. Not the benchmark of record: no 8 clients, no start-up times.
import { mkdtempSync, rmSync } from "node:fs";
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
    const totals = running.map(() => ({ latencies: [] as number[], proxyUs: 0, connectUs: 0 }));
    for (let done = 0; done < options.calls; done += options.batch) {
      for (const [index, { connections }] of running.entries()) {
        if (options.gapMs > 0) await new Promise((resolve) => setTimeout(resolve, options.gapMs));
        const { client, proxyPid, connectPid } = connections[0]!;
        const proxyBefore = proxyPid === undefined ? 0 : totalCpuMicros([proxyPid]);
        const connectBefore = connectPid === undefined ? 0 : totalCpuMicros([connectPid]);
        for (let i = 0; i < Math.min(options.batch, options.calls - done); i++) {
          const start = performance.now();
          await client.callTool(ECHO);
          totals[index]!.latencies.push((performance.now() - start) * 1000);
        }
        if (proxyPid !== undefined) totals[index]!.proxyUs += totalCpuMicros([proxyPid]) - proxyBefore;
        if (connectPid !== undefined) totals[index]!.connectUs += totalCpuMicros([connectPid]) - connectBefore;
      }
    }
    const results = Object.fromEntries(
      running.map(({ name, connections }, index) => {
        const { latencies, proxyUs, connectUs } = totals[index]!;
        const perCall = (us: number): number => Math.round((us / latencies.length) * 10) / 10;
        return [name, { p50_us: Math.round(median(latencies)), proxy_cpu_us_per_call: connections[0]!.proxyPid === undefined ? null : perCall(proxyUs), connect_cpu_us_per_call: connections[0]!.connectPid === undefined ? null : perCall(connectUs) }];
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
