// Metrics benchmark: what counting costs per decision and per handshake. Each figure is measured against its baseline
// in the same run: a decision point and a handshake that report to real prom-client metrics, against the same with a
// metrics object whose recording methods do nothing (before the hooks), interleaved in rounds; and the recording calls
// alone against an empty call.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { silentLogger } from "../runtime/audit/index.js";
import { DecisionPoint, type CallToDecide } from "../runtime/enforce/index.js";
import type { Decision, GuardModule } from "../runtime/guard/types.js";
import { PqguardMetrics, type HandshakeFailure, type Side } from "../runtime/metrics/index.js";
import type { SessionInfo } from "../runtime/session/facts.js";
import { MemoryStateStore } from "../runtime/state/index.js";
import { ServerCredentials } from "../runtime/session/certificate.js";
import { signature } from "../runtime/crypto/registry.js";
import { PqcClientTransport, PqcServerTransport } from "../runtime/transport/index.js";
import { fingerprint } from "../runtime/identity/index.js";
import { echoServer } from "./echo.js";

/** The hooks' baseline: the same object shape, recording nothing. */
class SilentMetrics extends PqguardMetrics {
  override decision(): void {}
  override handshakeCompleted(): void {}
  override handshakeFailed(_failure: HandshakeFailure): void {}
  override sessionOpened(_side: Side): void {}
  override sessionClosed(_side: Side): void {}
  override rekey(_side: Side): void {}
}

const allow: Decision = { decision: "allow", determining: ["bench.policy:5"], reason: "permitted", explain: [] };
const guard: GuardModule = { policyName: "bench", policyDigest: "b".repeat(64), toolDigests: {}, guard: () => allow };
const SESSION: SessionInfo = {
  sessionId: "bench",
  suite: { kem: "X25519MLKEM768", signature: "ML-DSA-65", aead: "AES-256-GCM", hybrid: true, level: 3 },
  peerFingerprint: "mldsa65:bench",
  peerLabel: undefined,
  client: { fingerprint: "mldsa65:client", claims: {} },
  establishedAt: Date.now(),
  rekeys: 0,
};
const CALL: CallToDecide = {
  tool: "echo",
  args: { text: "hello" },
  session: { sessionId: "bench", establishedAt: SESSION.establishedAt, sealed: true, info: SESSION },
  pin: () => ({ ok: true }),
  approve: undefined,
};

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** ns per call of `body`, median over rounds. */
function nsPerCall(body: () => void, calls: number, rounds: number): number {
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) body();
    samples.push(Number(process.hrtime.bigint() - start) / calls);
  }
  return median(samples);
}

async function decisionMicros(point: DecisionPoint, calls: number): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) await point.decide(CALL);
  return Number(process.hrtime.bigint() - start) / calls / 1000;
}

async function handshakeMillis(metrics: PqguardMetrics, credentials: ServerCredentials, trusted: string, count: number): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    const [a, b] = InMemoryTransport.createLinkedPair();
    const server = new PqcServerTransport(b, { credentials, metrics });
    const client = new PqcClientTransport(a, { trust: { serverFingerprints: [trusted] }, metrics });
    const mcp = new Client({ name: "bench", version: "1" });
    await Promise.all([echoServer().connect(server), mcp.connect(client)]);
    await mcp.close();
  }
  return Number(process.hrtime.bigint() - start) / count / 1e6;
}

export async function run(options: { json: boolean }): Promise<void> {
  const real = new PqguardMetrics();
  const silent = new SilentMetrics();
  const noop = (): void => undefined;
  const rules = ["bench.policy:5"];
  const recordDecision = nsPerCall(() => real.decision("bench", rules, "allow", ""), 200_000, 15);
  const emptyCall = nsPerCall(() => noop(), 200_000, 15);
  const suite = SESSION.suite;
  const recordHandshake = nsPerCall(
    () => {
      real.handshakeCompleted("server", suite, 0.001);
      real.sessionOpened("server");
      real.sessionClosed("server");
    },
    100_000,
    15,
  );

  // A second silent point is the A/A control: the difference between the two silent ones is the noise of the machine.
  const point = (metrics: PqguardMetrics) => new DecisionPoint(guard, "server", { logger: silentLogger(), store: new MemoryStateStore(), metrics }, "m".repeat(64));
  const points = { real: point(real), silent: point(silent), control: point(new SilentMetrics()) };
  const decide = { real: [] as number[], silent: [] as number[], control: [] as number[] };
  const order = ["real", "silent", "control"] as const;
  for (const which of order) await decisionMicros(points[which], 20_000);
  for (let round = 0; round < 30; round++) {
    for (let k = 0; k < order.length; k++) {
      const which = order[(round + k) % order.length]!;
      decide[which].push(await decisionMicros(points[which], 5_000));
    }
  }

  const pair = signature("ML-DSA-65").keygen();
  const identity = { algorithm: "ML-DSA-65", publicKey: pair.publicKey, secretKey: pair.secretKey };
  const credentials = new ServerCredentials({ identity });
  const trusted = fingerprint("ML-DSA-65", pair.publicKey);
  const shake = { real: [] as number[], silent: [] as number[], control: [] as number[] };
  const shakeMetrics = { real, silent, control: new SilentMetrics() };
  for (const which of order) await handshakeMillis(shakeMetrics[which], credentials, trusted, 10);
  for (let round = 0; round < 12; round++) {
    for (let k = 0; k < order.length; k++) {
      const which = order[(round + k) % order.length]!;
      shake[which].push(await handshakeMillis(shakeMetrics[which], credentials, trusted, 20));
    }
  }

  const result = {
    recordDecisionNs: recordDecision,
    emptyCallNs: emptyCall,
    recordHandshakeNs: recordHandshake,
    decisionMicros: {
      withMetrics: median(decide.real),
      withoutMetrics: median(decide.silent),
      control: median(decide.control),
      ratio: median(decide.real) / median(decide.silent),
      controlRatio: median(decide.control) / median(decide.silent),
    },
    handshakeMillis: {
      withMetrics: median(shake.real),
      withoutMetrics: median(shake.silent),
      control: median(shake.control),
      ratio: median(shake.real) / median(shake.silent),
      controlRatio: median(shake.control) / median(shake.silent),
    },
  };
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ bench: "metrics", ...result })}\n`);
    return;
  }
  const f = (n: number, digits = 2) => n.toFixed(digits);
  process.stdout.write(
    [
      "metrics: cost of counting (medians; baseline in the same run)",
      `  record one decision                 ${f(recordDecision, 0)} ns   (empty call ${f(emptyCall, 1)} ns)`,
      `  record one handshake + open + close ${f(recordHandshake, 0)} ns`,
      `  DecisionPoint.decide                ${f(result.decisionMicros.withMetrics)} µs with metrics, ${f(result.decisionMicros.withoutMetrics)} µs without (×${f(result.decisionMicros.ratio, 3)}; A/A control ×${f(result.decisionMicros.controlRatio, 3)})`,
      `  sealed handshake (in memory)        ${f(result.handshakeMillis.withMetrics)} ms with metrics, ${f(result.handshakeMillis.withoutMetrics)} ms without (×${f(result.handshakeMillis.ratio, 3)}; A/A control ×${f(result.handshakeMillis.controlRatio, 3)})`,
      "",
    ].join("\n"),
  );
}
