// Enforcement benchmark: a guarded tools/call round trip (guard, call history, hash-chained audit line to a temp file)
// against the plain SDK over InMemoryTransport, plus the sealed+guarded variant over the post-quantum transport,
// all measured in the same run and interleaved in rounds so that every variant sees the same machine state.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { AuditLog, silentLogger } from "../runtime/audit/index.js";
import { resolveSuiteConfig, signature } from "../runtime/crypto/registry.js";
import { enforce, type EnforceOptions } from "../runtime/enforce/index.js";
import type { Decision, GuardContext, GuardModule, GuardRequest } from "../runtime/guard/types.js";
import { fingerprint } from "../runtime/identity/index.js";
import { toolDigest } from "../runtime/manifest/digest.js";
import { ServerCredentials } from "../runtime/session/certificate.js";
import type { SessionInfo } from "../runtime/session/facts.js";
import { MemoryStateStore } from "../runtime/state/index.js";
import { PqcClientTransport, PqcServerTransport } from "../runtime/transport/index.js";
import { connectClient, echoServer, median, sample, type TransportWrap } from "./echo.js";

const ROUNDS = 10;
const CALLS_PER_ROUND = 500;
const WARMUP_CALLS = 1000;
const TARGET_RATIO = 1.6;

/**
 * What the compiler emits for `identity { require client.authenticated }`, `transport { require transport.level >= 3 }`,
 * `permit tool echo when len(args.text) < 1000` and `limit tool echo to 1000000 per 1h per client`.
 */
function benchGuard(toolDigests: Record<string, string>): GuardModule {
  const deny = (determining: string[], reason: string): Decision => ({ decision: "deny", determining, reason, explain: [] });
  return {
    policyName: "bench",
    policyDigest: "b".repeat(64),
    toolDigests,
    guard(request: GuardRequest, context: GuardContext): Decision {
      if (!context.client.authenticated) return deny(["bench.policy:2"], "identity requirement `client.authenticated` failed");
      if (!(context.transport.level >= 3)) return deny(["bench.policy:3"], "transport requirement `transport.level >= 3` failed");
      if (request.tool !== "echo") return deny([], `no rule permits \`${request.tool}\``);
      if (context.history.count(["echo"], context.now - 3_600_000, "client") >= 1_000_000) {
        return deny(["bench.policy:6"], "rate limit of 1000000 calls per 1h per client exceeded");
      }
      const text = request.args.text;
      if (typeof text === "string" && text.length < 1000) {
        return { decision: "allow", determining: ["bench.policy:5"], reason: "permitted by rule `bench.policy:5`", explain: [] };
      }
      return deny([], "no rule permits `echo`");
    },
  };
}

const FAKE_SESSION: SessionInfo = {
  sessionId: "bench-session",
  suite: { kem: "X25519MLKEM768", signature: "ML-DSA-65", aead: "AES-256-GCM", hybrid: true, level: 3 },
  peerFingerprint: "mldsa65:bench-server",
  peerLabel: undefined,
  client: { fingerprint: "mldsa65:bench-client", claims: { id: "bench" } },
  establishedAt: Date.now(),
  rekeys: 0,
};

function connected(options: { guard?: GuardModule; enforce?: EnforceOptions; wrap?: TransportWrap } = {}): Promise<Client> {
  const server = echoServer();
  if (options.guard !== undefined) enforce(server, options.guard, options.enforce ?? {});
  return connectClient(server, options.wrap);
}

export async function run({ json }: { json: boolean }): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "pqguard-bench-enforce-"));
  try {
    await measure(json, dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function measure(json: boolean, dir: string): Promise<void> {
  const probe = await connected();
  const { tools } = await probe.listTools();
  await probe.close();
  const guard = benchGuard(Object.fromEntries(tools.map((t) => [t.name, toolDigest(t as Record<string, unknown>)])));

  const suites = resolveSuiteConfig();
  const scheme = signature(suites.signature[0]!);
  const serverPair = scheme.keygen();
  const credentials = new ServerCredentials({ identity: { algorithm: scheme.name, publicKey: serverPair.publicKey, secretKey: serverPair.secretKey } });
  const trust = { serverFingerprints: [fingerprint(scheme.name, serverPair.publicKey)] };
  const sealed: TransportWrap = (c, s) => [
    new PqcClientTransport(c, { trust, suites }),
    new PqcServerTransport(s, { credentials, suites }),
  ];

  const guardedAudit = await AuditLog.open(join(dir, "guarded.jsonl"));
  const sealedAudit = await AuditLog.open(join(dir, "sealed-guarded.jsonl"));
  const common = { logger: silentLogger(), store: new MemoryStateStore() };
  const variants = {
    plain: await connected(),
    guarded: await connected({ guard, enforce: { ...common, audit: guardedAudit, session: () => FAKE_SESSION } }),
    sealed: await connected({ wrap: sealed }),
    // Server-authenticated only: the bench client has no certificate, so this guard variant skips the identity rule.
    sealed_guarded: await connected({
      guard: { ...guard, guard: (r, c) => guard.guard(r, { ...c, client: { ...c.client, authenticated: true } }) },
      enforce: { ...common, store: new MemoryStateStore(), audit: sealedAudit },
      wrap: sealed,
    }),
  };
  const samples = Object.fromEntries(Object.keys(variants).map((k) => [k, [] as number[]])) as Record<keyof typeof variants, number[]>;
  for (const client of Object.values(variants)) await sample(client, WARMUP_CALLS, []);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, client] of Object.entries(variants)) await sample(client, CALLS_PER_ROUND, samples[name as keyof typeof variants]);
  }
  for (const client of Object.values(variants)) await client.close();
  await guardedAudit.close();
  await sealedAudit.close();

  const plainUs = median(samples.plain);
  const guardedUs = median(samples.guarded);
  const sealedUs = median(samples.sealed);
  const sealedGuardedUs = median(samples.sealed_guarded);
  const result = {
    guarded_us: round(guardedUs),
    plain_us: round(plainUs),
    ratio: round(guardedUs / plainUs),
    sealed_us: round(sealedUs),
    sealed_guarded_us: round(sealedGuardedUs),
    sealed_guarded_ratio: round(sealedGuardedUs / plainUs),
    guard_overhead_us: round(guardedUs - plainUs),
    target_ratio: TARGET_RATIO,
    aead: suites.aead[0],
    node: process.version,
    calls: ROUNDS * CALLS_PER_ROUND,
  };
  if (json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const lines = [
    `enforce: tools/call round trip over InMemoryTransport, median of ${result.calls} calls per variant (Node ${result.node})`,
    `  plain SDK                 ${result.plain_us.toFixed(1)} µs`,
    `  guarded + audit           ${result.guarded_us.toFixed(1)} µs  (${result.ratio}x plain; target ≤ ${TARGET_RATIO}x)`,
    `  sealed (${result.aead})   ${result.sealed_us.toFixed(1)} µs  (${round(sealedUs / plainUs)}x plain)`,
    `  sealed + guarded + audit  ${result.sealed_guarded_us.toFixed(1)} µs  (${result.sealed_guarded_ratio}x plain)`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
